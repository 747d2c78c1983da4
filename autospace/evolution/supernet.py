"""The K-cell supernet (Eqn. 3), its weight bank, expected MAdds and the compute constraint.

Every searchable layer holds its sampled cells in parallel (each built at the layer's position
with its own identity shortcut where one applies); fixed blocks, stem and head are as in the
backbone. Weights persist across generations in a bank: ``shared`` (stem, fixed blocks, head,
classifier) and, per layer, one entry per cell id holding the cell's weights and SGD momentum.
A cell sampled again continues from its banked weights. A cell with no entry starts from a
seeded initialisation (MobileNetV2's, seeded by the run seed, the layer and the cell id, so it
does not depend on the order of events); with ``mutant_init: parent`` a mutant then copies
every tensor of its parent's banked weights whose name and shape match its own.
"""

from __future__ import annotations

import hashlib

import torch
from torch import nn

from ..backbone import Backbone
from ..builder import build_block, build_cell, conv_bn, init_weights, make_activation
from ..cells import Cell
from ..counter import cell_cost, network_cost
from ..spec import block_positions


def mixing_weights(alpha: torch.Tensor, mode: str) -> torch.Tensor:
    """Eqn. 3's mixing weights: ``softmax(alpha)`` (default) or element-wise ``sigmoid(alpha)``."""
    return torch.softmax(alpha, dim=0) if mode == "softmax" else torch.sigmoid(alpha)


def mixed_output(x: torch.Tensor, paths: nn.ModuleList, weights: torch.Tensor) -> torch.Tensor:
    """Eqn. 3: ``y = sum_k w_k * cell_k(x)``, the layer output as the weighted sum of its cells."""
    y = weights[0] * paths[0](x)
    for k in range(1, len(paths)):
        y = y + weights[k] * paths[k](x)
    return y


def derived_seed(seed: int, *parts) -> int:
    """A 63-bit seed from the run seed and any labels (stable across processes)."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def seeded_cell_module(cell: Cell, pos, seed: int, layer: int) -> nn.Module:
    """A cell at a layer's position with a seeded initialisation (global RNG untouched)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derived_seed(seed, "cell", layer, cell.id))
        module = build_cell(cell, pos.cin, pos.cout, pos.stride)
        init_weights(module)
    return module


class Supernet(nn.Module):
    """stem -> blocks (fixed, or a layer of parallel cells) -> head -> pool -> dropout -> linear."""

    def __init__(self, backbone: Backbone, cells: list[list[Cell]], seed: int):
        super().__init__()
        spec = backbone.skeleton
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(derived_seed(seed, "shared"))
            stem_width = spec.scaled(spec.stem.width)
            self.stem = nn.Sequential(conv_bn(spec.in_channels, stem_width, spec.stem.kernel, spec.stem.stride),
                                      make_activation(spec.stem.activation))
            positions = block_positions(spec)
            blocks = [b for stage in spec.stages for b in stage.blocks]
            self.fixed = nn.ModuleDict({str(i): build_block(b, p.cin, p.cout, p.stride)
                                        for i, (b, p) in enumerate(zip(blocks, positions))
                                        if i not in backbone.searchable})
            self.head = nn.Sequential(conv_bn(positions[-1].cout, spec.head_width, 1),
                                      make_activation(spec.head.activation))
            self.dropout = nn.Dropout(spec.head.dropout)
            self.classifier = nn.Linear(spec.head_width, spec.num_classes)
            init_weights(self)
        self.order = [(i, backbone.searchable.index(i) if i in backbone.searchable else None)
                      for i in range(len(positions))]
        self.cells = [list(c) for c in cells]
        self.layers = nn.ModuleList(nn.ModuleList(seeded_cell_module(c, pos, seed, l) for c in layer_cells)
                                    for l, (pos, layer_cells) in enumerate(zip(backbone.layers, cells)))

    def forward(self, x: torch.Tensor, weights: list[torch.Tensor] | None = None,
                active: list[int] | None = None) -> torch.Tensor:
        """With ``weights`` (one vector per layer) every cell runs, mixed by Eqn. 3; with
        ``active`` (one index per layer) only that cell runs (single-path warm-up)."""
        x = self.stem(x)
        for index, layer in self.order:
            if layer is None:
                x = self.fixed[str(index)](x)
            elif active is not None:
                x = self.layers[layer][active[layer]](x)
            else:
                x = mixed_output(x, self.layers[layer], weights[layer])
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(self.head(x), 1), 1)
        return self.classifier(self.dropout(x))

    def shared_parameters(self) -> dict[str, nn.Parameter]:
        return {n: p for n, p in self.named_parameters() if not n.startswith("layers.")}

    def shared_state(self) -> dict[str, torch.Tensor]:
        return {n: t for n, t in self.state_dict().items() if not n.startswith("layers.")}


def cell_costs(backbone: Backbone, cells: list[list[Cell]]) -> list[torch.Tensor]:
    """Per layer, the MAdds of each of its cells at the layer's position (float64 tensor)."""
    return [torch.tensor([float(cell_cost(c, p.cin, p.cout, p.stride, p.resolution).madds) for c in layer],
                         dtype=torch.float64) for p, layer in zip(backbone.layers, cells)]


def fixed_madds(backbone: Backbone) -> int:
    """MAdds of everything outside the searchable layers (stem, fixed blocks, head, classifier)."""
    ref = backbone.reference_network()
    blocks = [b for stage in ref.stages for b in stage.blocks]
    positions = block_positions(ref)
    searchable = sum(cell_cost(blocks[i], positions[i].cin, positions[i].cout, positions[i].stride,
                               positions[i].resolution).madds for i in backbone.searchable)
    return network_cost(ref).madds - searchable


def expected_madds(weights: list[torch.Tensor], costs: list[torch.Tensor]) -> torch.Tensor:
    """E[MAdds] = sum over layers of the mixing-weighted MAdds of the layer's cells (differentiable)."""
    return sum((w.double() * c.to(w.device)).sum() for w, c in zip(weights, costs))


def constraint_loss(expected_network_madds: torch.Tensor, budget: int | None, mode: str,
                    lam: float) -> torch.Tensor:
    """The compute term added to Eqn. 4's loss, with E = the network's expected MAdds (fixed part
    plus E[MAdds]) and T the budget: ``hinge``: lambda * max(0, E / T - 1); ``log``:
    lambda * log(E / T) (pressure at any cost, relative); ``none``: 0."""
    if mode == "none" or budget is None:
        return expected_network_madds.new_zeros(())
    ratio = expected_network_madds / budget
    term = torch.clamp(ratio - 1, min=0) if mode == "hinge" else torch.log(ratio)
    return lam * term
