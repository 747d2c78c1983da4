"""The one builder: spec (or cell at a position) -> ``torch.nn.Module``."""

from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

from .cells import EDGE_OPS, Cell, full_resolution_nodes, node_widths
from .spec import ArchSpec, MBConv, Skip, block_positions, se_squeeze_width

ACTIVATION_MODULES = {"relu": nn.ReLU, "relu6": nn.ReLU6, "hswish": nn.Hardswish, "swish": nn.SiLU}


def make_activation(name: str) -> nn.Module:
    return ACTIVATION_MODULES[name](inplace=True)


def conv_bn(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> nn.Sequential:
    """Conv (no bias, 'same' padding) followed by BatchNorm."""
    return nn.Sequential(nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
                         nn.BatchNorm2d(cout))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation: global pool, 1x1 reduce, activation, 1x1 expand, sigmoid gate."""

    def __init__(self, channels: int, squeeze: int, activation: str):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.act = make_activation(activation)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.expand(self.act(self.reduce(self.pool(x)))))


def edge_module(op: str, cin: int, cout: int, stride: int) -> nn.Module:
    """One edge operator. A depthwise k x k edge between nodes of unequal width is followed by a
    1x1 conv to the target width (a separable conv)."""
    kernel = EDGE_OPS[op]
    if kernel == 1:
        return conv_bn(cin, cout, 1, stride)
    depthwise = conv_bn(cin, cin, kernel, stride, groups=cin)
    return depthwise if cin == cout else nn.Sequential(depthwise, conv_bn(cin, cout, 1))


class CellBody(nn.Module):
    """A cell at a position: nodes combine their inputs (sum, or concat + 1x1 conv), inner nodes
    apply the activation, SE acts on node ``nodes - 2``, the output node stays linear."""

    def __init__(self, cell: Cell, cin: int, cout: int, stride: int):
        super().__init__()
        self.cell = cell
        widths = node_widths(cell, cin, cout)
        full = full_resolution_nodes(cell)
        self.inputs = [[j for j, _ in cell.inputs(i)] for i in range(cell.nodes)]
        self.edges = nn.ModuleDict()
        for j, i, op in cell.edges:
            edge_stride = stride if full[j] and not full[i] else 1
            self.edges[f"{j}_{i}"] = edge_module(op, widths[j], widths[i], edge_stride)
        self.merges = nn.ModuleDict({
            str(i): conv_bn(len(self.inputs[i]) * widths[i], widths[i], 1)
            for i in range(2, cell.nodes) if len(self.inputs[i]) > 1 and cell.merge_of(i) == "concat"})
        self.acts = nn.ModuleList(make_activation(cell.activation) for _ in range(cell.nodes - 2))
        last = cell.nodes - 2
        self.se = (SqueezeExcite(widths[last], se_squeeze_width(cin), cell.activation)
                   if cell.attention == "se" else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values = [x]
        last = self.cell.nodes - 1
        for i in range(1, self.cell.nodes):
            parts = [self.edges[f"{j}_{i}"](values[j]) for j in self.inputs[i]]
            if str(i) in self.merges:
                y = self.merges[str(i)](torch.cat(parts, dim=1))
            else:
                y = parts[0]
                for part in parts[1:]:
                    y = y + part
            if i < last:
                y = self.acts[i - 1](y)
                if i == last - 1 and self.se is not None:
                    y = self.se(y)
            values.append(y)
        return values[last]


class MBConvBody(nn.Module):
    """Inverted residual body (MobileNetV2 / MnasNet / EfficientNet), without the shortcut."""

    def __init__(self, block: MBConv, cin: int, cout: int, stride: int):
        super().__init__()
        hidden = int(round(cin * block.expansion))
        layers: list[nn.Module] = []
        if hidden != cin:
            layers += [conv_bn(cin, hidden, 1), make_activation(block.activation)]
        layers += [conv_bn(hidden, hidden, block.kernel, stride, groups=hidden), make_activation(block.activation)]
        if block.se:
            layers.append(SqueezeExcite(hidden, se_squeeze_width(cin), block.activation))
        layers.append(conv_bn(hidden, cout, 1))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class Residual(nn.Module):
    """A block body with the identity shortcut (used when stride is 1 and widths match)."""

    def __init__(self, body: nn.Module):
        super().__init__()
        self.body = body

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def build_block(block, cin: int, cout: int, stride: int) -> nn.Module:
    """A block at a position, with the identity shortcut where stride is 1 and widths match."""
    if isinstance(block, Skip):
        return nn.Identity()
    body = CellBody(block, cin, cout, stride) if isinstance(block, Cell) else MBConvBody(block, cin, cout, stride)
    return Residual(body) if stride == 1 and cin == cout else body


class Network(nn.Module):
    """stem -> blocks -> head (1x1 conv) -> global average pool -> dropout -> linear.

    ``slots`` (block index -> a function that makes the module) fills those blocks after the rest
    is built and initialised, so the slots' modules draw nothing from the RNG stream of the rest
    (the supernet's mixed layers, :mod:`autospace.arch.supernet`)."""

    def __init__(self, spec: ArchSpec, slots: Mapping[int, Callable[[], nn.Module]] | None = None):
        super().__init__()
        slots = slots or {}
        self.spec = spec
        stem_width = spec.scaled(spec.stem.width)
        self.stem = nn.Sequential(conv_bn(spec.in_channels, stem_width, spec.stem.kernel, spec.stem.stride),
                                  make_activation(spec.stem.activation))
        positions = block_positions(spec)
        blocks = [b for stage in spec.stages for b in stage.blocks]
        self.blocks = nn.Sequential(*(nn.Identity() if i in slots else build_block(b, p.cin, p.cout, p.stride)
                                      for i, (b, p) in enumerate(zip(blocks, positions))))
        self.head = nn.Sequential(conv_bn(positions[-1].cout, spec.head_width, 1),
                                  make_activation(spec.head.activation))
        self.dropout = nn.Dropout(spec.head.dropout)
        self.classifier = nn.Linear(spec.head_width, spec.num_classes)
        init_weights(self)
        for index, make in slots.items():
            self.blocks[index] = make()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(nn.functional.adaptive_avg_pool2d(self.features(x), 1), 1)
        return self.classifier(self.dropout(x))


def init_weights(module: nn.Module) -> None:
    """MobileNetV2's initialisation: Kaiming (fan-out) convs, unit BN, small normal classifier."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def build_network(spec: ArchSpec) -> Network:
    return Network(spec)


def build_cell(cell: Cell, cin: int, cout: int, stride: int) -> nn.Module:
    """A cell as a block at a position (shortcut included where it applies)."""
    return build_block(cell, cin, cout, stride)
