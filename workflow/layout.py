"""The results layout (a user-facing contract) and the list of jobs of one experiment.

Shared by the Snakemake rules (as patterns) and by ``dvc_sync.py`` (as concrete paths), so the
rules and the DVC stages cannot name different files. Paths are relative to the repo root.
"""

from __future__ import annotations

import posixpath

from autospace.outputs import DATA_FILES, METRICS, NAS_FILES, SEARCH_FILES, TRAIN_FILES  # noqa: F401

RESULTS = "results/{exp}"
DATA = RESULTS + "/data"
WARMUP = RESULTS + "/search/warmup"
GEN = RESULTS + "/search/gen_{gen}"
SPACE_LEARNED = RESULTS + "/search/space.json"
SPACE_HAND = RESULTS + "/spaces/{space}.json"
NAS = RESULTS + "/nas/{space}/seed_{seed}"
TRAIN = RESULTS + "/train/{space}/seed_{seed}"
TABLES = RESULTS + "/tables"
FIGURES = RESULTS + "/figures"
RESOLVED_CONFIG = RESULTS + "/config.yaml"
LOGS = "logs/{exp}/{rule}"
BENCH = RESULTS + "/benchmarks/{rule}"
PROVENANCE = RESULTS + "/provenance/{rule}"  # one lineage record per job (autospace.provenance)
AUDIT_FILES = ("audit.json", "audit.md")  # written by the audit rule; not DVC outputs (they audit them)
STATE = RESULTS + "/.state"  # resumable state: not a declared output, so Snakemake never deletes it
#: A variant of experiment <exp> is the experiment ``<exp>/variants/<name>``: the same layout
#: below it (search, nas, train, logs, benchmarks), with the data shared from results/<exp>/data.
VARIANT = "{exp}/variants/{variant}"

#: What each step writes into its folder is the library's (autospace/outputs.py, torch-free):
#: DATA_FILES, SEARCH_FILES, NAS_FILES, TRAIN_FILES, METRICS.
TABLE_FILES = ("comparison.csv", "comparison.md", "data_splits.csv", "data_splits.md", "nas_choices.csv",
               "nas_choices.md") + tuple(
    f"{t}.{ext}" for t in ("t2_spaces", "t3_budgets", "t4_ablations") for ext in ("csv", "md", "tex"))
#: The rules whose jobs T5 (search cost) sums, in table order.
SEARCH_COST_STAGES = ("prepare_data", "warmup", "evolve", "export_space", "hand_space", "nas", "train", "evaluate")
PAPER_TABLE_FILES = tuple(f"{t}.{ext}" for t in ("t1_imagenet", "t5_search_cost") for ext in ("csv", "md", "tex"))
FIGURE_FILES = tuple(f"{f}.{ext}" for f in ("fitness", "training_curves", "diversity", "cells", "pareto")
                     for ext in ("png", "pdf")) + ("diversity.csv", "pareto.csv")
LEARNED = "learned"


def job_name(wildcards: dict) -> str:
    """A job's log and benchmark file name: ``job``, ``gen_000``, ``learned_seed_0``, ``reference``."""
    if not wildcards:
        return "job"
    return "_".join(v if k == "space" else f"{k}_{v}" for k, v in wildcards.items())


def benchmark_file(job: dict) -> str:
    """The Snakemake benchmark file of a job (wall time, memory): a DVC output of its stage too."""
    return f"{BENCH.format(exp=job['exp'], rule=job['rule'])}/{job_name(job['wildcards'])}.tsv"


def provenance_file(job: dict) -> str:
    """The provenance record of a job (written by the job itself): a DVC output of its stage too."""
    return f"{PROVENANCE.format(exp=job['exp'], rule=job['rule'])}/{job_name(job['wildcards'])}.json"


def audit_layout(exp: str) -> dict:
    """The results folder's layout as the audit takes it (``autospace.audit.Layout``): glob
    patterns relative to ``results/<exp>``, each for the experiment and for its variants."""
    results = RESULTS.format(exp=exp)

    def inner(template: str, tail: str = "", **fields) -> list[str]:
        return [posixpath.relpath(template.format(exp=e, **fields), results) + tail
                for e in (exp, variant_exp(exp, "*"))]

    records = inner(PROVENANCE, "/*.json", rule="*")
    configs = inner(RESOLVED_CONFIG)
    return {"root": posixpath.relpath(".", results), "records": records,
            "unrecorded": inner(BENCH, "/*.tsv", rule="*") + records + configs, "outside_dvc": configs,
            "ignored": inner(STATE, "/**") + list(AUDIT_FILES), "reports": list(AUDIT_FILES)}


def gen_name(g: int) -> str:
    return f"{g:03d}"


def space_file(exp: str, space: str) -> str:
    """Where a space document lives: the evolved one under search/, hand-designed under spaces/."""
    return SPACE_LEARNED.format(exp=exp) if space == LEARNED else SPACE_HAND.format(exp=exp, space=space)


def variant_exp(exp: str, name: str) -> str:
    """The experiment path of a variant: ``<exp>/variants/<name>``."""
    return VARIANT.format(exp=exp, variant=name)


def variant_name(exp: str, job_exp: str) -> str | None:
    """The variant a job's experiment path belongs to (None: the experiment itself)."""
    return None if job_exp == exp else job_exp.rsplit("/", 1)[-1]


