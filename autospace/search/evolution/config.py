"""The search configuration: every open decision of the method (doc section 4) as a key.

``SearchConfig.from_dict`` takes ``{seed, device, backbone, cell_space, evolution}``; missing
keys take the defaults below, unknown keys, wrong types and out-of-range values raise
:class:`SpecError` naming the key (``evolution.tournament_size``). ``to_dict`` gives the fully
resolved values, which every step records in its output folder as ``config.json``.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

from ...arch.backbone import Backbone, get_backbone
from ...arch.cells import Cell, CellSpace, parse_cell, reference_cell
from ...arch.counter import madds_budget
from ...errors import SpecError
from ...options import Option, check_step_config, read_options
from ...sections import Settings

DEVICES = ("auto", "cpu", "cuda")


def _reference_strings(value, field: str = "evolution.reference_cell") -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise SpecError(field, "expected a cell string or a non-empty list of them", value)
    cells = []
    for k, text in enumerate(values):
        try:
            cells.append(parse_cell(text))
        except SpecError as err:
            raise err.within(f"{field}[{k}]") from None
    if len({c.id for c in cells}) != len(cells):
        raise SpecError(field, "the same cell is listed twice", values)
    return [str(c) for c in cells]


POPULATION = "evolution.population_size"
#: Eqn. 5's rules (autospace/search/evolution/fitness.py); ``ema`` is the first default, biased by the
#: sampling count, kept as a switch for the ablation.
FITNESS_RULES = ("ema_debiased", "ema", "copy", "mean", "random")
#: What Eqn. 5 scores: ``raw`` the mixing weight, ``relative`` the weight over the reference
#: cells' (mean) weight in the same mixture.
FITNESS_WEIGHTS = ("raw", "relative")

#: The ``evolution`` section: each key's default, type, range and relations.
OPTIONS = {
    "population_size": Option(16, int, low=1),                         # P
    "tournament_size": Option(4, int, low=1, at_most=POPULATION),      # S
    # p_mut: half of the K draws are mutants, half re-sample a tournament winner as it is, so
    # a good cell's fitness keeps being re-measured (p_mut = 1 would never re-score a winner)
    # while every generation still adds about K/2 new cells per layer (p_mut = 0 never explores).
    "mutation_prob": Option(0.5, float, low=0, high=1),
    "sample_size": Option(4, int, low=1, at_most=POPULATION),          # K cells sampled per layer and generation
    # regularised evolution: the oldest leave
    "population_update": Option("aging", str, choices=("aging", "remove_worst")),
    # a mutant's weights: copied from its parent where shapes match
    "mutant_init": Option("parent", str, choices=("parent", "fresh")),
    "mixing": Option("softmax", str, choices=("softmax", "sigmoid")),  # Eqn. 3
    "update": Option("alternating", str, choices=("alternating", "joint")),  # Eqn. 4, first order
    "fitness_rule": Option("ema_debiased", str, choices=FITNESS_RULES),  # Eqn. 5
    # the score Eqn. 5 averages: the mixing weight, or the weight over the reference's in the mixture
    "fitness_weight": Option("raw", str, choices=FITNESS_WEIGHTS,
                             needs=(("relative", "evolution.reference", "candidate"),)),
    "ema_beta": Option(0.5, float, low=0, high=1, high_open=True),
    "reference": Option("candidate", str, choices=("candidate", "seed", "none")),
    "reference_cell": Option([str(reference_cell())], list, parse=_reference_strings,
                             schema={"type": ["string", "array"], "items": {"type": "string"}, "minItems": 1}),
    "constraint": {
        "mode": Option("hinge", str, choices=("hinge", "log", "none")),
        "budget_madds": Option(None, int, low=1, nullable=True),
        "budget_ratio": Option(1.0, float, low=0, low_open=True, nullable=True),
        "lambda": Option(1.0, float, low=0),
    },
    "generations": Option(4, int, low=1),
    "epochs_per_generation": Option(1, int, low=1),
    "warmup": {
        "epochs": Option(1, int, low=0),
        "cells": Option("population", str, choices=("population", "reference")),
    },
    "batch_size": Option(64, int, low=1),
    "weight_lr": Option(0.05, float, low=0, low_open=True),
    "weight_momentum": Option(0.9, float, low=0, high=1, high_open=True),
    "weight_decay": Option(4e-5, float, low=0),
    "alpha_lr": Option(0.01, float, low=0, low_open=True),
    "alpha_weight_decay": Option(0.0, float, low=0),
    # evolved cells per layer in the learned space (the reference cells are added)
    "export_top_k": Option(6, int, low=1, at_most=POPULATION),
    # resumable state of warm-up and generations (0: none)
    "checkpoint_every_steps": Option(50, int, low=0),
    # a progress line in the job's log every N steps (0: none)
    "log_every_steps": Option(20, int, low=0),
    # autocast of the supernet's forward passes, CUDA only
    "amp": Option("bf16", str, choices=("bf16", "none")),
    # channels-last model and inputs, every device (2-3x faster depthwise convolutions on CPU)
    "channels_last": Option(True, bool),
}


@dataclass(frozen=True)
class SearchConfig:
    """A validated search configuration (see the module docstring)."""

    seed: int
    device: str
    backbone_value: object
    backbone: Backbone
    cell_space: CellSpace
    evolution: dict
    distributed: dict

    @classmethod
    def from_dict(cls, data: dict) -> "SearchConfig":
        seed = check_step_config(data, ("seed", "device", "backbone", "cell_space", "evolution", "distributed"))
        settings = Settings.from_config(data)
        device = data.get("device", "auto")
        if device not in DEVICES:
            raise SpecError("device", f"expected one of {list(DEVICES)}", device)
        backbone_value = copy.deepcopy(data.get("backbone", "fmnist_small"))
        backbone = get_backbone(backbone_value)
        raw_space = data.get("cell_space", {})
        if not isinstance(raw_space, dict):
            raise SpecError("cell_space", "expected an object", raw_space)
        try:
            space = CellSpace.from_dict(raw_space)
        except (SpecError, TypeError) as err:
            raise (err.within("cell_space") if isinstance(err, SpecError)
                   else SpecError("cell_space", str(err))) from None
        raw_evo = data.get("evolution", {})
        constraint = raw_evo.get("constraint") if isinstance(raw_evo, dict) else None
        if isinstance(constraint, dict) and constraint.get("budget_madds") is not None \
                and "budget_ratio" not in constraint:  # an absolute budget replaces the default ratio
            raw_evo = {**raw_evo, "constraint": {**constraint, "budget_ratio": None}}
        evo = read_options(raw_evo, "evolution", OPTIONS)
        _check_budget(evo)
        return cls(seed, device, backbone_value, backbone, space, evo, asdict(settings))

    def to_dict(self) -> dict:
        return {"seed": self.seed, "device": self.device, "backbone": copy.deepcopy(self.backbone_value),
                "cell_space": self.cell_space.to_dict(), "evolution": copy.deepcopy(self.evolution)}

    def __getitem__(self, key: str):
        return self.evolution[key]

    @property
    def reference_cells(self) -> list[Cell]:
        return [parse_cell(s) for s in self.evolution["reference_cell"]]

    def budget_madds(self) -> int | None:
        """The constraint's target T in network MAdds (``None`` when the constraint is off)."""
        c = self.evolution["constraint"]
        if c["mode"] == "none":
            return None
        return madds_budget(self.backbone.reference_network(self.reference_cells[0]),
                            c["budget_madds"], c["budget_ratio"])


def _check_budget(evo: dict) -> None:
    c = evo["constraint"]
    if c["mode"] != "none" and (c["budget_madds"] is None) == (c["budget_ratio"] is None):
        raise SpecError("evolution.constraint.budget_madds",
                        "give exactly one of budget_madds and budget_ratio (set the other to null)",
                        [c["budget_madds"], c["budget_ratio"]])
