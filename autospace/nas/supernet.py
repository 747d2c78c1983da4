"""The over-parameterised network: every searchable layer is a mixed op over its choices."""

from __future__ import annotations

import torch
from torch import nn

from ..builder import Network, build_block, init_weights
from ..counter import block_cost, network_cost
from ..space import SearchSpace
from ..spec import Block, Skip

ZERO_ID = "zero"


def layer_choices(space: SearchSpace, include_zero: bool = True) -> list[list[Block]]:
    """Per searchable layer: the space's candidate cells, plus the zero op (``Skip``) where the
    layer can be skipped and ``include_zero`` is set."""
    return [[c.cell for c in cands] + ([Skip()] if include_zero and pos.can_skip else [])
            for cands, pos in zip(space.layers, space.backbone.layers)]


def choice_id(block: Block) -> str:
    return ZERO_ID if isinstance(block, Skip) else block.id


def choice_costs(space: SearchSpace, choices: list[list[Block]]) -> tuple[int, list[list[int]]]:
    """(MAdds outside the searchable layers, MAdds of every choice of every layer)."""
    costs = [[block_cost(b, p.cin, p.cout, p.stride, p.resolution).madds for b in layer]
             for layer, p in zip(choices, space.backbone.layers)]
    first = network_cost(space.backbone.fill([layer[0] for layer in choices])).madds
    return first - sum(layer[0] for layer in costs), costs


class MixedLayer(nn.Module):
    """One searchable layer: its choices as blocks and their architecture logits ``alpha``.

    Modes, set before each forward pass: ``active = None`` is the softmax mixture (DARTS);
    ``active = [j]`` runs path j alone; ``active = [j, k, ...]`` with ``gates`` (a one-hot
    tensor that requires grad) gives ``sum(gates[i] * path_active[i](x))``, so ``gates.grad``
    holds dL/dg for the ProxylessNAS estimate.
    """

    def __init__(self, choices: list[Block], cin: int, cout: int, stride: int):
        super().__init__()
        self.ops = nn.ModuleList(build_block(b, cin, cout, stride) for b in choices)
        self.alpha = nn.Parameter(torch.zeros(len(choices)))
        self.active: list[int] | None = None
        self.gates: torch.Tensor | None = None

    def probs(self) -> torch.Tensor:
        return torch.softmax(self.alpha, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.active is None:
            weights = self.probs()
            return sum(w * op(x) for w, op in zip(weights, self.ops))
        if self.gates is None:
            return self.ops[self.active[0]](x)
        return sum(g * self.ops[j](x) for g, j in zip(self.gates, self.active))


class SuperNet(nn.Module):
    """The backbone with a :class:`MixedLayer` in each searchable layer."""

    def __init__(self, space: SearchSpace, choices: list[list[Block]]):
        super().__init__()
        self.net = Network(space.backbone.skeleton)
        self.mixed = []
        for index, layer, pos in zip(space.backbone.searchable, choices, space.backbone.layers):
            mixed = MixedLayer(layer, pos.cin, pos.cout, pos.stride)
            init_weights(mixed)
            self.net.blocks[index] = mixed
            self.mixed.append(mixed)
        self.fixed_madds, costs = choice_costs(space, choices)
        for k, layer_costs in enumerate(costs):
            self.register_buffer(f"costs_{k}", torch.tensor(layer_costs, dtype=torch.float64))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)

    def arch_parameters(self) -> list[nn.Parameter]:
        return [m.alpha for m in self.mixed]

    def weight_parameters(self) -> list[nn.Parameter]:
        arch = {id(p) for p in self.arch_parameters()}
        return [p for p in self.parameters() if id(p) not in arch]

    def expected_madds(self) -> torch.Tensor:
        """E[MAdds] under the softmax of every layer's logits (differentiable in ``alpha``)."""
        total = torch.tensor(float(self.fixed_madds), dtype=torch.float64, device=self.costs_0.device)
        for k, m in enumerate(self.mixed):
            total = total + (m.probs().double() * getattr(self, f"costs_{k}")).sum()
        return total
