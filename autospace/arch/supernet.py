"""The one supernet: the backbone's network with a :class:`MixedLayer` in every searchable layer.

It serves both algorithms. Evolution holds its K sampled cells (plus the reference) in each
layer and mixes them with external weights from its own alphas (Eqn. 3), or runs one path per
layer in the single-path warm-up. NAS holds the space's choices and gives each layer its own
logits, mixed by their softmax (DARTS) or run through binary gates (ProxylessNAS).

Initialisation is seeded by parts, so it depends on neither the global RNG nor the order of
events: the shared parts (stem, fixed blocks, head, classifier) from ``(seed, "shared")``, each
path from ``(seed, "cell", layer, id)`` (MobileNetV2's initialisation). One expected-MAdds
function and one constraint term serve both algorithms' losses.
"""

from __future__ import annotations

import torch
from torch import nn

from ..runtime import derived_seed
from .backbone import Backbone
from .builder import Network, build_block, init_weights
from .counter import block_cost, network_cost
from .spec import Block, Skip

ZERO_ID = "zero"


def choice_id(block: Block) -> str:
    """A path's id: the cell's, or ``zero`` for the skipped layer (``Skip``)."""
    return ZERO_ID if isinstance(block, Skip) else block.id


def mixing_weights(alpha: torch.Tensor, mode: str) -> torch.Tensor:
    """Eqn. 3's mixing weights: ``softmax(alpha)`` (default) or element-wise ``sigmoid(alpha)``."""
    return torch.softmax(alpha, dim=0) if mode == "softmax" else torch.sigmoid(alpha)


def mixed_output(x: torch.Tensor, paths, weights: torch.Tensor) -> torch.Tensor:
    """Eqn. 3: ``y = sum_k w_k * path_k(x)``, the layer output as the weighted sum of its paths."""
    y = weights[0] * paths[0](x)
    for k in range(1, len(paths)):
        y = y + weights[k] * paths[k](x)
    return y


