"""Malformed input, one table: each case goes through a real entry point (Snakemake for the
config, the workflow steps' library calls in their own process for files) and must give one line
naming the file and the key, a non-zero exit, and nothing written under results/."""

import gzip
import json
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
import yaml

from autospace.sections import FASHION_MNIST_FIELDS
from workflow_helpers import IMAGEFOLDER_BACKBONE, TINY, env, project_copy, snakemake, tiny_config

pytestmark = pytest.mark.workflow

REF = "n=4 e=6 x=1 act=relu6 att=none merge=sum,sum edges=0>1:conv1x1,1>2:dw3x3,2>3:conv1x1"

#: (override of the tiny config, the key the error must name)
CONFIG_CASES = [
    ({"experiment": "a/b"}, "experiment"),
    ({"experiment": "../up"}, "experiment"),
    ({"seed": "zero"}, "seed"),
    ({"threads": 0}, "threads"),
    ({"device": "tpu"}, "device"),
    ({"data": {"dataset": "cifar"}}, "data.dataset"),
    ({"data": {"search_val_size": -1}}, "data.search_val_size"),
    ({"evolution": {"population_size": 0}}, "evolution.population_size"),
    ({"evolution": {"mixing": "max"}}, "evolution.mixing"),
    ({"evolution": {"colour": 1}}, "evolution.colour"),
    ({"evolution": {"constraint": {"mode": "square"}}}, "evolution.constraint.mode"),
    ({"evolution": {"reference_cell": [REF.replace("1>2:dw3x3", "2>1:dw3x3")]}},
     "evolution.reference_cell[0].edges[2>1]"),  # a cycle: an edge back to an earlier node
    ({"evolution": {"reference_cell": [REF.replace("dw3x3", "dw4x4")]}}, "evolution.reference_cell[0].edges[1>2]"),
    ({"nas": {"algorithm": "enas"}}, "nas.algorithm"),
    ({"nas": {"budget_madds": -5}}, "nas.budget_madds"),
    ({"train": {"epochs": "ten"}}, "train.epochs"),
    ({"train": {"lr": -1.0}}, "train.lr"),
    ({"train": {"label_smoothing": 1.5}}, "train.label_smoothing"),
    ({"cell_space": {"edge_ops": ["none", "conv2x2"]}}, "cell_space.edge_ops[1]"),
    ({"spaces": ["learned", "darts"]}, "spaces[1]"),
    ({"backbone": "resnet"}, "backbone"),
    ({"evaluate": {"batch_size": "big"}}, "evaluate.batch_size"),
    # issue 14's rows (every other relation and broken value: tests/test_config_rules.py, in-process)
    ({"train": {"lr": float("nan")}}, "train.lr"),
    ({"evolution": {"weight_lr": float("inf")}}, "evolution.weight_lr"),
    ({"evolution": {"ema_beta": float("nan")}}, "evolution.ema_beta"),
    ({"nas": {"budget_ratio": float("nan")}}, "nas.budget_ratio"),  # was a ValueError from common.smk
    ({"train": {"warmup_epochs": 5}}, "train.warmup_epochs"),  # the tiny config trains 4 epochs
    ({"experiment": "a" * 300}, "experiment"),  # was a PeriodicWildcardError from train.smk
    ({"paper_comparison": "imagenet"}, "paper_comparison"),  # Fashion-MNIST is not ImageNet
    ({"distributed": {"processes": 3}, "nas": {"batch_size": 2}}, "distributed.processes"),  # a rank with no data
    ({"backbone": IMAGEFOLDER_BACKBONE}, "backbone.in_channels"),  # RGB backbone, 1-channel Fashion-MNIST
]


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    return project_copy(tmp_path_factory.mktemp("bad") / "repo")


def test_bad_config_is_refused_by_snakemake(project):
    """Every case at once (2 at a time): Snakemake validates the config before any job."""
    files = []
    for k, (override, _) in enumerate(CONFIG_CASES):
        path = project / f"bad_{k:02d}.yaml"
        path.write_text(yaml.safe_dump(override))
        files.append(path.name)
    with ThreadPoolExecutor(2) as pool:
        procs = list(pool.map(lambda f: snakemake("--cores", "1", "--configfile", TINY, f, cwd=project,
                                                  check=False), files))
    for f, (override, key), proc in zip(files, CONFIG_CASES, procs):
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, (override, out[-2000:])
        lines = [line for line in out.splitlines() if line.startswith(f"{project / TINY}, {project / f}: {key}: ")]
        assert len(lines) == 1, (override, key, out[-2000:])
    assert not (project / "results").exists() and not (project / "logs").exists()


