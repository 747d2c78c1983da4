"""Analytic parameter and MAdds counts from a spec, with no forward pass.

Convention (MobileNet / ProxylessNAS / EfficientNet papers): MAdds are the multiply-accumulates
of convolutions and linear layers only; BatchNorm is folded into the conv, and activations,
pooling, element-wise sums and SE gating are not counted. Parameters are every trainable
tensor, BatchNorm's affine weights and biases included (as ``sum(p.numel())`` counts them).
"""

from __future__ import annotations

from typing import NamedTuple

from .cells import EDGE_OPS, Cell, full_resolution_nodes, node_widths
from .spec import ArchSpec, MBConv, Skip, block_positions, conv_out, se_squeeze_width


class Cost(NamedTuple):
    params: int
    madds: int

    def __add__(self, other):  # type: ignore[override]
        return Cost(self.params + other[0], self.madds + other[1])


ZERO = Cost(0, 0)


def conv_bn_cost(cin: int, cout: int, kernel: int, out_res: int, groups: int = 1) -> Cost:
    """Conv without bias + BatchNorm: weights k*k*cin/groups*cout, 2*cout BN params."""
    weights = cin // groups * kernel * kernel * cout
    return Cost(weights + 2 * cout, weights * out_res * out_res)


def se_cost(channels: int, squeeze: int) -> Cost:
    """SE: two 1x1 convs with bias on a 1x1 map."""
    return Cost(2 * channels * squeeze + squeeze + channels, 2 * channels * squeeze)


def edge_cost(op: str, cin: int, cout: int, out_res: int) -> Cost:
    kernel = EDGE_OPS[op]
    if kernel == 1:
        return conv_bn_cost(cin, cout, 1, out_res)
    cost = conv_bn_cost(cin, cin, kernel, out_res, groups=cin)
    return cost if cin == cout else cost + conv_bn_cost(cin, cout, 1, out_res)


def cell_cost(cell: Cell, cin: int, cout: int, stride: int, resolution: int) -> Cost:
    """Params and MAdds of ``cell`` as a block with input ``cin`` x ``resolution``^2, output ``cout``."""
    widths = node_widths(cell, cin, cout)
    full = full_resolution_nodes(cell)
    reduced = conv_out(resolution, 3, stride)
    total = ZERO
    inputs = [0] * cell.nodes
    for j, i, op in cell.edges:
        total = total + edge_cost(op, widths[j], widths[i], resolution if full[i] else reduced)
        inputs[i] += 1
    for i in range(2, cell.nodes):
        if inputs[i] > 1 and cell.merge_of(i) == "concat":
            total = total + conv_bn_cost(inputs[i] * widths[i], widths[i], 1, resolution if full[i] else reduced)
    if cell.attention == "se":
        total = total + se_cost(widths[cell.nodes - 2], se_squeeze_width(cin))
    return total


def mbconv_cost(block: MBConv, cin: int, cout: int, stride: int, resolution: int) -> Cost:
    hidden = int(round(cin * block.expansion))
    out_res = conv_out(resolution, block.kernel, stride)
    total = conv_bn_cost(cin, hidden, 1, resolution) if hidden != cin else ZERO
    total = total + conv_bn_cost(hidden, hidden, block.kernel, out_res, groups=hidden)
    if block.se:
        total = total + se_cost(hidden, se_squeeze_width(cin))
    return total + conv_bn_cost(hidden, cout, 1, out_res)


def block_cost(block, cin: int, cout: int, stride: int, resolution: int) -> Cost:
    if isinstance(block, Skip):
        return ZERO
    if isinstance(block, Cell):
        return cell_cost(block, cin, cout, stride, resolution)
    return mbconv_cost(block, cin, cout, stride, resolution)


def network_cost(spec: ArchSpec) -> Cost:
    """Params and MAdds of the whole network built from ``spec``."""
    stem_width = spec.scaled(spec.stem.width)
    res = conv_out(spec.resolution, spec.stem.kernel, spec.stem.stride)
    total = conv_bn_cost(spec.in_channels, stem_width, spec.stem.kernel, res)
    positions = block_positions(spec)
    blocks = [b for stage in spec.stages for b in stage.blocks]
    for block, pos in zip(blocks, positions):
        total = total + block_cost(block, pos.cin, pos.cout, pos.stride, pos.resolution)
    last = positions[-1]
    head_res = conv_out(last.resolution, 3, last.stride)
    total = total + conv_bn_cost(last.cout, spec.head_width, 1, head_res)
    linear = spec.head_width * spec.num_classes
    return total + Cost(linear + spec.num_classes, linear)


def madds_budget(reference: ArchSpec, budget_madds: int | None, budget_ratio: float | None) -> int:
    """The MAdds budget (the compute constraint's target T in the search, and the NAS budget): ``budget_madds`` when
    given, else ``budget_ratio`` (default 1.0) times the MAdds of ``reference`` (the backbone's
    reference network, :meth:`autospace.arch.backbone.Backbone.reference_network`), rounded to the
    nearest integer and at least 1. The one resolver of evolution, NAS, the workflow and the audit."""
    if budget_madds is not None:
        return budget_madds
    ratio = 1.0 if budget_ratio is None else budget_ratio
    return max(1, round(ratio * network_cost(reference).madds))
