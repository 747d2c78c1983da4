"""Random valid cells and networks for property tests (seeded, no hypothesis needed)."""

from __future__ import annotations

import random

from autospace.arch.cells import CellSpace, random_cell
from autospace.arch.spec import ArchSpec, Head, MBConv, Skip, Stage, Stem

WIDE_SPACE = CellSpace(nodes=4, edge_ops=("none", "conv1x1", "dw3x3", "dw5x5", "dw7x7"),
                       expansions=(1, 3, 6), activations=("relu6", "hswish"),
                       attentions=("none", "se"), merges=("sum", "concat"))


def random_network(rng: random.Random) -> ArchSpec:
    in_channels = rng.choice([1, 3])
    resolution = rng.choice([28, 32, 40, 56, 64])
    stages, width = [], rng.choice([8, 16])
    for _ in range(rng.randint(1, 4)):
        width = rng.choice([width, width + 8, width * 2])
        stride = rng.choice([1, 2])
        blocks = []
        for d in range(rng.randint(1, 3)):
            kind = rng.random()
            if kind < 0.5:
                blocks.append(random_cell(CellSpace(nodes=rng.choice([3, 4, 5])), rng))
            elif kind < 0.85 or d == 0:
                blocks.append(MBConv(rng.choice([1, 3, 6]), rng.choice([3, 5, 7]),
                                     rng.choice(["relu6", "swish"]), rng.random() < 0.3))
            else:
                blocks.append(Skip())
        if blocks and isinstance(blocks[0], Skip):
            blocks[0] = MBConv(1, 3)
        stages.append(Stage(width, stride, tuple(blocks)))
    stem_width = rng.choice([8, 16])
    # a stage-leading skip is only valid where widths and stride allow it; keep the first block real
    return ArchSpec("random", in_channels, resolution, rng.randint(2, 20),
                    Stem(stem_width, rng.choice([3, 5]), rng.choice([1, 2]), "relu6"),
                    tuple(stages), Head(rng.choice([32, 64]), "hswish", 0.0),
                    rng.choice([1.0, 1.0, 0.75, 1.4]))


def with_change(data: dict, path: list, value=None, delete: bool = False) -> dict:
    """A deep copy of ``data`` with the key at ``path`` set to ``value`` (or removed)."""
    import copy

    data = copy.deepcopy(data)
    node = data
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return data
