"""The comparison: the same NAS algorithm, budget and recipe in several spaces, over seeds.

``run_comparison`` runs nas.search -> train -> evaluate for every space x algorithm x seed in
this process (a run whose ``metrics.json`` exists is kept) and writes ``comparison.csv`` and
``comparison.md``: mean +- std over seeds per (space, algorithm).
"""

from __future__ import annotations

from pathlib import Path

from ..engine.evaluate import evaluate
from ..engine.train import train
from ..errors import SpecError
from ..outputs import ARCH, METRICS, MODEL
from ..search.nas.config import ALGORITHMS
from ..search.nas.search import search
from .tables import write_comparison

CONFIG_KEYS = {"backbone", "device", "data_dir", "nas", "train", "evaluate", "algorithms"}


def run_comparison(config: dict, spaces: dict, seeds, out_dir) -> list[dict]:
    """Search, train and evaluate every space x algorithm x seed; write the tables; return the rows.

    ``config``: ``data_dir`` (prepared data), ``backbone``, ``device``, ``nas``, ``train``,
    ``evaluate`` (sections as in :mod:`autospace.search.nas`, :mod:`autospace.engine.train`,
    :mod:`autospace.engine.evaluate`) and ``algorithms`` (default ``[nas.algorithm or "proxyless",
    "random"]``; ``nas.algorithm`` is replaced per run). ``spaces``: name -> space document.
    """
    for key in config:
        if key not in CONFIG_KEYS:
            raise SpecError(key, f"unknown key, expected some of {sorted(CONFIG_KEYS)}", key)
    if "data_dir" not in config:
        raise SpecError("data_dir", "missing")
    nas = dict(config.get("nas") or {})
    algorithms = config.get("algorithms", [nas.get("algorithm", "proxyless"), "random"])
    for a in algorithms:
        if a not in ALGORITHMS:
            raise SpecError("algorithms", f"expected some of {list(ALGORITHMS)}", a)
    out_dir = Path(out_dir)
    records = [run_one(config, name, space_path, algorithm, seed, out_dir / "runs" / name / algorithm / f"seed{seed}")
               for name, space_path in spaces.items() for algorithm in algorithms for seed in seeds]
    return write_comparison(records, out_dir / "comparison.csv", out_dir / "comparison.md")


def run_one(config: dict, name: str, space_path, algorithm: str, seed: int, run: Path) -> Path:
    """NAS (``algorithm``, ``seed``) in the space ``space_path`` -> training -> evaluation into
    ``run``; returns ``run/metrics.json`` (labelled ``space=name``, ``algorithm``, ``seed``). A
    run whose metrics exist is kept. ``config`` as in :func:`run_comparison`."""
    run = Path(run)
    if not (run / METRICS).exists():
        search({"seed": seed, "device": config.get("device", "auto"),
                "backbone": config.get("backbone", "fmnist_small"),
                "nas": {**(config.get("nas") or {}), "algorithm": algorithm}}, space_path, config["data_dir"], run / "nas")
        train_evaluate(config, run / "nas" / ARCH, seed, run, {"space": name, "algorithm": algorithm})
    return run / METRICS


def train_evaluate(config: dict, arch_path, seed: int, run: Path, labels: dict) -> Path:
    """Train the architecture ``arch_path`` from scratch (``config['train']``, ``seed``) into
    ``run/train`` and evaluate it into ``run/metrics.json`` (with ``labels`` and the seed);
    returns that path. A run whose metrics exist is kept."""
    run = Path(run)
    if not (run / METRICS).exists():
        train({"seed": seed, "device": config.get("device", "auto"), "train": config.get("train")},
              arch_path, config["data_dir"], run / "train", run / "state")
        evaluate(arch_path, run / "train" / MODEL, config["data_dir"], run / METRICS,
                 config.get("evaluate"), {**labels, "seed": seed})
    return run / METRICS