class MixedLayer(nn.Module):
    """One searchable layer: its paths (blocks built at the layer's position, each with its own
    identity shortcut where one applies) and, with ``logits``, its architecture logits ``alpha``.

    The mode is set before a forward pass: ``active = None`` mixes every path by ``weights``
    (given from outside) or else by the softmax of ``alpha`` (Eqn. 3); ``active = [j]`` runs
    path j alone; ``active = [j, k, ...]`` with ``gates`` (a one-hot tensor that requires grad)
    gives ``sum(gates[i] * path_active[i](x))``, so ``gates.grad`` holds dL/dg for the
    ProxylessNAS estimate.
    """

    def __init__(self, paths: list[nn.Module], logits: bool = False):
        super().__init__()
        self.ops = nn.ModuleList(paths)
        self.alpha = nn.Parameter(torch.zeros(len(paths))) if logits else None
        self.weights: torch.Tensor | None = None
        self.active: list[int] | None = None
        self.gates: torch.Tensor | None = None

    def probs(self) -> torch.Tensor:
        return torch.softmax(self.alpha, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.active is None:
            return mixed_output(x, self.ops, self.probs() if self.weights is None else self.weights)
        if self.gates is None:
            return self.ops[self.active[0]](x)
        return mixed_output(x, [self.ops[j] for j in self.active], self.gates)


def seeded_path(block: Block, pos, seed: int, layer: int) -> nn.Module:
    """A block at a layer's position, initialised from ``(seed, "cell", layer, id)`` (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(seed, "cell", layer, choice_id(block)))
        module = build_block(block, pos.cin, pos.cout, pos.stride)
        init_weights(module)
    return module


class Supernet(Network):
    """The backbone's network with ``choices[l]`` as the paths of searchable layer l (``mixed``
    lists the layers); ``logits``: each layer learns its own architecture logits (NAS)."""

    def __init__(self, backbone: Backbone, choices: list[list[Block]], seed: int, logits: bool = False):
        choices = [list(c) for c in choices]
        slots = {index: (lambda l=l, pos=pos: MixedLayer([seeded_path(b, pos, seed, l) for b in choices[l]], logits))
                 for l, (index, pos) in enumerate(zip(backbone.searchable, backbone.layers))}
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(seed, "shared"))
            super().__init__(backbone.skeleton, slots)
        self.choices = choices
        self.mixed = [self.blocks[index] for index in backbone.searchable]
        self._mixed_names = tuple(f"blocks.{index}." for index in backbone.searchable)

    def forward(self, x: torch.Tensor, weights: list[torch.Tensor] | None = None,
                active: list[int] | None = None) -> torch.Tensor:
        """With ``weights`` (one vector per layer) every path runs, mixed by Eqn. 3; with ``active``
        (one index per layer) that path alone runs (single-path warm-up); with neither, each
        layer runs in the mode set on it (NAS)."""
        if weights is not None or active is not None:
            for l, m in enumerate(self.mixed):
                m.weights = None if weights is None else weights[l]
                m.active = None if active is None else [active[l]]
                m.gates = None
        return super().forward(x)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [m.alpha for m in self.mixed if m.alpha is not None]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def shared_parameters(self) -> dict[str, nn.Parameter]:
        """Everything outside the mixed layers (stem, fixed blocks, head, classifier), by name."""
        return {n: p for n, p in self.named_parameters() if not n.startswith(self._mixed_names)}

    def shared_state(self) -> dict[str, torch.Tensor]:
        return {n: t for n, t in self.state_dict().items() if not n.startswith(self._mixed_names)}


def fixed_madds(backbone: Backbone) -> int:
    """MAdds of everything outside the searchable layers (stem, fixed blocks, head, classifier)."""
    ref = backbone.reference_network()
    blocks = [b for stage in ref.stages for b in stage.blocks]
    return network_cost(ref).madds - sum(block_cost(blocks[i], p.cin, p.cout, p.stride, p.resolution).madds
                                         for i, p in zip(backbone.searchable, backbone.layers))


def layer_costs(backbone: Backbone, choices: list[list[Block]]) -> list[list[int]]:
    """Per searchable layer, the MAdds of each choice at the layer's position."""
    return [[block_cost(b, p.cin, p.cout, p.stride, p.resolution).madds for b in layer]
            for layer, p in zip(choices, backbone.layers)]


def expected_madds(weights: list[torch.Tensor], costs: list[torch.Tensor], fixed: int = 0) -> torch.Tensor:
    """The network's expected MAdds, ``fixed + sum_l sum_k w_lk * MAdds_lk``: each layer's choices
    weighted by their mixing weights or probabilities (differentiable in them; float64)."""
    return fixed + sum((w.double() * c.to(w.device)).sum() for w, c in zip(weights, costs))


def constraint_loss(expected_network_madds: torch.Tensor, budget: int | None, mode: str, lam: float,
                    band: float = 0.0) -> torch.Tensor:
    """The compute term of the search losses, for the expected MAdds E and budget T.

    ``hinge``: ``lam * (max(0, E/T - 1) + max(0, band - E/T))``: the hard-budget hinge
    (evolution's Eqn. 4 term; ProxylessNAS's resource term, which the paper's NAS step uses,
    section 3.3) plus, for ``band > 0``, a push back up into [band T, T] so that spaces are
    compared at equal MAdds (NAS's ``madds_band``; our choice, docs/method.md); ``log``:
    ``lam * log(E/T)`` (pressure at any cost, relative); ``none``: 0."""
    if mode == "none" or budget is None:
        return expected_network_madds.new_zeros(())
    ratio = expected_network_madds / budget
    if mode == "log":
        return lam * torch.log(ratio)
    term = torch.clamp(ratio - 1, min=0)
    if band > 0:
        term = term + torch.clamp(band - ratio, min=0)
    return lam * term
