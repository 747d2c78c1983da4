"""The whole DAG on the tiny config, in a temporary copy of the project, then DVC round trips."""

import hashlib
import json
import re
import shutil
import sys

import pytest
import torch
import yaml

from autospace.backbone import get_backbone
from autospace.builder import build_network
from autospace.profile import hook_cost
from autospace.space import load_space
from autospace.spec import load_spec
from workflow_helpers import REPO, TINY, dvc, snakemake, tiny_config

sys.path.insert(0, str(REPO / "workflow"))
import layout as L  # noqa: E402

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def digests(root, exp="tiny") -> dict[str, str]:
    base = root / "results" / exp
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file() and ".state" not in p.parts
            and p.name != ".gitignore" and p.name not in L.AUDIT_FILES}


@pytest.fixture
def run(tiny_run):
    return tiny_run


def test_every_artifact_exists_and_is_valid(run):
    repo, _ = run
    cfg = tiny_config()
    for job in L.jobs(cfg):
        for out in job["output"]:
            assert (repo / out).is_file() and (repo / out).stat().st_size > 0, out
    backbone = get_backbone(cfg["backbone"])
    learned = load_space(repo / L.space_file("tiny", "learned"), backbone)
    assert all(any(c.reference for c in layer) for layer in learned.layers)
    for space in cfg["spaces"]:
        for seed in cfg["seeds"]:
            nas_dir = repo / L.NAS.format(exp="tiny", space=space, seed=seed)
            spec = load_spec(nas_dir / "arch.json")
            nas = json.loads((nas_dir / "nas.json").read_text())
            measured = hook_cost(build_network(spec), (spec.in_channels, spec.resolution, spec.resolution))
            assert measured.madds == nas["madds"] <= nas["budget_madds"]
            train_dir = repo / L.TRAIN.format(exp="tiny", space=space, seed=seed)
            state = torch.load(train_dir / "model.pt", weights_only=True)
            assert state
            metrics = json.loads((train_dir / "metrics.json").read_text())
            assert 0.0 <= metrics["top1"] <= 1.0 and metrics["madds"] == measured.madds
    for g in range(cfg["evolution"]["generations"]):
        ck = repo / L.GEN.format(exp="tiny", gen=L.gen_name(g)) / "checkpoint.pt"
        assert torch.load(ck, weights_only=True)
    table = (repo / "results/tiny/tables/comparison.md").read_text()
    for space in cfg["spaces"]:
        assert f"| {space} |" in table
    resolved = yaml.safe_load((repo / "results/tiny/config.yaml").read_text())
    assert resolved["evolution"] == cfg["evolution"]


def test_logs_and_benchmarks_are_written(run):
    repo, _ = run
    assert (repo / "logs/tiny/warmup/job.log").is_file()
    assert (repo / "logs/tiny/evolve/gen_000.log").is_file()
    assert (repo / "results/tiny/benchmarks/train/learned_seed_0.tsv").is_file()


def test_dvc_yaml_matches_the_snakemake_dag(run):
    repo, _ = run
    summary = snakemake("--detailed-summary", "--configfile", TINY, cwd=repo).stdout.splitlines()
    header = summary[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in summary[1:] if "\t" in line]
    stages = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    outs = {next(iter(o)): name for name, st in stages.items() for o in st["outs"]}
    # besides the jobs' outputs, DVC records their benchmark files and the resolved config; the
    # audit's report is the one output DVC does not record (it audits DVC's records)
    extra = {o for o in outs if o.startswith("results/tiny/benchmarks/")} | {"results/tiny/config.yaml"}
    audit = {f"results/tiny/{f}" for f in L.AUDIT_FILES}
    assert {r["output_file"] for r in rows} - audit == {o for o in outs if o.startswith("results/tiny/")} - extra
    assert audit <= {r["output_file"] for r in rows}
    assert all((repo / f).is_file() for f in extra)
    for row in rows:
        if row["output_file"] in audit:
            continue
        stage = stages[outs[row["output_file"]]]
        inputs = {f for f in row["input-file(s)"].split(",") if f and f != "-"}
        assert inputs <= set(stage["deps"]), (row["output_file"], inputs - set(stage["deps"]))


def test_dvc_records_push_pull_round_trip(run, tmp_path):
    repo, _ = run
    stages = [name for name in yaml.safe_load((repo / "dvc.yaml").read_text())["stages"] if name.startswith("tiny-")]
    assert "up to date" in dvc("status", *stages, cwd=repo).stdout
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    assert sorted(lock) == sorted(stages)
    before = digests(repo)
    dvc("push", *stages, cwd=repo)
    shutil.rmtree(repo / "results")
    dvc("pull", *stages, cwd=repo)
    assert digests(repo) == before
    snakemake("--touch", "--cores", "1", "--configfile", TINY, cwd=repo)
    # the audit's report is not a DVC output: only the audit runs again
    proc = snakemake("--cores", "1", "--configfile", TINY, cwd=repo)
    assert set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M)) == {"audit", "all"}
    out = snakemake("-n", "--configfile", TINY, cwd=repo).stdout
    assert "Nothing to be done" in out
    metrics = dvc("metrics", "show", cwd=repo).stdout
    assert "results/tiny/train/learned/seed_0/metrics.json" in metrics


def test_report_has_tables_and_figures(run):
    repo, _ = run
    snakemake("--report", "report.html", "--configfile", TINY, cwd=repo)
    html = (repo / "report.html").read_text(errors="replace")
    for name in ("comparison.csv", "fitness.png", "training_curves.png"):
        assert name in html
