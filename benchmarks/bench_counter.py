"""Speed of the analytic MAdds/params counter (goal: >= 10,000 cells/s on one core)."""

from __future__ import annotations

import random
import time

import torch

from autospace.arch.cells import CellSpace, random_cell
from autospace.arch.counter import cell_cost, network_cost
from autospace.arch.zoo import BUILTIN

from .common import machine, write_section


def run() -> None:
    torch.set_num_threads(1)
    rng = random.Random(0)
    cells = [random_cell(CellSpace(), rng) for _ in range(2000)]
    positions = [(rng.choice([16, 24, 40, 80]), rng.choice([24, 40, 80]), rng.choice([1, 2]),
                  rng.choice([14, 28, 56, 112])) for _ in cells]
    best = 0.0
    for _ in range(5):
        t0 = time.perf_counter()
        for cell, (cin, cout, stride, res) in zip(cells, positions):
            cell_cost(cell, cin, cout, stride, res)
        best = max(best, len(cells) / (time.perf_counter() - t0))
    spec = BUILTIN["efficientnet_b0"]()
    t0 = time.perf_counter()
    for _ in range(200):
        network_cost(spec)
    nets = 200 / (time.perf_counter() - t0)
    verdict = "meets" if best >= 10_000 else "misses"
    write_section("counter", f"""## Analytic counter

`make bench` (benchmarks/bench_counter.py), one core, best of 5 passes over 2,000 random cells
at random positions; {machine()}.

| what | rate | goal |
|---|---|---|
| `cell_cost` | {best:,.0f} cells/s | >= 10,000 cells/s ({verdict} it) |
| `network_cost(efficientnet_b0)` | {nets:,.0f} networks/s | - |
""")
    print(f"cell_cost: {best:,.0f} cells/s; network_cost: {nets:,.0f} networks/s")
