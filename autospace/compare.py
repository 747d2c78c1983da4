"""The comparison: the same NAS algorithm, budget and recipe in several spaces, over seeds.

``run_comparison`` runs nas.search -> train -> evaluate for every space x algorithm x seed in
this process (a run whose ``metrics.json`` exists is kept) and writes ``comparison.csv`` and
``comparison.md``: mean +- std over seeds per (space, algorithm).
"""

from __future__ import annotations

import statistics
from pathlib import Path

from .errors import SpecError
from .evaluate import evaluate
from .nas import ALGORITHMS, search
from .runtime import read_json, write_text
from .tables import to_csv
from .train import train

METRICS = ("top1", "top5", "madds", "params", "latency_ms")
CONFIG_KEYS = {"backbone", "device", "data_dir", "nas", "train", "evaluate", "algorithms"}


def summarize(records) -> list[dict]:
    """Rows of mean and sample std (0 for one seed) of every metric per (space, algorithm), in
    first-seen order. ``records``: dicts with ``space``, ``algorithm``, ``seed`` and the metrics,
    or paths of metrics JSON files holding them."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for rec in records:
        rec = read_json(rec, "metrics") if isinstance(rec, (str, Path)) else rec
        groups.setdefault((rec["space"], rec["algorithm"]), []).append(rec)
    rows = []
    for (space, algorithm), recs in groups.items():
        row = {"space": space, "algorithm": algorithm, "seeds": len(recs)}
        for key in METRICS:
            values = [float(r[key]) for r in recs]
            row[f"{key}_mean"] = statistics.fmean(values)
            row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def to_markdown(rows: list[dict]) -> str:
    lines = ["| space | algorithm | seeds | top-1 (%) | top-5 (%) | MAdds (M) | params (K) | CPU latency (ms) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['space']} | {r['algorithm']} | {r['seeds']} "
                     f"| {100 * r['top1_mean']:.2f} ± {100 * r['top1_std']:.2f} "
                     f"| {100 * r['top5_mean']:.2f} ± {100 * r['top5_std']:.2f} "
                     f"| {r['madds_mean'] / 1e6:.2f} ± {r['madds_std'] / 1e6:.2f} "
                     f"| {r['params_mean'] / 1e3:.1f} ± {r['params_std'] / 1e3:.1f} "
                     f"| {r['latency_ms_mean']:.2f} ± {r['latency_ms_std']:.2f} |")
    return "\n".join(lines) + "\n"


def run_comparison(config: dict, spaces: dict, seeds, out_dir) -> list[dict]:
    """Search, train and evaluate every space x algorithm x seed; write the tables; return the rows.

    ``config``: ``data_dir`` (prepared data), ``backbone``, ``device``, ``nas``, ``train``,
    ``evaluate`` (sections as in :mod:`autospace.nas`, :mod:`autospace.train`,
    :mod:`autospace.evaluate`) and ``algorithms`` (default ``[nas.algorithm or "proxyless",
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
    records = []
    for name, space_path in spaces.items():
        for algorithm in algorithms:
            for seed in seeds:
                run = out_dir / "runs" / name / algorithm / f"seed{seed}"
                if not (run / "metrics.json").exists():
                    search({"seed": seed, "device": config.get("device", "auto"),
                            "backbone": config.get("backbone", "fmnist_small"),
                            "nas": {**nas, "algorithm": algorithm}}, space_path, config["data_dir"], run / "nas")
                    train({"seed": seed, "device": config.get("device", "auto"), "train": config.get("train")},
                          run / "nas" / "arch.json", config["data_dir"], run / "train", run / "state")
                    evaluate(run / "nas" / "arch.json", run / "train" / "model.pt", config["data_dir"],
                             run / "metrics.json", config.get("evaluate"),
                             {"space": name, "algorithm": algorithm, "seed": seed})
                records.append(run / "metrics.json")
    return write_tables(records, out_dir / "comparison.csv", out_dir / "comparison.md")


def write_tables(records, csv_path, md_path) -> list[dict]:
    """Summarize ``records`` (metrics files or dicts) into the CSV and Markdown tables."""
    rows = summarize(records)
    write_text(csv_path, to_csv(rows))
    write_text(md_path, to_markdown(rows))
    return rows
