"""One K-cell supernet training step against the sum of the K single-cell networks' steps
(goal: ratio <= 1.1). Same cells, batch and backbone; each single-cell network is the supernet
of that one cell (the same modules a standalone network would have)."""

from __future__ import annotations

import random
import time

import torch
from torch import nn

from autospace.arch.cells import CellSpace, random_cell
from autospace.search.evolution.config import SearchConfig
from autospace.arch.supernet import Supernet, mixing_weights

from .common import machine, write_section

K, BATCH, REPEATS = 4, 64, 5


def _step_time(model: Supernet, alphas, x, y) -> float:
    """Best of REPEATS: forward, backward (weights and alphas), SGD step."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    best = float("inf")
    for _ in range(REPEATS + 1):  # the first pass warms up allocators
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        weights = [mixing_weights(a, "softmax") for a in alphas]
        nn.functional.cross_entropy(model(x, weights), y).backward()
        opt.step()
        best = min(best, time.perf_counter() - t0)
    return best


def run() -> None:
    torch.set_num_threads(1)
    torch.manual_seed(0)
    backbone = SearchConfig.from_dict({"backbone": "fmnist_small"}).backbone
    rng = random.Random(0)
    cells = [[random_cell(CellSpace(), rng) for _ in range(K)] for _ in backbone.layers]
    x, y = torch.randn(BATCH, 1, 28, 28), torch.randint(0, 10, (BATCH,))
    alphas = [torch.zeros(K, requires_grad=True) for _ in cells]
    supernet = _step_time(Supernet(backbone, cells, seed=0), alphas, x, y)
    singles = [_step_time(Supernet(backbone, [[layer[k]] for layer in cells], seed=0),
                          [torch.zeros(1, requires_grad=True) for _ in cells], x, y) for k in range(K)]
    ratio = supernet / sum(singles)
    verdict = "meets" if ratio <= 1.1 else "misses"
    write_section("supernet", f"""## Supernet training step

`make bench` (benchmarks/bench_supernet.py): backbone `fmnist_small` (6 searchable layers),
K = {K} random cells per layer, batch {BATCH} of 1x28x28, one core, best of {REPEATS} steps
(forward, backward through weights and alphas, SGD step); {machine()}.

| what | time per step |
|---|---|
| supernet, {K} cells per layer in parallel | {supernet * 1e3:.1f} ms |
| sum of the {K} single-cell networks' steps | {sum(singles) * 1e3:.1f} ms ({', '.join(f'{s * 1e3:.1f}' for s in singles)}) |
| ratio | {ratio:.2f} (goal <= 1.1: {verdict} it) |
""")
    print(f"supernet step {supernet * 1e3:.1f} ms; sum of single-cell steps {sum(singles) * 1e3:.1f} ms; "
          f"ratio {ratio:.2f}")