def test_a_failed_job_leaves_no_benchmark_file(tmp_path):
    """Snakemake deletes a failed job's outputs, not its benchmark file (here a previous run's, as
    when a job rerun for a changed config fails): the Snakefile's onerror handler removes it and
    the folders the job left empty; jobs that finished keep theirs."""
    project = project_copy(tmp_path / "repo")
    (project / "bad.yaml").write_text(yaml.safe_dump({"data": {"root": str(tmp_path / "nowhere"),
                                                               "download": False}}))
    results = project / "results/tiny"
    stale = results / "benchmarks/prepare_data/job.tsv"
    stale.parent.mkdir(parents=True)
    stale.write_text("s\th:m:s\n1.0\t0:00:01\n")
    proc = snakemake("--cores", "1", "--configfile", TINY, "bad.yaml", cwd=project, check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Error in rule prepare_data" in out, out[-2000:]
    assert "removed results/tiny/benchmarks/prepare_data/job.tsv" in out
    assert not stale.parent.exists() and not (results / "data").exists()
    # hand_space needs no data: its jobs may finish first, their outputs and benchmarks together
    for bench in (results / "benchmarks").rglob("*.tsv"):
        assert bench.parent.name == "hand_space" and (results / "spaces" / f"{bench.stem}.json").is_file()
    left = {p.relative_to(results).parts[0] for p in results.rglob("*") if p.is_file()}
    assert left <= {"spaces", "benchmarks", "provenance"}, left


# ---------------------------------------------------------------------------------------- files

def _search_config():
    cfg = tiny_config()
    return {k: cfg[k] for k in ("seed", "device", "backbone", "cell_space", "evolution")}


def _nas_config(**nas):
    cfg = tiny_config()
    return {"seed": 0, "device": "cpu", "backbone": cfg["backbone"], "nas": {**cfg["nas"], **nas}}


def truncated_checkpoint(good, tmp):
    prev = tmp / "warmup"
    shutil.copytree(good / "search/warmup", prev)
    data = (prev / "checkpoint.pt").read_bytes()
    (prev / "checkpoint.pt").write_bytes(data[:len(data) // 2])
    call = ("autospace.search.evolution.steps", "run_generation", [_search_config(), str(good / "data"), str(prev), "OUT", 0])
    return call, prev / "checkpoint.pt", "checkpoint"


def unknown_operator_in_population(good, tmp):
    prev = tmp / "warmup"
    shutil.copytree(good / "search/warmup", prev)
    doc = json.loads((prev / "population.json").read_text())
    member = doc["layers"][0]["members"][0]
    member["cell"] = re.sub(r"(edges=0>\d+:)\w+", r"\1conv2x2", member["cell"], count=1)
    (prev / "population.json").write_text(json.dumps(doc))
    call = ("autospace.search.evolution.steps", "run_generation", [_search_config(), str(good / "data"), str(prev), "OUT", 0])
    return call, prev / "population.json", "layers[0].members[0].cell"


def space_missing_fields(good, tmp):
    space = tmp / "space.json"
    doc = json.loads((good / "spaces/reference.json").read_text())
    del doc["layers"]
    space.write_text(json.dumps(doc))
    call = ("autospace.search.nas.search", "search", [_nas_config(), str(space), str(good / "data"), "OUT"])
    return call, space, "layers"


def impossible_budget(good, tmp):
    space = tmp / "space.json"
    shutil.copy(good / "spaces/reference.json", space)
    nas = _nas_config(budget_madds=1000, budget_ratio=None)
    call = ("autospace.search.nas.search", "search", [nas, str(space), str(good / "data"), "OUT"])
    return call, None, "nas.budget"  # a config value: the message names the key and the space


def truncated_model(good, tmp):
    model = tmp / "model.pt"
    data = (good / "train/learned/seed_0/model.pt").read_bytes()
    model.write_bytes(data[:100])
    call = ("autospace.engine.evaluate", "evaluate", [str(good / "nas/learned/seed_0/arch.json"), str(model),
                                               str(good / "data"), "OUT/metrics.json", tiny_config()["evaluate"]])
    return call, model, "checkpoint"


def wrong_dataset_path(good, tmp):
    data = {**tiny_config()["data"], "root": str(tmp / "nowhere")}
    return ("autospace.data.prepare", "prepare", [data, 0, "OUT", FASHION_MNIST_FIELDS]), None, "data.root"


def dataset_wrong_md5(good, tmp):
    from autospace.data import datasets as data

    root = tmp / "fmnist"
    shutil.copytree(data.DEBIAN_ROOT, root)
    labels = root / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(raw)))
    cfg = {**tiny_config()["data"], "root": str(root)}
    return ("autospace.data.prepare", "prepare", [cfg, 0, "OUT", FASHION_MNIST_FIELDS]), labels, "md5"


def architecture_not_a_spec(good, tmp):
    arch = tmp / "arch.json"
    doc = json.loads((good / "nas/learned/seed_0/arch.json").read_text())
    doc["stages"][0]["width"] = -3
    arch.write_text(json.dumps(doc))
    cfg = {"seed": 0, "device": "cpu", "train": tiny_config()["train"]}
    call = ("autospace.engine.train", "train", [cfg, str(arch), str(good / "data"), "OUT", str(tmp / "state")])
    return call, arch, "stages[0].width"


FILE_CASES = [truncated_checkpoint, unknown_operator_in_population, space_missing_fields, impossible_budget,
              truncated_model, wrong_dataset_path, dataset_wrong_md5, architecture_not_a_spec]
RUNNER = """import importlib, json, sys
module, name, args = json.loads(sys.argv[1])
getattr(importlib.import_module(module), name)(*args)
"""


@pytest.mark.parametrize("case", FILE_CASES, ids=lambda c: c.__name__)
def test_bad_file_is_refused_by_its_step(tiny_run, tmp_path, case):
    good = tiny_run[0] / "results/tiny"
    (module, name, args), source, key = case(good, tmp_path)
    out = tmp_path / "results/out"
    args = json.loads(json.dumps(args).replace('"OUT', json.dumps(str(out))[:-1]))
    proc = subprocess.run([sys.executable, "-c", RUNNER, json.dumps([module, name, args])], env=env(),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    prefix = "autospace.errors.SpecError: " + (f"{source}: " if source else "")
    assert last.startswith(prefix) and f"{key}" in last[len(prefix):].split(": ")[0], last
    assert not out.exists()
