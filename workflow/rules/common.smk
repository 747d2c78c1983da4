# Config validation (JSON schema, then the library's own checks) and helpers shared by the rules.
import os
import posixpath
import re
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, workflow.basedir)
sys.path.insert(0, str(Path(workflow.basedir).parent))

import layout as L  # noqa: E402
from autospace.arch.backbone import get_backbone  # noqa: E402
from autospace.arch.counter import madds_budget  # noqa: E402
from autospace.options import lookup  # noqa: E402
from autospace.runconfig import config_error, write_resolved_config  # noqa: E402
from autospace.arch.spec import data_fields  # noqa: E402
from autospace.variants import budget_points  # noqa: E402


CONFIG_FILES = [str(f) for f in (workflow.overwrite_configfiles or workflow.configfiles)] or ["config"]
SCHEMA = yaml.safe_load(Path(workflow.basedir, "schemas", "config.schema.yaml").read_text())
problem = config_error(config, SCHEMA, ", ".join(CONFIG_FILES))
if problem:
    raise ValueError(problem)

EXP = config["experiment"]
GENERATIONS = config["evolution"]["generations"]
#: The experiment path ({exp} wildcard) -> its config: the experiment's own and each variant's.
CONFIGS = {EXP: config} | {L.variant_exp(EXP, name): cfg for name, cfg in L.variants(config).items()}


wildcard_constraints:
    exp="|".join(re.escape(e) for e in CONFIGS),
    gen=r"\d{3}",
    seed=r"\d+",
    space=r"[a-z][a-z0-9_]*",


def path(template, **wc):
    """A layout template with the given fields filled in and the others kept as wildcards."""
    fields = {"exp": "{exp}", "gen": "{gen}", "space": "{space}", "seed": "{seed}"}
    fields.update(wc)
    return template.format(**fields)


def under(template, name, **wc):
    """A file ``name`` inside the folder of a layout template."""
    return posixpath.join(path(template, **wc), name)


def files(template, names, **wc):
    """Named outputs/inputs: one per file of a layout folder, named by the file's stem."""
    return {Path(n).stem: under(template, n, **wc) for n in names}


#: The prepared data, shared by the experiment and its variants.
DATA = files(L.DATA, L.DATA_FILES, exp=EXP)


def log_file(rule, name="job", exp="{exp}"):
    return posixpath.join(L.LOGS.format(exp=exp, rule=rule), f"{name}.log")


def bench_file(rule, name="job", exp="{exp}"):
    return posixpath.join(L.BENCH.format(exp=exp, rule=rule), f"{name}.tsv")


def provenance_file(rule, name="job", exp="{exp}"):
    return posixpath.join(L.PROVENANCE.format(exp=exp, rule=rule), f"{name}.json")


def lineage(rule, arguments=None, check=None):
    """A params function giving the job's provenance request, in plain values, to
    ``autospace.provenance.job``: the rule, wildcards, the config values it reads (its DVC params),
    its input and output files, where the record goes (the ``provenance`` output), the audit's
    ``check`` of its outputs (one of ``autospace.audit.CHECKS``: the library knows checks, not
    rules) and, for the tables and figures, the ``arguments`` their library functions are called
    with (so the audit can recompute them)."""

    def values(wildcards, input, output):
        return {"rule": rule, "wildcards": dict(wildcards.items()),
                "params": {key: lookup(CONFIGS[getattr(wildcards, "exp", EXP)], key) for key in L.RULE_PARAMS[rule]},
                "input": [str(f) for f in input],
                "output": [str(f) for f in output if f != output.provenance],
                "path": str(output.provenance), **({"arguments": arguments} if arguments is not None else {}),
                **({"check": check} if check is not None else {})}

    return values


SEARCH_KEYS = ("seed", "device", "backbone", "cell_space", "evolution")


def previous_generation(wildcards):
    g = int(wildcards.gen)
    prev = path(L.WARMUP, exp=wildcards.exp) if g == 0 else path(L.GEN, exp=wildcards.exp, gen=L.gen_name(g - 1))
    return {"checkpoint": posixpath.join(prev, "checkpoint.pt"), "population": posixpath.join(prev, "population.json")}


