"""Backbones: a fixed skeleton (layer count and widths) whose searchable blocks get chosen cells.

A backbone is written as data: stem, stages and head as in a spec, where each stage is either
``searchable`` (every block's choice is learned) or fixed (an MBConv given in the stage).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

from ..errors import SpecError
from .cells import Cell, reference_cell
from .spec import ArchSpec, Block, BlockPosition, block_positions, spec_from_json

#: Built-in backbones as data.
BACKBONES: dict[str, dict] = {
    # The embedded default: small enough to search on 2 CPU cores in minutes.
    "fmnist_small": {
        "in_channels": 1, "resolution": 28, "num_classes": 10,
        "stem": {"width": 16, "kernel": 3, "stride": 1, "activation": "relu6"},
        "stages": [
            {"width": 16, "depth": 1, "stride": 1, "searchable": False,
             "block": {"type": "mbconv", "expansion": 1, "kernel": 3, "activation": "relu6", "se": False}},
            {"width": 24, "depth": 2, "stride": 2},
            {"width": 40, "depth": 2, "stride": 2},
            {"width": 80, "depth": 2, "stride": 2},
        ],
        "head": {"width": 256, "activation": "relu6", "dropout": 0.1},
    },
    # The AutoSpace / ProxylessNAS-mobile skeleton (method doc section 3): 21 searchable blocks.
    "proxylessnas_skeleton": {
        "in_channels": 3, "resolution": 224, "num_classes": 1000,
        "stem": {"width": 32, "kernel": 3, "stride": 2, "activation": "relu6"},
        "stages": [
            {"width": 16, "depth": 1, "stride": 1, "searchable": False,
             "block": {"type": "mbconv", "expansion": 1, "kernel": 3, "activation": "relu6", "se": False}},
            {"width": 24, "depth": 4, "stride": 2},
            {"width": 40, "depth": 4, "stride": 2},
            {"width": 80, "depth": 4, "stride": 2},
            {"width": 96, "depth": 4, "stride": 1},
            {"width": 192, "depth": 4, "stride": 2},
            {"width": 320, "depth": 1, "stride": 1},
        ],
        "head": {"width": 1280, "activation": "relu6", "dropout": 0.1},
    },
}

STAGE_KEYS = {"width", "depth", "stride", "searchable", "block"}


@dataclass(frozen=True)
class Backbone:
    """A skeleton spec plus the indices (network order) of its searchable blocks."""

    name: str
    skeleton: ArchSpec
    searchable: tuple[int, ...]

    @property
    def layers(self) -> list[BlockPosition]:
        """The positions of the searchable layers, in order (layer l = ``layers[l]``)."""
        positions = block_positions(self.skeleton)
        return [positions[i] for i in self.searchable]

    def fill(self, choices: list[Block]) -> ArchSpec:
        """The network with ``choices[l]`` in searchable layer l."""
        if len(choices) != len(self.searchable):
            raise SpecError("layers", f"this backbone has {len(self.searchable)} searchable layers", len(choices))
        blocks = [b for stage in self.skeleton.stages for b in stage.blocks]
        for index, choice in zip(self.searchable, choices):
            blocks[index] = choice
        return self.skeleton.with_blocks(blocks).replace(name=self.name)

    def reference_network(self, cell: Cell | None = None) -> ArchSpec:
        """Every searchable layer holds the reference cell (default: MBConv e6 k3 as a cell)."""
        cell = cell or reference_cell()
        return self.fill([cell] * len(self.searchable))


def backbone_from_dict(data: dict, name: str = "custom") -> Backbone:
    """Decode a backbone; errors name the field (``backbone.stages[1].width``)."""
    if not isinstance(data, dict):
        raise SpecError("backbone", "expected a name or an object", data)
    data = copy.deepcopy(data)
    stages = data.get("stages")
    if not isinstance(stages, list) or not stages:
        raise SpecError("backbone.stages", "expected a non-empty list", stages)
    searchable_flags = []
    for s, stage in enumerate(stages):
        if not isinstance(stage, dict):
            raise SpecError(f"backbone.stages[{s}]", "expected an object", stage)
        for key in stage:
            if key not in STAGE_KEYS:
                raise SpecError(f"backbone.stages[{s}].{key}", "unknown key", key)
        depth = stage.pop("depth", None)
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise SpecError(f"backbone.stages[{s}].depth", "expected an integer >= 1", depth)
        searchable = stage.pop("searchable", True)
        if not isinstance(searchable, bool):
            raise SpecError(f"backbone.stages[{s}].searchable", "expected true or false", searchable)
        block = stage.pop("block", None)
        if searchable:
            block = {"type": "cell", "cell": str(reference_cell())}
        elif block is None:
            raise SpecError(f"backbone.stages[{s}].block", "a fixed stage needs its block")
        stage["blocks"] = [block] * depth
        searchable_flags += [searchable] * depth
    data.setdefault("name", name)
    try:
        skeleton = spec_from_json(data)
    except SpecError as err:
        raise err.within("backbone") from None
    searchable = tuple(i for i, flag in enumerate(searchable_flags) if flag)
    if not searchable:
        raise SpecError("backbone.stages", "no searchable stage", None)
    return Backbone(data["name"], skeleton, searchable)


def get_backbone(value) -> Backbone:
    """A backbone from a built-in name or an inline definition."""
    if isinstance(value, str):
        if value not in BACKBONES:
            raise SpecError("backbone", f"unknown backbone, expected one of {sorted(BACKBONES)} or an object", value)
        return backbone_from_dict(BACKBONES[value], value)
    return backbone_from_dict(value)

