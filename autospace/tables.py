"""The paper's tables, regenerated: the paper's number, this run's, and the difference, as CSV,
Markdown and LaTeX. A missing value says why; the paper's numbers come from
``paper_numbers.yaml`` alone."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import torch
import yaml

from .counter import network_cost
from .runtime import write_text
from .zoo import BUILTIN

PAPER_FILE = Path(__file__).with_name("paper_numbers.yaml")
NOT_RUN = "not run"
NO_SPEC = "no spec: architecture not released"
NOT_REPORTED = "not reported by the paper"


def paper_numbers() -> dict:
    return yaml.safe_load(PAPER_FILE.read_text())


def _diff(ours, theirs, digits: int):
    if isinstance(ours, str) or isinstance(theirs, str):
        return ours if isinstance(ours, str) else theirs
    return round(ours - theirs, digits)


def t1_imagenet(trained: dict[str, float] | None = None) -> list[dict]:
    """T1: each ImageNet model's params and MAdds (paper vs recomputed from our spec of it) and
    top-1 (paper vs this run, for models this run trained on ImageNet: ``trained`` maps the
    model name to its top-1 in %)."""
    trained = trained or {}
    rows = []
    for entry in paper_numbers()["imagenet"]:
        if entry["spec"]:
            cost = network_cost(BUILTIN[entry["spec"]]())
            params, madds = round(cost.params / 1e6, 2), round(cost.madds / 1e6, 1)
        else:
            params = madds = NO_SPEC
        top1 = trained.get(entry["model"], NOT_RUN)
        rows.append({"model": entry["model"],
                     "params_m_paper": entry["params_m"], "params_m_ours": params,
                     "params_m_diff": _diff(params, entry["params_m"], 2),
                     "madds_m_paper": entry["madds_m"], "madds_m_ours": madds,
                     "madds_m_diff": _diff(madds, entry["madds_m"], 1),
                     "top1_paper": entry["top1"], "top1_ours": top1, "top1_diff": _diff(top1, entry["top1"], 2),
                     "source": entry["source"]})
    return rows


BENCH_COLUMNS = ("s", "cpu_time", "max_rss")


def read_benchmark(path: str | Path) -> dict[str, float]:
    """One Snakemake benchmark file (tab-separated, one run): wall seconds, CPU seconds, max RSS (MB)."""
    with open(path, newline="") as f:
        row = next(csv.DictReader(f, delimiter="\t"))
    return {k: float(row[k]) if row.get(k) not in (None, "", "-", "NA") else 0.0 for k in BENCH_COLUMNS}


STAGES = ("prepare_data", "warmup", "evolve", "export_space", "hand_space", "nas", "train", "evaluate")


def t5_search_cost(benchmark_dir: str | Path, device: str) -> list[dict]:
    """T5: per stage, the jobs' wall time and CPU time (hours) and peak memory, from the Snakemake
    benchmark files under ``benchmark_dir/<rule>/``; GPU-hours are the wall hours of the jobs when
    they ran on a GPU (``device`` cuda, or auto where CUDA is available)."""
    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    rows = []
    for stage in STAGES:
        files = sorted(Path(benchmark_dir, stage).glob("*.tsv"))
        if not files:
            continue
        runs = [read_benchmark(f) for f in files]
        wall = sum(r["s"] for r in runs) / 3600
        rows.append({"stage": stage, "jobs": len(runs), "wall_hours": round(wall, 4),
                     "cpu_hours": round(sum(r["cpu_time"] for r in runs) / 3600, 4),
                     "gpu_hours": round(wall, 4) if on_gpu else "not run: CPU only",
                     "max_rss_mb": round(max(r["max_rss"] for r in runs), 1),
                     "paper": NOT_REPORTED})
    return rows


def to_csv(rows: list[dict], fields: list[str] | None = None) -> str:
    """CSV text of ``rows``; the columns are ``fields`` or the first row's keys."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fields or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def to_markdown(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(str(r[k]) for k in keys) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def _tex(value) -> str:
    text = str(value)
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def to_latex(rows: list[dict]) -> str:
    keys = list(rows[0])
    lines = [r"\begin{tabular}{" + "l" * len(keys) + "}", r"\hline",
             " & ".join(_tex(k) for k in keys) + r" \\", r"\hline"]
    lines += [" & ".join(_tex(r[k]) for k in keys) + r" \\" for r in rows]
    return "\n".join(lines + [r"\hline", r"\end{tabular}"]) + "\n"


def write_table(rows: list[dict], stem: str | Path) -> None:
    """``stem``.csv, .md and .tex."""
    for suffix, render in ((".csv", to_csv), (".md", to_markdown), (".tex", to_latex)):
        write_text(f"{stem}{suffix}", render(rows))


def trained_top1(metrics_files, budget_madds: int) -> dict[str, float]:
    """For an ImageNet run: the learned space's mean test top-1 (%) as this run's number for the
    AutoSpace-PNAS row of the same MAdds budget, if the budget is one of the paper's points."""
    import statistics

    from .runtime import read_json

    learned = [read_json(f, "metrics")["top1"] for f in metrics_files if read_json(f, "metrics").get("space") == "learned"]
    rows = [e for e in paper_numbers()["imagenet"] if e["model"].startswith("AutoSpace")
            and e["madds_m"] == round(budget_madds / 1e6)]
    if not learned or not rows:
        return {}
    return {rows[0]["model"]: round(100 * statistics.fmean(learned), 2)}
