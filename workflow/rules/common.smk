# Config validation (JSON schema, then the library's own checks) and helpers shared by the rules.
import posixpath
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, workflow.basedir)
sys.path.insert(0, str(Path(workflow.basedir).parent))

import layout as L  # noqa: E402
from autospace.backbone import get_backbone  # noqa: E402
from autospace.runconfig import config_error, write_resolved_config  # noqa: E402


CONFIG_FILES = [str(f) for f in (workflow.overwrite_configfiles or workflow.configfiles)] or ["config"]
SCHEMA = yaml.safe_load(Path(workflow.basedir, "schemas", "config.schema.yaml").read_text())
problem = config_error(config, SCHEMA, ", ".join(CONFIG_FILES))
if problem:
    raise ValueError(problem)

EXP = config["experiment"]
GENERATIONS = config["evolution"]["generations"]
LAST = L.WARMUP if GENERATIONS == 0 else L.GEN.format(exp="{exp}", gen=L.gen_name(GENERATIONS - 1))


wildcard_constraints:
    gen=r"\d{3}",
    seed=r"\d+",
    space=r"[a-z][a-z0-9_]*",


def path(template, **wc):
    """A layout template with the experiment filled in and other fields kept as wildcards."""
    fields = {"exp": EXP, "gen": "{gen}", "space": "{space}", "seed": "{seed}"}
    fields.update(wc)
    return template.format(**fields)


def under(template, name, **wc):
    """A file ``name`` inside the folder of a layout template."""
    return posixpath.join(path(template, **wc), name)


def files(template, names, **wc):
    """Named outputs/inputs: one per file of a layout folder, named by the file's stem."""
    return {Path(n).stem: under(template, n, **wc) for n in names}


def log_file(rule, name="job"):
    return posixpath.join(L.LOGS.format(exp=EXP, rule=rule), f"{name}.log")


def bench_file(rule, name="job"):
    return posixpath.join(L.BENCH.format(exp=EXP, rule=rule), f"{name}.tsv")


def provenance_file(rule, name="job"):
    return posixpath.join(L.PROVENANCE.format(exp=EXP, rule=rule), f"{name}.json")


def config_value(key):
    """A config value by dotted key (``nas.algorithm``)."""
    value = config
    for part in key.split("."):
        value = value[part]
    return value


def lineage(rule):
    """A params function giving the job's provenance request, in plain values, to
    ``autospace.runtime.job``: the rule, wildcards, the config values it reads (its DVC params),
    its input and output files, and where the record goes (the ``provenance`` output)."""

    def values(wildcards, input, output):
        return {"rule": rule, "wildcards": dict(wildcards.items()),
                "params": {key: config_value(key) for key in L.RULE_PARAMS[rule]},
                "input": [str(f) for f in input],
                "output": [str(f) for f in output if f != output.provenance],
                "path": str(output.provenance)}

    return values


SEARCH_KEYS = ("seed", "device", "backbone", "cell_space", "evolution")


def previous_generation(wildcards):
    g = int(wildcards.gen)
    prev = path(L.WARMUP) if g == 0 else path(L.GEN, gen=L.gen_name(g - 1))
    return {"checkpoint": posixpath.join(prev, "checkpoint.pt"), "population": posixpath.join(prev, "population.json")}


def get_nas_budget():
    """The NAS MAdds budget of this config, resolved against the backbone's reference network."""
    from autospace.counter import network_cost
    from autospace.nas.config import NASConfig

    reference = network_cost(get_backbone(config["backbone"]).reference_network()).madds
    return NASConfig.from_dict(config["nas"]).budget(reference)


def final_targets(cfg):
    return L.final_targets(cfg)


def section(*keys):
    """The config sections a rule uses, passed through params so a change reruns the rule."""
    return {k: config[k] for k in keys}


def record_with_dvc():
    """After a successful run: write the fully resolved config to results/<experiment>/config.yaml,
    regenerate this experiment's DVC stages and record every completed output's hash in dvc.lock
    (Snakemake drives, DVC records). The DVC part is skipped when DVC is not set up here."""
    write_resolved_config(config, L.RESOLVED_CONFIG.format(exp=EXP))
    root = Path(workflow.basedir).parent
    if not (root / ".dvc").is_dir() or not config["dvc"]["record"]:
        return
    cmd = [sys.executable, str(Path(workflow.basedir) / "dvc_sync.py"), "--commit"]
    for f in CONFIG_FILES:
        cmd += ["--configfile", f]
    subprocess.run(cmd, check=True, cwd=root)
