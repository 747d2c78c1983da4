"""Architecture specs: a whole network as data (JSON), decoded by one builder.

A spec has a stem (k x k conv), stages (width, depth, first stride, and the choice made in each
block: a cell, a standard MBConv, or a skip), and a head (1x1 conv, global pool, classifier).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import SpecError
from .cells import ACTIVATIONS, Cell, cell_from_json

MIN_RESOLUTION, MAX_RESOLUTION = 8, 1024


@dataclass(frozen=True)
class MBConv:
    """Standard inverted residual: [1x1 expand] -> depthwise k x k -> [SE] -> 1x1 project."""

    expansion: float
    kernel: int
    activation: str = "relu6"
    se: bool = False


@dataclass(frozen=True)
class Skip:
    """A skipped block: the identity shortcut alone (ProxylessNAS' ZeroLayer)."""


Block = Cell | MBConv | Skip


@dataclass(frozen=True)
class Stem:
    width: int
    kernel: int = 3
    stride: int = 2
    activation: str = "relu6"


@dataclass(frozen=True)
class Stage:
    width: int
    stride: int
    blocks: tuple[Block, ...]

    @property
    def depth(self) -> int:
        return len(self.blocks)


@dataclass(frozen=True)
class Head:
    width: int
    activation: str = "relu6"
    dropout: float = 0.2


@dataclass(frozen=True)
class ArchSpec:
    name: str
    in_channels: int
    resolution: int
    num_classes: int
    stem: Stem
    stages: tuple[Stage, ...]
    head: Head
    width_mult: float = 1.0

    def __post_init__(self):
        validate_spec(self)

    def scaled(self, width: int) -> int:
        """A stem or stage width under the width multiplier (MobileNetV2's rounding to 8)."""
        return width if self.width_mult == 1.0 else make_divisible(width * self.width_mult, 8)

    @property
    def head_width(self) -> int:
        """Head width: scaled only when the multiplier exceeds 1, as in MobileNetV2."""
        return self.head.width if self.width_mult <= 1.0 else make_divisible(self.head.width * self.width_mult, 8)

    def replace(self, **changes) -> "ArchSpec":
        return dataclasses.replace(self, **changes)

    def with_blocks(self, blocks: list[Block]) -> "ArchSpec":
        """The same skeleton with every block replaced, in network order."""
        if len(blocks) != sum(s.depth for s in self.stages):
            raise SpecError("stages", "wrong number of blocks for this skeleton", len(blocks))
        stages, k = [], 0
        for stage in self.stages:
            stages.append(dataclasses.replace(stage, blocks=tuple(blocks[k:k + stage.depth])))
            k += stage.depth
        return self.replace(stages=tuple(stages))

    def to_json(self) -> dict:
        return {
            "name": self.name,
            "in_channels": self.in_channels,
            "resolution": self.resolution,
            "num_classes": self.num_classes,
            "width_mult": self.width_mult,
            "stem": dataclasses.asdict(self.stem),
            "stages": [{"width": s.width, "depth": s.depth, "stride": s.stride,
                        "blocks": [block_to_json(b) for b in s.blocks]} for s in self.stages],
            "head": dataclasses.asdict(self.head),
        }

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n"


@dataclass(frozen=True)
class BlockPosition:
    """Where a block sits: its index in the network, widths, stride and input resolution."""

    index: int
    stage: int
    depth_index: int
    cin: int
    cout: int
    stride: int
    resolution: int

    @property
    def can_skip(self) -> bool:
        return self.stride == 1 and self.cin == self.cout


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of ``divisor``, never more than 10% down (MobileNetV2)."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def se_squeeze_width(cin: int) -> int:
    """SE bottleneck width: a quarter of the block's input width (EfficientNet)."""
    return max(1, cin // 4)


def conv_out(size: int, kernel: int, stride: int) -> int:
    """Output size of a conv with 'same' padding ``kernel // 2``."""
    return (size + 2 * (kernel // 2) - kernel) // stride + 1


def block_positions(spec: ArchSpec) -> list[BlockPosition]:
    """Every block's position, in network order."""
    cin = spec.scaled(spec.stem.width)
    res = conv_out(spec.resolution, spec.stem.kernel, spec.stem.stride)
    out, index = [], 0
    for s, stage in enumerate(spec.stages):
        cout = spec.scaled(stage.width)
        for d in range(stage.depth):
            stride = stage.stride if d == 0 else 1
            out.append(BlockPosition(index, s, d, cin, cout, stride, res))
            res = conv_out(res, 3, stride)
            cin, index = cout, index + 1
    return out


#: What the data fixes of a network; a split file (``split.json``) holds the data's value of each.
DATA_FIELDS = ("in_channels", "resolution", "num_classes")


def data_fields(spec: ArchSpec) -> dict:
    """The network's values of :data:`DATA_FIELDS`."""
    return {key: getattr(spec, key) for key in DATA_FIELDS}


def check_fits_data(network: dict, data: dict, prefix: str = "", where: str = "the data",
                    source: str | None = None) -> None:
    """Raise SpecError naming ``prefix + field`` for the first of :data:`DATA_FIELDS` that both
    ``network`` and ``data`` (e.g. a split document) give and that differ: a 1-channel network
    on RGB images, or a 10-class head on 3 classes, is refused before it reaches torch."""
    for key in DATA_FIELDS:
        if key in network and key in data and network[key] != data[key]:
            raise SpecError(prefix + key, f"does not match {where} ({data[key]})", network[key], source=source)


def block_to_json(block: Block) -> dict:
    if isinstance(block, Cell):
        return {"type": "cell", "cell": str(block)}
    if isinstance(block, MBConv):
        return {"type": "mbconv", "expansion": block.expansion, "kernel": block.kernel,
                "activation": block.activation, "se": block.se}
    return {"type": "skip"}


def block_from_json(data) -> Block:
    if not isinstance(data, dict):
        raise SpecError("", "a block is a JSON object", data)
    kind = data.get("type")
    keys = {"cell": {"type", "cell"}, "mbconv": {"type", "expansion", "kernel", "activation", "se"},
            "skip": {"type"}}
    if kind not in keys:
        raise SpecError("type", "block type must be cell, mbconv or skip", kind)
    for key in data:
        if key not in keys[kind]:
            raise SpecError(key, f"unknown key for a {kind} block", key)
    if kind == "cell":
        if "cell" not in data:
            raise SpecError("cell", "missing")
        try:
            return cell_from_json(data["cell"])
        except SpecError as err:
            raise err.within("cell") from None
    if kind == "skip":
        return Skip()
    for key in ("expansion", "kernel"):
        if key not in data:
            raise SpecError(key, "missing")
    return MBConv(data["expansion"], data["kernel"], data.get("activation", "relu6"), data.get("se", False))


def _int(value, path: str, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(path, "expected an integer", value)
    if value < low or (high is not None and value > high):
        raise SpecError(path, f"out of range [{low}, {high if high is not None else 'inf'}]", value)
    return value


def _activation(value, path: str) -> str:
    if value not in ACTIVATIONS:
        raise SpecError(path, f"unknown activation, expected one of {list(ACTIVATIONS)}", value)
    return value


def validate_spec(spec: ArchSpec) -> None:
    """Raise :class:`SpecError` naming the first invalid field of ``spec``."""
    if not isinstance(spec.name, str) or not spec.name:
        raise SpecError("name", "expected a non-empty string", spec.name)
    _int(spec.in_channels, "in_channels", 1, 64)
    _int(spec.resolution, "resolution", MIN_RESOLUTION, MAX_RESOLUTION)
    _int(spec.num_classes, "num_classes", 1, 100000)
    wm = spec.width_mult
    if isinstance(wm, bool) or not isinstance(wm, (int, float)) or not 0.1 <= wm <= 4:
        raise SpecError("width_mult", "expected a number in [0.1, 4]", wm)
    _int(spec.stem.width, "stem.width", 1, 4096)
    _int(spec.stem.kernel, "stem.kernel", 1, 11)
    if spec.stem.kernel % 2 == 0:
        raise SpecError("stem.kernel", "kernel sizes must be odd", spec.stem.kernel)
    _int(spec.stem.stride, "stem.stride", 1, 4)
    _activation(spec.stem.activation, "stem.activation")
    if not spec.stages:
        raise SpecError("stages", "a network needs at least one stage", [])
    for s, stage in enumerate(spec.stages):
        _int(stage.width, f"stages[{s}].width", 1, 4096)
        _int(stage.stride, f"stages[{s}].stride", 1, 2)
        if not stage.blocks:
            raise SpecError(f"stages[{s}].depth", "a stage needs at least one block", 0)
    for pos in block_positions(spec):
        path = f"stages[{pos.stage}].blocks[{pos.depth_index}]"
        block = spec.stages[pos.stage].blocks[pos.depth_index]
        if isinstance(block, Skip):
            if not pos.can_skip:
                raise SpecError(path, "a skip needs stride 1 and equal input and output widths",
                                f"{pos.cin}->{pos.cout} stride {pos.stride}")
        elif isinstance(block, MBConv):
            e = block.expansion
            if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 < e <= 16:
                raise SpecError(f"{path}.expansion", "expected a number in (0, 16]", e)
            _int(block.kernel, f"{path}.kernel", 1, 11)
            if block.kernel % 2 == 0:
                raise SpecError(f"{path}.kernel", "kernel sizes must be odd", block.kernel)
            _activation(block.activation, f"{path}.activation")
            if not isinstance(block.se, bool):
                raise SpecError(f"{path}.se", "expected true or false", block.se)
        elif not isinstance(block, Cell):
            raise SpecError(path, "a block is a Cell, MBConv or Skip", type(block).__name__)
    _int(spec.head.width, "head.width", 1, 16384)
    _activation(spec.head.activation, "head.activation")
    d = spec.head.dropout
    if isinstance(d, bool) or not isinstance(d, (int, float)) or not 0 <= d < 1:
        raise SpecError("head.dropout", "expected a number in [0, 1)", d)


def _section(data: dict, key: str, keys: set[str]) -> dict:
    value = data.get(key)
    if not isinstance(value, dict):
        raise SpecError(key, "expected an object", value)
    for k in value:
        if k not in keys:
            raise SpecError(f"{key}.{k}", "unknown key", k)
    return value


def spec_from_json(data) -> ArchSpec:
    """Decode and validate a spec; errors name the field (e.g. ``stages[2].blocks[1].kernel``)."""
    if not isinstance(data, dict):
        raise SpecError("spec", "a spec is a JSON object", type(data).__name__)
    top = {"name", "in_channels", "resolution", "num_classes", "width_mult", "stem", "stages", "head"}
    for key in data:
        if key not in top:
            raise SpecError(key, "unknown key", key)
    for key in top - {"width_mult"}:
        if key not in data:
            raise SpecError(key, "missing")
    stem = _section(data, "stem", {"width", "kernel", "stride", "activation"})
    head = _section(data, "head", {"width", "activation", "dropout"})
    if "width" not in stem:
        raise SpecError("stem.width", "missing")
    if "width" not in head:
        raise SpecError("head.width", "missing")
    if not isinstance(data["stages"], list):
        raise SpecError("stages", "expected a list", data["stages"])
    stages = []
    for s, raw in enumerate(data["stages"]):
        path = f"stages[{s}]"
        if not isinstance(raw, dict):
            raise SpecError(path, "expected an object", raw)
        for k in raw:
            if k not in {"width", "depth", "stride", "blocks"}:
                raise SpecError(f"{path}.{k}", "unknown key", k)
        for k in ("width", "stride", "blocks"):
            if k not in raw:
                raise SpecError(f"{path}.{k}", "missing")
        if not isinstance(raw["blocks"], list):
            raise SpecError(f"{path}.blocks", "expected a list", raw["blocks"])
        if "depth" in raw and raw["depth"] != len(raw["blocks"]):
            raise SpecError(f"{path}.depth", f"does not match the {len(raw['blocks'])} blocks given", raw["depth"])
        blocks = []
        for b, block in enumerate(raw["blocks"]):
            try:
                blocks.append(block_from_json(block))
            except SpecError as err:
                raise err.within(f"{path}.blocks[{b}]") from None
        stages.append(Stage(raw["width"], raw["stride"], tuple(blocks)))
    return ArchSpec(data["name"], data["in_channels"], data["resolution"], data["num_classes"],
                    Stem(**stem), tuple(stages), Head(**head), data.get("width_mult", 1.0))


def load_spec(path: str | Path) -> ArchSpec:
    """Read a spec file; every error names the file."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError("spec", "file not found", source=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SpecError("spec", f"not valid JSON ({err})", source=str(path)) from None
    try:
        return spec_from_json(data)
    except SpecError as err:
        raise err.within(source=str(path)) from None
