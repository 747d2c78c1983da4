"""Learned-vs-hand-designed comparison on Fashion-MNIST (fmnist_small backbone).

``python -m benchmarks.run bench_comparison [OUT_DIR]``: prepares Fashion-MNIST subsets, evolves
the learned space (warm-up, generations, export), writes the ProxylessNAS and reference-only
spaces, runs :func:`autospace.report.compare.run_comparison` (ProxylessNAS and random, same budget and
recipe, 3 seeds) and writes its section of docs/benchmarks.md.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch

from autospace.report.compare import run_comparison
from autospace.report.tables import comparison_markdown
from autospace.data.datasets import prepare_fashion_mnist

from .common import evolve, hand_spaces, machine, write_section

DATA = {"seed": 0, "search_val_size": 2000, "search_train_size": 4000, "train_size": 4000, "test_size": 5000}
SEARCH = {"seed": 0, "device": "cpu", "backbone": "fmnist_small",
          "evolution": {"population_size": 16, "sample_size": 4, "generations": 6,
                        "constraint": {"mode": "hinge", "budget_madds": None, "budget_ratio": 0.8, "lambda": 1.0}}}
CONFIG = {
    "backbone": "fmnist_small", "device": "cpu", "algorithms": ["proxyless", "random"],
    "nas": {"budget_ratio": 0.8, "epochs": 4, "warmup_epochs": 1, "batch_size": 64, "arch_lr": 0.02},
    "train": {"epochs": 5, "batch_size": 64, "warmup_epochs": 1.0},
    "evaluate": {"latency_repeats": 30},
}
SEEDS = [0, 1, 2]


def run(out_dir: str = "/tmp/autospace-bench-comparison") -> None:
    torch.set_num_threads(1)  # the machine's 2 cores are shared: one thread avoids oversubscription
    out = Path(out_dir)
    start = time.time()
    prepare_fashion_mnist(out / "data", root=None, download=False, **DATA)
    spaces = {"learned": evolve(SEARCH, out / "data", out / "search"), **hand_spaces("fmnist_small", out)}
    rows = run_comparison({**CONFIG, "data_dir": str(out / "data")}, spaces, SEEDS, out)
    minutes = (time.time() - start) / 60
    write_section("comparison", f"""
## Learned vs hand-designed spaces (Fashion-MNIST comparison)

`python -m benchmarks.run bench_comparison` (benchmarks/bench_comparison.py), {minutes:.1f} min wall
on {machine()}. Backbone `fmnist_small`; data subsets {DATA}; evolution {SEARCH}; NAS, training
and evaluation {CONFIG}; seeds {SEEDS}. Budget (evolution and NAS): 0.8 x the reference network's
MAdds. Test top-1 on {DATA['test_size']} test images; latency at batch 1 on the CPU, median of 30.

{comparison_markdown(rows)}""")


if __name__ == "__main__":
    run(*sys.argv[1:])
