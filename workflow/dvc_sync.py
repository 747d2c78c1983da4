"""Generate this experiment's stages in dvc.yaml from the workflow's job list, and record them.

Pattern: Snakemake drives, DVC records. Each Snakemake job becomes one DVC stage (named
``<experiment>[-<variant>]-<rule>[-<wildcards>]``) whose deps and outs are the job's inputs and outputs,
all ``persist: true`` so that ``dvc repro`` never deletes what Snakemake made. After a run,
``--commit`` writes every output's hash into dvc.lock (``dvc commit -f``) without running
anything. Stages of other experiments in dvc.yaml are left as they are. The evaluation metrics
(metrics.json) are declared as DVC metrics, the training logs and the figures' data (pareto.csv,
diversity.csv) as DVC plots, so ``dvc metrics show`` and ``dvc plots show`` read the same files.

    python workflow/dvc_sync.py [--configfile F ...] [--commit | --check]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import layout as L  # noqa: E402

DEFAULT_CONFIG = "config/config.yaml"
RESULTS_OF = L.RESULTS + "/"


def merged_config(configfiles: list[str]) -> dict:
    """config/config.yaml updated by each --configfile in turn, as Snakemake merges them."""
    def update(base: dict, new: dict) -> dict:
        for key, value in new.items():
            base[key] = update(base.get(key, {}), value) if isinstance(value, dict) and isinstance(
                base.get(key), dict) else value
        return base

    config: dict = {}
    for name in [DEFAULT_CONFIG, *configfiles]:
        update(config, yaml.safe_load((ROOT / name).read_text()) or {})
    return config


def stage_name(exp: str, job: dict) -> str:
    """``<exp>-<rule>-<wildcards>``; a variant's job: ``<exp>-<variant>-<rule>-<wildcards>``."""
    variant = L.variant_name(exp, job["exp"])
    return "-".join([exp, *([variant] if variant else []), job["rule"], *job["wildcards"].values()])


#: DVC plots: a file name and how to draw it.
PLOTS = {"log.csv": {"x": "epoch", "y": ["train_loss", "train_acc"]},
         "pareto.csv": {"x": "madds_m", "y": "top1", "template": "scatter"},
         "diversity.csv": {"x": "generation", "y": "mean_gene_distance", "template": "scatter"}}


def owned(stage: dict, exp: str) -> bool:
    """Whether a stage of dvc.yaml belongs to experiment ``exp``: all its outs lie under
    results/<exp>/ (stage names cannot tell: ``a-b-warmup`` may be experiment a or a-b)."""
    prefix = RESULTS_OF.format(exp=exp)
    return all(next(iter(o)).startswith(prefix) for o in stage.get("outs") or [{"": None}])


def stages_for(config: dict, configfiles: list[str]) -> dict:
    exp = config["experiment"]
    opts = "".join(f" --configfile {f}" for f in configfiles)
    stages = {}
    jobs = L.jobs(config)
    for job in jobs:
        stage = {"cmd": f"snakemake {' '.join(job['output'])} --cores all{opts}",
                 "deps": list(job["input"]) + [f"scripts/{job['rule']}.py"]}
        if L.RULE_PARAMS[job["rule"]]:
            stage["params"] = [{L.RESOLVED_CONFIG.format(exp=job["exp"]): L.RULE_PARAMS[job["rule"]]}]
        outs = job["output"] + [L.benchmark_file(job), L.provenance_file(job)]
        stage["outs"] = [{out: {"persist": True}} for out in outs]
        stages[stage_name(exp, job)] = stage
    # the resolved configs (the experiment's and each variant's) are written by the workflow's
    # onsuccess handler, at the end of any run
    for variant in dict.fromkeys(job["exp"] for job in jobs):
        name = stage_name(exp, {"exp": variant, "rule": "config", "wildcards": {}})
        stages[name] = {"cmd": f"snakemake --cores all{opts}",
                        "outs": [{L.RESOLVED_CONFIG.format(exp=variant): {"persist": True}}]}
    return stages


