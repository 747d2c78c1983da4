"""The ``nas`` config section."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ...arch.backbone import Backbone
from ...arch.counter import madds_budget
from ...errors import SpecError
from ...options import Option, read_options

ALGORITHMS = ("proxyless", "darts", "random")

OPTIONS = {
    "algorithm": Option("proxyless", str, choices=ALGORITHMS),
    "budget_madds": Option(None, int, low=1, nullable=True),
    "budget_ratio": Option(None, float, low=0, high=10, low_open=True, nullable=True),
    "epochs": Option(3, int, low=1),
    "warmup_epochs": Option(1, int, low=0, below="nas.epochs", unless=("nas.algorithm", "random")),
    "batch_size": Option(64, int, low=1),
    "weight_lr": Option(0.05, float, low=0, low_open=True),
    "weight_momentum": Option(0.9, float, low=0, high=1),
    "weight_decay": Option(4e-5, float, low=0),
    "arch_lr": Option(6e-3, float, low=0, low_open=True),
    "arch_weight_decay": Option(0.0, float, low=0),
    "penalty_weight": Option(1.0, float, low=0),
    "madds_band": Option(0.9, float, low=0, high=1, high_open=True),
    "arch_paths": Option(2, int, low=1),
    "include_zero": Option(True, bool),
    "random_trials": Option(100, int, low=1),
    "amp": Option("bf16", str, choices=("bf16", "none")),
    "channels_last": Option(True, bool),
    "checkpoint_every_steps": Option(50, int, low=0),
    "log_every_steps": Option(20, int, low=0),
}


@dataclass(frozen=True)
class NASConfig:
    """NAS settings (method doc section 4, 'downstream NAS').

    ``algorithm``: ``proxyless`` (binarised paths, ProxylessNAS gradient), ``darts`` (softmax
    relaxation, first order) or ``random`` (uniform sampling under the budget). The budget is
    ``budget_madds``, or ``budget_ratio`` times the backbone's reference network MAdds (default
    1.0). ``warmup_epochs`` train weights only; ``arch_paths`` is how many paths per layer the
    ProxylessNAS estimate samples for an architecture step (2 as in ProxylessNAS; >= the number
    of choices uses all); ``penalty_weight`` scales the band penalty
    (:func:`autospace.arch.supernet.constraint_loss` with ``band``); ``madds_band``: the found network's MAdds should
    land in [madds_band x budget, budget], so that spaces are compared at (nearly) equal cost
    (issue #16; 0: only below the budget, the plain hinge);
    ``include_zero`` adds the zero op (skip) on layers that can be skipped; ``random_trials``
    bounds the rejection sampling of ``random``; ``amp``: bf16 autocast on CUDA, ``none``:
    float32; ``channels_last``: channels-last model and inputs (every device);
    ``checkpoint_every_steps``: the resumable state every that many steps (0: none);
    ``log_every_steps``: a progress line every that many steps.
    """

    algorithm: str
    budget_madds: int | None
    budget_ratio: float | None
    epochs: int
    warmup_epochs: int
    batch_size: int
    weight_lr: float
    weight_momentum: float
    weight_decay: float
    arch_lr: float
    arch_weight_decay: float
    penalty_weight: float
    madds_band: float
    arch_paths: int
    include_zero: bool
    random_trials: int
    amp: str
    channels_last: bool
    checkpoint_every_steps: int
    log_every_steps: int

    @classmethod
    def from_dict(cls, data) -> "NASConfig":
        values = read_options(data, "nas", OPTIONS)
        if values["budget_madds"] is not None and values["budget_ratio"] is not None:
            raise SpecError("nas.budget_ratio", "give budget_madds or budget_ratio, not both", values["budget_ratio"])
        if values["budget_madds"] is None and values["budget_ratio"] is None:
            values["budget_ratio"] = 1.0
        return cls(**values)

    def to_dict(self) -> dict:
        return asdict(self)

    def budget(self, backbone: Backbone) -> int:
        """The MAdds budget, resolved against ``backbone``'s reference network (default cell)
        by :func:`autospace.arch.counter.madds_budget`."""
        return madds_budget(backbone.reference_network(), self.budget_madds, self.budget_ratio)
