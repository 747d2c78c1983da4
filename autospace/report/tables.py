"""The paper's tables, regenerated: the paper's number, this run's, and the difference, as CSV,
Markdown and LaTeX. A missing value says why; the paper's numbers come from
``paper_numbers.yaml`` alone."""

from __future__ import annotations

import csv
import statistics
from pathlib import Path

import torch
import yaml

from ..arch.counter import network_cost
from ..arch.zoo import BUILTIN
from ..files import read_json, to_csv, write_text
from . import stats

PAPER_FILE = Path(__file__).with_name("paper_numbers.yaml")
NOT_RUN = "not run"
#: T3's variant cell for a paper point outside this config's budget grid.
NOT_IN_GRID = "not in variants.budgets (config/full-grid.yaml runs every paper point)"
NO_SPEC = "no spec: architecture not released"
NOT_REPORTED = "not reported by the paper"


def paper_numbers() -> dict:
    return yaml.safe_load(PAPER_FILE.read_text())


def _diff(ours, theirs, digits: int):
    if isinstance(ours, str) or isinstance(theirs, str):
        return ours if isinstance(ours, str) else theirs
    return round(ours - theirs, digits)


def t1_imagenet(trained: dict[str, float] | None = None, compared: bool = True) -> list[dict]:
    """T1: each ImageNet model's params and MAdds (paper vs recomputed from our spec of it) and
    top-1 (paper vs this run, for models this run trained on ImageNet: ``trained`` maps the
    model name to its top-1 in %). ``compared=False``: the run is not set against the paper's
    top-1 at all (not ImageNet), and its top-1 cells say so."""
    trained = trained or {}
    rows = []
    for entry in paper_numbers()["imagenet"]:
        if entry["spec"]:
            cost = network_cost(BUILTIN[entry["spec"]]())
            params, madds = round(cost.params / 1e6, 2), round(cost.madds / 1e6, 1)
        else:
            params = madds = NO_SPEC
        top1 = trained.get(entry["model"], NOT_RUN) if compared else NOT_COMPARED
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


def t5_search_cost(stages: list, device: str) -> list[dict]:
    """T5: per stage, the jobs' wall time and CPU time (hours) and peak memory, from the Snakemake
    benchmark files (``*.tsv``) in the stage's folder; ``stages``: [stage, folder] pairs, in
    table order (the workflow names them). GPU-hours are the wall hours of the jobs when they ran
    on a GPU (``device`` cuda, or auto where CUDA is available)."""
    on_gpu = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    rows = []
    for stage, folder in stages:
        files = sorted(Path(folder).glob("*.tsv"))
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


def experiment_tables(args: dict) -> dict[str, list[dict]]:
    """The tables rule's tables, by file stem, from its arguments (plain values, recorded in the
    job's provenance so the audit can recompute them; ordered mappings as lists of pairs, since a
    record sorts its keys): ``split`` (split.json), ``nas_runs`` ([label, nas.json] pairs), ``main``
    (the experiment's metrics files), ``budget_madds``, ``paper_comparison``, ``budgets`` ([point, run]
    pairs, see :func:`t3_budgets`), ``default`` (metrics files of the learned space) and
    ``ablations`` ([name, run] pairs, the run's ``overrides`` as [key, value] pairs; see
    :func:`t4_ablations`)."""
    ablations = {name: {**run, "overrides": dict(run["overrides"])} for name, run in args["ablations"]}
    return {"data_splits": data_splits(args["split"]), "nas_choices": nas_choices(dict(args["nas_runs"])),
            "t2_spaces": t2_spaces(args["main"], args["budget_madds"], args["paper_comparison"]),
            "t3_budgets": t3_budgets(dict(args["budgets"]), args["paper_comparison"]),
            "t4_ablations": t4_ablations(args["default"], ablations)}


#: The metrics of the comparison table (mean and std over seeds per space and algorithm).
COMPARISON_METRICS = ("top1", "top5", "madds", "params", "latency_ms")