def last_generation(wildcards):
    """The last generation's checkpoint and population of an experiment (or a variant)."""
    generations = CONFIGS[wildcards.exp]["evolution"]["generations"]
    last = L.WARMUP if generations == 0 else L.GEN.format(exp="{exp}", gen=L.gen_name(generations - 1))
    return {"checkpoint": under(last, "checkpoint.pt", exp=wildcards.exp),
            "population": under(last, "population.json", exp=wildcards.exp)}


def get_nas_budget(cfg=config):
    """The NAS MAdds budget of a config, resolved against the backbone's reference network."""
    nas = cfg["nas"]
    return madds_budget(get_backbone(cfg["backbone"]).reference_network(), nas["budget_madds"], nas["budget_ratio"])


def final_targets(cfg):
    return L.final_targets(cfg)


def section(*keys, seed=False):
    """The config sections a rule uses in this experiment or variant (a function of the
    wildcards), passed through params so a change reruns the rule; ``seed``: the job's seed too."""

    def of(wildcards):
        values = {k: CONFIGS[wildcards.exp][k] for k in keys}
        return {**values, "seed": int(wildcards.seed)} if seed else values

    return of


def record_with_dvc():
    """After a successful run: write the fully resolved config to results/<experiment>/config.yaml
    (and each variant's to results/<experiment>/variants/<name>/config.yaml), then record every
    finished job of the default pipeline in dvc.lock (Snakemake drives, DVC records; see
    dvc.yaml). DVC records the config dvc.yaml's params name, config/config.yaml, so a run of
    another config (a --configfile or --config that changes a value) is not recorded; nor is a
    run that `dvc repro` started (DVC records its stages itself), nor one where DVC is not set up."""
    for exp, cfg in CONFIGS.items():
        write_resolved_config(cfg, L.RESOLVED_CONFIG.format(exp=exp))
    root = Path(workflow.basedir).parent
    if not (root / ".dvc").is_dir() or not config["dvc"]["record"] or os.environ.get("DVC_STAGE"):
        return
    if config != yaml.safe_load((root / "config" / "config.yaml").read_text()):
        print(f"DVC: not recorded in dvc.lock: this run's config ({', '.join(CONFIG_FILES)}) is not "
              "config/config.yaml, which dvc.yaml describes", file=sys.stderr)
        return
    subprocess.run([sys.executable, str(Path(workflow.basedir) / "dvc_sync.py"), "--commit"], check=True, cwd=root)


def remove_partial_products():
    """After a failed run (``onerror``): remove the Snakemake benchmark file of every job whose
    outputs are not all there, and the folders left empty by it. Snakemake deletes a failed job's
    outputs but not its benchmark file, which may be a previous run's (a job rerun for a changed
    config that then fails) or this run's (a job whose outputs went missing), so that a failure
    leaves no benchmark without its outputs, which T5 and DVC would take for a finished job's."""
    results = Path(L.RESULTS.format(exp=EXP)).parent
    for job in JOBS:
        products = [Path(f) for f in job["output"] + [L.provenance_file(job)]]
        bench = Path(L.benchmark_file(job))
        if all(f.exists() for f in products):
            continue
        if bench.exists():
            bench.unlink()
            print(f"removed {bench}: its job did not finish", file=sys.stderr)
        for folder in {f.parent for f in products + [bench]}:
            while folder != results and folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
                folder = folder.parent


# -- what the tables and figures of the experiment are made from ---------------------------------
JOBS = L.jobs(config)


def variant_run(name):
    """A variant's (None: the experiment's own) learned space, its metrics files and NAS budget."""
    exp = EXP if name is None else L.variant_exp(EXP, name)
    return {"name": name or "main run", "space": L.space_file(exp, L.LEARNED),
            "metrics": L.evaluated(JOBS, exp, L.LEARNED), "budget_madds": get_nas_budget(CONFIGS[exp])}


BUDGET_RUNS = {p: variant_run(name) for p, name in budget_points(config).items()}
ABLATION_RUNS = {name: {**variant_run(name), "overrides": changes} for item in config["variants"]["ablations"]
                 for name, changes in item.items()}