def evaluated(jobs: list[dict], exp: str | None = None, space: str | None = None) -> list[str]:
    """The metrics files of the evaluate jobs (of one experiment path and/or space)."""
    return [f for job in jobs if job["rule"] == "evaluate" and exp in (None, job["exp"])
            and space in (None, job["wildcards"]["space"]) for f in job["output"]]


def variants(config: dict) -> dict[str, dict]:
    """Each variant's name -> its full config (see autospace/variants.py)."""
    from autospace.variants import variant_configs

    return variant_configs(config)


def _search(exp: str, data: list[str], generations: int) -> list[dict]:
    warm = [f"{WARMUP.format(exp=exp)}/{f}" for f in SEARCH_FILES]
    out = [{"rule": "warmup", "exp": exp, "wildcards": {}, "input": data, "output": warm}]
    prev = warm
    for g in range(generations):
        gen = [f"{GEN.format(exp=exp, gen=gen_name(g))}/{f}" for f in SEARCH_FILES]
        out.append({"rule": "evolve", "exp": exp, "wildcards": {"gen": gen_name(g)}, "input": data + prev[:2],
                    "output": gen})
        prev = gen
    out.append({"rule": "export_space", "exp": exp, "wildcards": {}, "input": prev[:2],
                "output": [SPACE_LEARNED.format(exp=exp)]})
    return out


def _runs(exp: str, data: list[str], spaces: list[str], seeds: list[int]) -> list[dict]:
    out = []
    for space in spaces:
        if space != LEARNED:
            out.append({"rule": "hand_space", "exp": exp, "wildcards": {"space": space}, "input": [],
                        "output": [space_file(exp, space)]})
        for seed in seeds:
            wc = {"space": space, "seed": str(seed)}
            nas = [f"{NAS.format(exp=exp, **wc)}/{f}" for f in NAS_FILES]
            train_dir = TRAIN.format(exp=exp, **wc)
            train = [f"{train_dir}/{f}" for f in TRAIN_FILES]
            out.append({"rule": "nas", "exp": exp, "wildcards": wc, "input": data + [space_file(exp, space)],
                        "output": nas})
            out.append({"rule": "train", "exp": exp, "wildcards": wc, "input": data + nas[:1], "output": train})
            out.append({"rule": "evaluate", "exp": exp, "wildcards": wc, "input": data + nas[:1] + train[:1],
                        "output": [f"{train_dir}/{METRICS}"]})
    return out


def _outputs(jobs: list[dict], rule: str, name: str | None = None) -> list[str]:
    return [f for job in jobs if job["rule"] == rule for f in job["output"] if name is None or f.endswith(name)]


def jobs(config: dict) -> list[dict]:
    """Every job of the experiment and its variants: rule, experiment path (``exp``), wildcards,
    input files, output files (concrete paths)."""
    exp = config["experiment"]
    data = [f"{DATA.format(exp=exp)}/{f}" for f in DATA_FILES]
    out = [{"rule": "prepare_data", "exp": exp, "wildcards": {}, "input": [], "output": data}]
    out += _search(exp, data, config["evolution"]["generations"])
    out += _runs(exp, data, config["spaces"], config["seeds"])
    main = list(out)
    for name, cfg in variants(config).items():
        out += _search(variant_exp(exp, name), data, cfg["evolution"]["generations"])
        out += _runs(variant_exp(exp, name), data, [LEARNED], config["variants"]["seeds"])
    metrics = _outputs(out, "evaluate")
    spaces = _outputs(out, "export_space")  # the learned spaces, for T3
    nas = _outputs(out, "nas", "/nas.json")
    out.append({"rule": "tables", "exp": exp, "wildcards": {}, "input": metrics + spaces + nas + data[1:],
                "output": [f"{TABLES.format(exp=exp)}/{f}" for f in TABLE_FILES]})
    out.append({"rule": "paper_tables", "exp": exp, "wildcards": {}, "input": _outputs(main, "evaluate"),
                "output": [f"{TABLES.format(exp=exp)}/{f}" for f in PAPER_TABLE_FILES]})
    gens = _outputs(main, "evolve", "/population.json")
    out.append({"rule": "figures", "exp": exp, "wildcards": {},
                "input": gens + [SPACE_LEARNED.format(exp=exp)] + _outputs(main, "train", "/log.csv") + metrics,
                "output": [f"{FIGURES.format(exp=exp)}/{f}" for f in FIGURE_FILES]})
    return out


#: The config keys each rule reads: its Snakemake params and provenance params; dvc.yaml names the
#: same keys as its stages' params (a test checks them).
RULE_PARAMS = {
    "prepare_data": ["seed", "data", "backbone"],
    "warmup": ["seed", "device", "backbone", "cell_space", "evolution", "distributed"],
    "evolve": ["seed", "device", "backbone", "cell_space", "evolution", "distributed"],
    "export_space": ["seed", "device", "backbone", "cell_space", "evolution"],
    "hand_space": ["backbone", "evolution.reference_cell"],
    "nas": ["device", "backbone", "nas", "distributed"],
    "train": ["device", "train", "distributed"],
    "evaluate": ["evaluate", "nas.algorithm"],
    "tables": ["paper_comparison", "backbone", "nas.budget_madds", "nas.budget_ratio", "variants"],
    "paper_tables": ["device", "paper_comparison", "nas.budget_madds", "nas.budget_ratio", "backbone"],
    "figures": [],
}


def final_targets(config: dict) -> list[str]:
    """What ``rule all`` asks for: the tables and the figures (and so everything before them)."""
    return [f for job in jobs(config) if job["rule"] in ("tables", "paper_tables", "figures") for f in job["output"]]