def comparison_rows(records) -> list[dict]:
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
        for key in COMPARISON_METRICS:
            values = [float(r[key]) for r in recs]
            row[f"{key}_mean"] = statistics.fmean(values)
            row[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def comparison_markdown(rows: list[dict]) -> str:
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


def write_comparison(records, csv_path, md_path) -> list[dict]:
    """Summarize ``records`` (metrics files or dicts) into the CSV and Markdown tables."""
    rows = comparison_rows(records)
    write_text(csv_path, to_csv(rows))
    write_text(md_path, comparison_markdown(rows))
    return rows


#: Tables written as CSV and Markdown only (the rest also as LaTeX: the paper's tables).
PLAIN_TABLES = ("data_splits", "nas_choices")


def write_experiment_tables(args: dict, out_dir: str | Path) -> None:
    """Write :func:`experiment_tables` and the comparison table into ``out_dir``."""
    out_dir = Path(out_dir)
    write_comparison(args["main"], out_dir / "comparison.csv", out_dir / "comparison.md")
    for name, rows in experiment_tables(args).items():
        if name in PLAIN_TABLES:
            write_text(out_dir / f"{name}.csv", to_csv(rows))
            write_text(out_dir / f"{name}.md", to_markdown(rows))
        else:
            write_table(rows, out_dir / name)


def t1_of_run(metrics_files, budget_madds: int, paper_comparison: str) -> list[dict]:
    """T1 of a run: with this run's learned-space top-1 where the run is declared as ImageNet
    (``paper_comparison: imagenet``), else not compared."""
    if paper_comparison != "imagenet":
        return t1_imagenet(compared=False)
    return t1_imagenet(trained_top1(metrics_files, budget_madds))


def trained_top1(metrics_files, budget_madds: int) -> dict[str, float]:
    """For an ImageNet run: the learned space's mean test top-1 (%) as this run's number for the
    AutoSpace-PNAS row of the same MAdds budget, if the budget is one of the paper's points."""

    learned = [read_json(f, "metrics")["top1"] for f in metrics_files if read_json(f, "metrics").get("space") == "learned"]
    rows = [e for e in paper_numbers()["imagenet"] if e["model"].startswith("AutoSpace")
            and e["madds_m"] == round(budget_madds / 1e6)]
    if not learned or not rows:
        return {}
    return {rows[0]["model"]: round(100 * statistics.fmean(learned), 2)}


# -- T2, T3, T4: this run's metrics files beside the paper's ImageNet numbers -------------------------

#: The paper's columns of a run not declared as ImageNet (``paper_comparison: none``).
NOT_COMPARED = "– (not compared: paper_comparison is none, and the paper's numbers are ImageNet)"


def _family_row(family: str, madds: float | None) -> dict | None:
    """The ``imagenet`` row of ``family`` (a name prefix) at ``madds`` (MAdds, rounded to millions)."""
    if madds is None:
        return None
    return next((e for e in paper_numbers()["imagenet"] if e["model"].startswith(family)
                 and e["madds_m"] == round(madds / 1e6)), None)


def paper_row(space: str, algorithm: str, budget_madds: int) -> dict | None:
    """The paper's ImageNet entry comparable to NAS ``algorithm`` in ``space`` at this budget."""
    for entry in paper_numbers()["spaces"]:
        if (entry["space"], entry["algorithm"]) == (space, algorithm):
            if "model" in entry:
                return next(e for e in paper_numbers()["imagenet"] if e["model"] == entry["model"])
            return _family_row(entry["family"], budget_madds)
    return None


def seed_stats(records: list[dict]) -> dict:
    """Mean and sample std over seeds (std 0 for one seed) of top-1 (%), MAdds (M), params (M)."""

    out = {"seeds": len(records)}
    for key, scale, digits in (("top1", 100, 2), ("madds", 1e-6, 3), ("params", 1e-6, 4)):
        values = [float(r[key]) * scale for r in records]
        name = {"top1": "top1", "madds": "madds_m", "params": "params_m"}[key]
        out[f"{name}_mean"] = round(statistics.fmean(values), digits) if values else NOT_RUN
        out[f"{name}_std"] = (round(statistics.stdev(values), digits) if len(values) > 1 else 0.0) if values \
            else NOT_RUN
    return out


def _read(files) -> list[dict]:

    return [read_json(f, "metrics") for f in files]


def _paper_cells(row: dict | None, ours: dict, paper_comparison: str) -> dict:
    """The paper's top-1, MAdds and params beside ours, with differences: for a run declared as
    ImageNet (``paper_comparison: imagenet``) only; any other run says why not."""
    keys = ("top1", "madds_m", "params_m")
    if paper_comparison != "imagenet":
        return {**{f"{key}_{col}": NOT_COMPARED for key in keys for col in ("paper", "diff")},
                "paper_source": NOT_COMPARED}
    out = {}
    for key in keys:
        if row is None:
            out[f"{key}_paper"] = out[f"{key}_diff"] = NOT_REPORTED
            continue
        out[f"{key}_paper"] = row[key]
        out[f"{key}_diff"] = _diff(ours[f"{key}_mean"], row[key], 2)
    out["paper_source"] = row["source"] if row else NOT_REPORTED
    return out


def t2_spaces(metrics_files, budget_madds: int, paper_comparison: str) -> list[dict]:
    """T2: per (space, NAS algorithm), mean and std over seeds of top-1, MAdds and params, beside
    the paper's comparable ImageNet entry (only a run with ``paper_comparison: imagenet`` is
    compared)."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for rec in _read(metrics_files):
        groups.setdefault((rec["space"], rec["algorithm"]), []).append(rec)
    rows = []
    for (space, algorithm), recs in groups.items():
        ours = seed_stats(recs)
        learned = groups.get((LEARNED, algorithm))
        rows.append({"space": space, "algorithm": algorithm, **ours, **top1_interval(recs),
                     **learned_vs(learned, recs, space),
                     **_paper_cells(paper_row(space, algorithm, budget_madds), ours, paper_comparison)})
    return rows


#: The space AutoSpace learned, which T2 tests against each hand-designed space.
LEARNED = "learned"


def _top1(records: list[dict]) -> list[float]:
    return [100 * float(r["top1"]) for r in records]


def top1_interval(records: list[dict]) -> dict:
    """The 95 % t-interval of the mean top-1 (%) over seeds (``stats.mean_ci``)."""
    ci = stats.mean_ci(_top1(records))
    if ci is None:
        return {"top1_ci_lo": stats.ONE_SEED, "top1_ci_hi": stats.ONE_SEED}
    return {"top1_ci_lo": round(ci[0], 2), "top1_ci_hi": round(ci[1], 2)}


def learned_vs(learned: list[dict] | None, records: list[dict], space: str) -> dict:
    """Does the learned space beat this one (same NAS algorithm)? Learned minus this space's mean
    top-1 (points) with its 95 % Welch interval, the one-sided p-value and the verdict
    (``stats.greater``, ``stats.verdict``)."""
    keys = ("learned_gain", "learned_gain_ci_lo", "learned_gain_ci_hi", "p_learned_better", "verdict")
    if space == LEARNED:
        return dict.fromkeys(keys, "– (the learned space itself)")
    if not learned:
        return dict.fromkeys(keys, "– (no learned space with this NAS algorithm in the run)")
    test = stats.greater(_top1(learned), _top1(records))
    if test is None:
        gain = round(statistics.fmean(_top1(learned)) - statistics.fmean(_top1(records)), 2)
        return {"learned_gain": gain, **dict.fromkeys(keys[1:4], stats.NO_TEST), "verdict": stats.verdict(None)}
    return {"learned_gain": round(test["diff"], 2), "learned_gain_ci_lo": round(test["lo"], 2),
            "learned_gain_ci_hi": round(test["hi"], 2), "p_learned_better": round(test["p"], 4),
            "verdict": stats.verdict(test)}


def mean_cell_madds(space_file) -> float:
    """Mean MAdds of the candidate cells of a space document, over layers and candidates."""

    doc = read_json(space_file, "space")
    return statistics.fmean(c["madds"] for layer in doc["layers"] for c in layer["candidates"])


def t3_budgets(runs: dict[float, dict], paper_comparison: str) -> list[dict]:
    """T3: per MAdds point (the paper's five and any other run), the learned space (mean cell
    MAdds) and the network found in it, beside the paper's model at that point. ``runs``: point
    (millions) -> ``name``, ``budget_madds`` (this run's resolved budget), ``space`` (the exported
    space file) and ``metrics`` (metrics files of its seeds)."""
    family = paper_numbers()["budgets"]["family"]
    paper = {e["madds_m"]: e for e in paper_numbers()["imagenet"] if e["model"].startswith(family)}
    rows = []
    for point in sorted(set(paper) | set(runs)):
        run = runs.get(point)
        row = {"paper_point_m": point, "variant": run["name"] if run else NOT_IN_GRID,
               "budget_m": round(run["budget_madds"] / 1e6, 3) if run else NOT_RUN,
               "space_mean_cell_madds_k": round(mean_cell_madds(run["space"]) / 1e3, 1) if run else NOT_RUN}
        ours = seed_stats(_read(run["metrics"]) if run else [])
        row.update(ours)
        row.update(_paper_cells(paper.get(point), ours, paper_comparison))
        rows.append(row)
    return rows


def t4_ablations(default_metrics, runs: dict[str, dict]) -> list[dict]:
    """T4: the network found after each ablation (top-1, MAdds, params; mean and std over seeds)
    against the default run on the same seeds. ``default_metrics``: the default run's metrics
    files of the learned space; ``runs``: name -> ``overrides`` (dotted keys) and ``metrics``."""
    default = {r["seed"]: r for r in _read(default_metrics)}
    rows = []
    base = {"variant": "default", "overrides": "none"}
    entries = [(base, list(default.values()))]
    for name, run in runs.items():
        desc = ", ".join(f"{k}={v}" for k, v in run["overrides"].items())
        entries.append(({"variant": name, "overrides": desc}, _read(run["metrics"])))
    for head, recs in entries:
        ours = seed_stats(recs)
        same = [default[r["seed"]] for r in recs if r["seed"] in default]
        if head["variant"] == "default":
            vs = 0.0 if recs else NOT_RUN
        elif len(same) == len(recs) and recs:
            vs = round(ours["top1_mean"] - seed_stats(same)["top1_mean"], 2)
        else:
            vs = "not run: the default run lacks these seeds" if recs else NOT_RUN
        rows.append({**head, **ours, "top1_vs_default": vs, "paper": NOT_REPORTED})
    return rows


# -- what the Data and NAS stages made (report categories of their own) --------------------------------

def data_splits(split_file) -> list[dict]:
    """Images in each split of the prepared data (from its ``split.json``)."""

    doc = read_json(split_file, "split")
    return [{"split": name, "images": len(doc[name]), "dataset": doc["dataset"], "seed": doc["seed"]}
            for name in ("search_train", "search_val", "train", "test")]


def nas_choices(runs: dict[str, str | Path]) -> list[dict]:
    """Per NAS run (``runs``: label -> its ``nas.json``): budget, the band's floor, found MAdds,
    whether they lie in the band, budget-repair swaps and the chosen candidate of each layer (a
    cell id, or zero for a skipped block)."""

    rows = []
    for label, path in runs.items():
        doc = read_json(path, "nas")
        rows.append({"run": label, "algorithm": doc["algorithm"], "budget_m": round(doc["budget_madds"] / 1e6, 3),
                     "band_floor_m": round(doc["band_floor_madds"] / 1e6, 3), "madds_m": round(doc["madds"] / 1e6, 3),
                     "in_band": "yes" if doc["in_band"] else "no (no swap reaches the floor)",
                     "repair_swaps": len(doc["repair_swaps"]),
                     "chosen": " ".join(str(layer["chosen"]) for layer in doc["layers"])})
    return rows