#: Every NAS run, by label (``main/learned/seed_0``, ``k_2/learned/seed_0``) -> its nas.json.
NAS_RUNS = {f"{L.variant_name(EXP, job['exp']) or 'main'}/{job['wildcards']['space']}/seed_{job['wildcards']['seed']}":
            job["output"][1] for job in JOBS if job["rule"] == "nas"}


def pareto_runs():
    """Every evaluated network with its legend group and a run label, for the accuracy-MAdds figure."""
    budgets = set(budget_points(config).values())
    runs = []
    for job in JOBS:
        if job["rule"] != "evaluate":
            continue
        space, seed = job["wildcards"]["space"], job["wildcards"]["seed"]
        name = L.variant_name(EXP, job["exp"])
        if name is None:
            group = f"{space} space ({'learned here' if space == L.LEARNED else 'hand-designed'})"
        else:
            group = f"learned, {'budget' if name in budgets else 'ablation'} variants"
        runs.append({"file": job["output"][0], "group": group, "run": f"{name or 'main'}/{space}/seed_{seed}"})
    return runs


#: What the tables rule's library call reads (autospace.report.tables.experiment_tables), in plain values.
TABLE_ARGUMENTS = {"split": DATA["split"], "nas_runs": list(NAS_RUNS.items()), "main": L.evaluated(JOBS, EXP),
                   "budget_madds": get_nas_budget(), "paper_comparison": config["paper_comparison"],
                   "budgets": [[p, run] for p, run in BUDGET_RUNS.items()],
                   "default": L.evaluated(JOBS, EXP, L.LEARNED),
                   "ablations": [[name, {**run, "overrides": list(run["overrides"].items())}]
                                 for name, run in ABLATION_RUNS.items()]}
#: What the figures rule's data (autospace.report.figures.figure_tables) is made from.
#: T5's arguments: the search stages, each with its benchmark folder, and the device.
SEARCH_COST_ARGUMENTS = {"stages": [[rule, path(L.BENCH, exp=EXP, rule=rule)] for rule in L.SEARCH_COST_STAGES],
                         "device": config["device"]}
FIGURE_ARGUMENTS = {"populations": [under(L.GEN, "population.json", exp=EXP, gen=L.gen_name(g))
                                    for g in range(GENERATIONS)], "runs": pareto_runs()}

#: What the HTML report (snakemake --report) shows of each table and figure: its category and
#: label; the caption is workflow/report/<name>.rst. The files are workflow/layout.py's;
#: the rules tables, paper_tables and figures declare them with report_files.
SHOWN = {
    "comparison": ("Tables", {"table": "comparison (CSV)"}),
    "data_splits": ("Data", {"table": "data splits"}),
    "nas_choices": ("NAS", {"table": "found architectures"}),
    "t2_spaces": ("Tables", {"table": "T2 NAS in each space"}),
    "t3_budgets": ("Tables", {"table": "T3 budgets"}),
    "t4_ablations": ("Tables", {"table": "T4 ablations"}),
    "t1_imagenet": ("Tables", {"table": "T1 ImageNet models"}),
    "t5_search_cost": ("Tables", {"table": "T5 search cost"}),
    "fitness": ("Search", {"figure": "fitness per layer"}),
    "diversity": ("Search", {"figure": "population diversity"}),
    "cells": ("Search", {"figure": "learned cells"}),
    "training_curves": ("Training", {"figure": "training curves"}),
    "pareto": ("Evaluation", {"figure": "accuracy against MAdds"}),
}


def report_files(folder, names):
    """A rule's named outputs for the report files ``names`` in a layout folder, each named
    ``<stem>_<format>``; a table's first format (CSV) and a figure's (PNG) go into the report."""
    outputs, seen = {}, set()
    for name in names:
        stem, ext = name.rsplit(".", 1)
        path = under(folder, name, exp=EXP)
        if stem not in seen:
            category, labels = SHOWN[stem]
            path = report(path, caption=f"../report/{stem}.rst", category=category, labels=labels)
            seen.add(stem)
        outputs[f"{stem}_{ext}"] = path
    return outputs