def sync(configfiles: list[str]) -> tuple[str, dict]:
    """The new text of dvc.yaml and this experiment's stages."""
    config = merged_config(configfiles)
    exp = config["experiment"]
    path = ROOT / "dvc.yaml"
    current = yaml.safe_load(path.read_text()) if path.exists() else {}
    current = current or {}
    mine = stages_for(config, configfiles)
    stages = {k: v for k, v in (current.get("stages") or {}).items() if not owned(v, exp)}
    stages.update(mine)
    prefix = f"results/{exp}/"
    metrics = [m for m in current.get("metrics") or [] if not m.startswith(prefix)]
    plots = [p for p in current.get("plots") or [] if not next(iter(p)).startswith(prefix)]
    for job in L.jobs(config):
        for out in job["output"]:
            if out.endswith("/" + L.METRICS) and job["rule"] == "evaluate":
                metrics.append(out)
            if out.rsplit("/", 1)[-1] in PLOTS:
                plots.append({out: PLOTS[out.rsplit("/", 1)[-1]]})
    doc = {"stages": dict(sorted(stages.items())), "metrics": sorted(metrics),
           "plots": sorted(plots, key=lambda p: next(iter(p)))}
    header = ("# Generated by workflow/dvc_sync.py from the Snakemake job list (workflow/layout.py);\n"
              "# a test checks it against the Snakemake DAG. Do not edit by hand.\n")
    return header + yaml.safe_dump(doc, sort_keys=False, default_flow_style=False), mine


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configfile", action="append", default=[])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--commit", action="store_true", help="also record the outputs' hashes in dvc.lock")
    mode.add_argument("--check", action="store_true", help="exit 1 if dvc.yaml is not up to date")
    args = parser.parse_args()
    configfiles = [os.path.relpath(Path(f).resolve(), ROOT) for f in args.configfile
                   if os.path.relpath(Path(f).resolve(), ROOT) != DEFAULT_CONFIG]
    text, mine = sync(configfiles)
    path = ROOT / "dvc.yaml"
    if args.check:
        current = (yaml.safe_load(path.read_text()) or {}).get("stages", {}) if path.exists() else {}
        exp = merged_config(configfiles)["experiment"]
        if {k: v for k, v in current.items() if owned(v, exp)} != mine:
            print(f"{path}: the stages of this experiment are out of date with the workflow; "
                  "run python workflow/dvc_sync.py", file=sys.stderr)
            return 1
        return 0
    if not path.exists() or path.read_text() != text:
        tmp = path.with_suffix(".yaml.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    if args.commit:
        # a partial run (a target below the final one) records the stages it completed
        done = [name for name, stage in mine.items()
                if all((ROOT / p).exists() for p in stage.get("deps", []) + [next(iter(o)) for o in stage["outs"]])]
        commit(done)
    return 0


def commit(names: list[str]) -> None:
    """``dvc commit --force --no-relink <names>`` in one pass: the same DVC calls (each stage's
    ``save`` and ``commit``, then one write of dvc.lock), but dvc.yaml is parsed once, not twice
    per stage as the command line does (quadratic: 50 CPU-s for the tiny run's 39 stages, minutes
    for the default run's 131). No relink: the outputs are copied into the cache and left in the
    workspace as Snakemake wrote them, since relinking rewrites them, out of the DAG's order, and
    Snakemake would then see inputs newer than their outputs."""
    if not names:
        return
    os.environ.setdefault("DVC_NO_ANALYTICS", "1")
    import logging

    from dvc.repo import Repo, locked

    logging.getLogger("dvc").setLevel(logging.WARNING)  # as --quiet: no "Updating lock file" lines

    @locked
    def _commit(repo: Repo) -> None:
        wanted, dvcfile = set(names), (ROOT / "dvc.yaml").resolve()
        found = {s.name: s for s in repo.index.stages
                 if getattr(s, "name", None) in wanted and Path(s.path).resolve() == dvcfile}
        missing = [name for name in names if name not in found]
        if missing:
            raise SystemExit(f"dvc.yaml: no stage {missing[0]!r}")
        stages = [found[name] for name in names]
        for stage in stages:
            stage.save()
            stage.commit(relink=False)
        stages[0].dvcfile.dump_stages(stages, update_pipeline=False)

    with Repo(str(ROOT)) as repo:
        _commit(repo)


if __name__ == "__main__":
    sys.exit(main())
