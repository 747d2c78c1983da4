"""The results layout (a user-facing contract) and the list of jobs of one experiment.

Shared by the Snakemake rules (as patterns) and by ``dvc_sync.py`` (as concrete paths), so the
rules and the DVC stages cannot name different files. Paths are relative to the repo root.
"""

from __future__ import annotations

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

DATA_FILES = ("dataset.pt", "split.json")
SEARCH_FILES = ("checkpoint.pt", "population.json", "sampled.json", "metrics.json", "config.json")
NAS_FILES = ("arch.json", "nas.json", "config.json")
TRAIN_FILES = ("model.pt", "log.csv", "config.json")
METRICS = "metrics.json"
TABLE_FILES = ("comparison.csv", "comparison.md")
PAPER_TABLE_FILES = tuple(f"{t}.{ext}" for t in ("t1_imagenet", "t5_search_cost") for ext in ("csv", "md", "tex"))
FIGURE_FILES = ("fitness.png", "fitness.pdf", "training_curves.png", "training_curves.pdf")
LEARNED = "learned"


def job_name(wildcards: dict) -> str:
    """A job's log and benchmark file name: ``job``, ``gen_000``, ``learned_seed_0``, ``reference``."""
    if not wildcards:
        return "job"
    return "_".join(v if k == "space" else f"{k}_{v}" for k, v in wildcards.items())


def benchmark_file(exp: str, job: dict) -> str:
    """The Snakemake benchmark file of a job (wall time, memory): a DVC output of its stage too."""
    return f"{BENCH.format(exp=exp, rule=job['rule'])}/{job_name(job['wildcards'])}.tsv"


def provenance_file(exp: str, job: dict) -> str:
    """The provenance record of a job (written by the job itself): a DVC output of its stage too."""
    return f"{PROVENANCE.format(exp=exp, rule=job['rule'])}/{job_name(job['wildcards'])}.json"


def gen_name(g: int) -> str:
    return f"{g:03d}"


def space_file(exp: str, space: str) -> str:
    """Where a space document lives: the evolved one under search/, hand-designed under spaces/."""
    return SPACE_LEARNED.format(exp=exp) if space == LEARNED else SPACE_HAND.format(exp=exp, space=space)


def jobs(config: dict) -> list[dict]:
    """Every job of the experiment: rule, wildcards, input files, output files (concrete paths)."""
    exp = config["experiment"]
    data = [f"{DATA.format(exp=exp)}/{f}" for f in DATA_FILES]
    out = [{"rule": "prepare_data", "wildcards": {}, "input": [], "output": data}]
    warm = [f"{WARMUP.format(exp=exp)}/{f}" for f in SEARCH_FILES]
    out.append({"rule": "warmup", "wildcards": {}, "input": data, "output": warm})
    prev = warm
    generations = config["evolution"]["generations"]
    for g in range(generations):
        gen = [f"{GEN.format(exp=exp, gen=gen_name(g))}/{f}" for f in SEARCH_FILES]
        out.append({"rule": "evolve", "wildcards": {"gen": gen_name(g)}, "input": data + prev[:2],
                    "output": gen})
        prev = gen
    out.append({"rule": "export_space", "wildcards": {}, "input": prev[:2],
                "output": [SPACE_LEARNED.format(exp=exp)]})
    metrics = []
    for space in config["spaces"]:
        if space != LEARNED:
            out.append({"rule": "hand_space", "wildcards": {"space": space}, "input": [],
                        "output": [space_file(exp, space)]})
        for seed in config["seeds"]:
            wc = {"space": space, "seed": str(seed)}
            nas = [f"{NAS.format(exp=exp, **wc)}/{f}" for f in NAS_FILES]
            train_dir = TRAIN.format(exp=exp, **wc)
            train = [f"{train_dir}/{f}" for f in TRAIN_FILES]
            out.append({"rule": "nas", "wildcards": wc, "input": data + [space_file(exp, space)], "output": nas})
            out.append({"rule": "train", "wildcards": wc, "input": data + nas[:1], "output": train})
            out.append({"rule": "evaluate", "wildcards": wc, "input": data + nas[:1] + train[:1],
                        "output": [f"{train_dir}/{METRICS}"]})
            metrics.append(f"{train_dir}/{METRICS}")
    tables = [f"{TABLES.format(exp=exp)}/{f}" for f in TABLE_FILES]
    out.append({"rule": "tables", "wildcards": {}, "input": metrics, "output": tables})
    out.append({"rule": "paper_tables", "wildcards": {}, "input": metrics,
                "output": [f"{TABLES.format(exp=exp)}/{f}" for f in PAPER_TABLE_FILES]})
    gens = [f"{GEN.format(exp=exp, gen=gen_name(g))}/population.json" for g in range(generations)]
    logs = [m.replace(METRICS, "log.csv") for m in metrics]
    out.append({"rule": "figures", "wildcards": {}, "input": gens + logs,
                "output": [f"{FIGURES.format(exp=exp)}/{f}" for f in FIGURE_FILES]})
    return out


#: The config keys each rule reads (its Snakemake params; DVC tracks them as stage params).
RULE_PARAMS = {
    "prepare_data": ["seed", "data", "backbone"],
    "warmup": ["seed", "device", "backbone", "cell_space", "evolution", "distributed"],
    "evolve": ["seed", "device", "backbone", "cell_space", "evolution", "distributed"],
    "export_space": ["seed", "device", "backbone", "cell_space", "evolution"],
    "hand_space": ["backbone", "evolution.reference_cell"],
    "nas": ["device", "backbone", "nas", "distributed"],
    "train": ["device", "train", "distributed"],
    "evaluate": ["evaluate", "nas.algorithm"],
    "tables": [],
    "paper_tables": ["device", "data.dataset", "nas.budget_madds", "nas.budget_ratio", "backbone"],
    "figures": [],
}


def final_targets(config: dict) -> list[str]:
    """What ``rule all`` asks for: the tables and the figures (and so everything before them)."""
    return [f for job in jobs(config) if job["rule"] in ("tables", "paper_tables", "figures") for f in job["output"]]
