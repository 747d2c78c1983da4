"""Reliability on the tiny config: determinism, audit and tamper detection, isolation, and
resuming after SIGKILL (issue 7)."""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import pytest
import torch
import yaml

from workflow_helpers import BIN, REPO, TINY, copy_run, dvc, env, project_copy, snakemake, tiny_config

sys.path.insert(0, str(REPO / "workflow"))
import layout as L  # noqa: E402

pytestmark = [pytest.mark.workflow, pytest.mark.slow]
#: Files that are timings: Snakemake's benchmarks and T5 (made from them).
TIMING = re.compile(r"^results/[^/]+/(variants/[^/]+/)?(benchmarks/.*|tables/t5_search_cost\.\w+)$")
#: Measured times inside otherwise reproducible files: JSON keys, and table columns.
TIMING_KEYS = {"wall_time_s", "latency_ms"}
TIMED = re.compile(r"(/metrics\.json|/tables/comparison\.\w+)$")


def _untimed(rel: str, data: bytes) -> bytes:
    """``data`` without its measured times: timing keys of JSON, latency columns of tables."""
    if rel.endswith(".json"):
        def drop(value):
            if isinstance(value, dict):
                return {k: drop(v) for k, v in value.items() if k not in TIMING_KEYS}
            return [drop(v) for v in value] if isinstance(value, list) else value

        return json.dumps(drop(json.loads(data)), sort_keys=True).encode()
    sep = "," if rel.endswith(".csv") else "|"
    rows = [line.split(sep) for line in data.decode().splitlines()]
    keep = [k for k, name in enumerate(rows[0]) if "latency" not in name.lower()]
    return "\n".join(sep.join(row[k] for k in keep if k < len(row)) for row in rows).encode()


def reproducible(root, exp="tiny") -> dict[str, str]:
    """The content hash of every artifact of ``exp`` without its measured times: timing files,
    resumable state, DVC's .gitignore files and the audit's report (it hashes timing files) left
    out; timing keys and latency columns masked; provenance records without their ``run`` part
    (times, host) and without the hashes of files that hold times."""
    out = {}
    for p in sorted((root / "results" / exp).rglob("*")):
        rel = str(p.relative_to(root))
        if not p.is_file() or TIMING.match(rel) or ".state" in p.parts or p.name == ".gitignore" \
                or p.name in L.AUDIT_FILES:
            continue
        data = p.read_bytes()
        if "/provenance/" in rel:
            rec = json.loads(data)
            del rec["run"]
            for side in ("inputs", "outputs"):
                rec[side] = {k: v for k, v in rec[side].items() if not (TIMING.match(k) or TIMED.search(k))}
            data = json.dumps(rec, sort_keys=True).encode()
        elif TIMED.search(rel):
            data = _untimed(rel, data)
        out[rel] = hashlib.sha256(data).hexdigest()
    return out


def audit_cli(repo, *args):
    return subprocess.run([sys.executable, "workflow/audit_run.py", "results/tiny", *args], cwd=repo,
                          env=env(), capture_output=True, text=True)


def flip_byte(path):
    """Change one byte near the middle of ``path``; in a JSON file a digit, so that it still
    parses (the change, not a broken file, is what the audit must find)."""
    data = bytearray(path.read_bytes())
    k = len(data) // 2
    if path.suffix == ".json":
        k = next(j for j in range(k, len(data)) if chr(data[j]).isdigit())
        data[k] = ord("1") if data[k] != ord("1") else ord("2")
    else:
        data[k] ^= 0x01
    path.write_bytes(bytes(data))


# ---------------------------------------------------------------------------------------- determinism

def test_same_seed_same_artifacts(tiny_run, second_run):
    """Two runs of the same config in two copies (the second through SLURM where it runs, up to
    one evaluated network: every rule that trains or writes a checkpoint) make the same bytes,
    times and SLURM's own files aside."""
    repo, _ = tiny_run
    first, second = reproducible(repo), reproducible(second_run.repo)
    assert second.keys() <= first.keys(), sorted(second.keys() - first.keys())
    made = {p.split("/")[2] for p in second if "/provenance/" not in p}
    assert {"data", "search", "nas", "train"} <= made, made
    assert {p.split("/")[3] for p in second if "/provenance/" in p} == {
        "prepare_data", "warmup", "evolve", "export_space", "nas", "train", "evaluate"}
    differ = [p for p in second if first[p] != second[p]]
    assert not differ, differ
    prov = json.loads((repo / "results/tiny/provenance/train/learned_seed_0.json").read_text())
    assert prov["code"]["dirty"] is False and prov["run"]["seconds"] >= 0


def test_other_seed_other_population(tiny_run, tmp_path):
    repo, _ = tiny_run
    other = project_copy(tmp_path / "repo")
    (other / "seed1.yaml").write_text("seed: 1\n")
    target = "results/tiny/search/warmup/population.json"
    snakemake(target, "--cores", "2", "--configfile", TINY, "seed1.yaml", cwd=other)
    assert (other / target).read_bytes() != (repo / target).read_bytes()


# ---------------------------------------------------------------------------------------- audit

def test_every_artifact_has_provenance(tiny_run):
    repo, _ = tiny_run
    cfg = tiny_config()
    configs = {"tiny": cfg} | {L.variant_exp("tiny", name): c for name, c in L.variants(cfg).items()}
    assert len(configs) > 1  # the variants' jobs are recorded too
    for job in L.jobs(cfg):
        rec = json.loads((repo / L.provenance_file(job)).read_text())
        wildcards = dict(rec["wildcards"])
        assert rec["rule"] == job["rule"] and wildcards.pop("exp", job["exp"]) == job["exp"]
        assert wildcards == job["wildcards"]
        assert set(rec["outputs"]) == set(job["output"]) and set(rec["inputs"]) == set(job["input"])
        assert all(v and len(v) == 64 for v in [*rec["inputs"].values(), *rec["outputs"].values()])
        assert rec["params"] == {k: _dotted(configs[job["exp"]], k) for k in L.RULE_PARAMS[job["rule"]]}
        assert set(rec["packages"]) >= {"python", "torch", "torchvision", "numpy", "snakemake", "dvc"}
        assert re.fullmatch(r"[0-9a-f]{40}", rec["code"]["commit"]) and rec["device"]["resolved"] == "cpu"
        assert {"start", "end", "seconds", "host"} <= set(rec["run"])


def _dotted(cfg, key):
    for part in key.split("."):
        cfg = cfg[part]
    return cfg


def test_every_checkpoint_loads_weights_only(tiny_run):
    repo, _ = tiny_run
    checkpoints = sorted((repo / "results/tiny").rglob("*.pt"))
    assert len(checkpoints) >= 8  # dataset, warm-up, generations, models (and training state)
    for path in checkpoints:
        assert isinstance(torch.load(path, map_location="cpu", weights_only=True), dict), path


def test_audit_rule_and_cli_pass_on_a_clean_run(tiny_run):
    repo, _ = tiny_run
    rule_report = json.loads((repo / "results/tiny/audit.json").read_text())
    assert rule_report["ok"] and not rule_report["dvc"]
    proc = audit_cli(repo)
    assert proc.returncode == 0, proc.stderr
    report = json.loads((repo / "results/tiny/audit.json").read_text())
    assert report["ok"] and report["dvc"]
    checked = {e["path"]: e["checks"] for e in report["artifacts"]}
    assert checked["results/tiny/search/gen_001/population.json"] == {"dvc": "ok", "lineage": "ok", "validity": "ok"}
    # every artifact is in dvc.lock, except the resolved configs: derived from config/config.yaml
    # (a DVC param), they are not DVC outputs
    resolved = {p for p in checked if p.endswith("/config.yaml") and "/train/" not in p}
    assert resolved and all("dvc" not in checked[p] for p in resolved)
    assert all(c.get("dvc") == "ok" for p, c in checked.items() if p not in resolved)
    assert "0 failing" in (repo / "results/tiny/audit.md").read_text()


@pytest.mark.parametrize("artifact", ["search/gen_001/population.json", "search/gen_001/checkpoint.pt",
                                      "train/learned/seed_0/model.pt"])
def test_audit_names_a_changed_artifact(tiny_run, tmp_path, artifact):
    repo = tmp_path / "repo"
    copy_run(tiny_run[0], repo)
    path = f"results/tiny/{artifact}"
    flip_byte(repo / path)
    proc = audit_cli(repo)
    assert proc.returncode == 1
    report = json.loads((repo / "results/tiny/audit.json").read_text())
    assert list(report["failures"]) == [path]
    assert set(report["failures"][path]) >= {f"dvc: content differs from dvc.lock (md5 "
                                             f"{_lock_md5(repo, path)})"}
    assert [line.split(":")[0] for line in proc.stderr.splitlines()] == [f"FAIL {path}"]
    # without DVC's record the provenance record still catches it
    proc = audit_cli(repo, "--no-dvc")
    assert proc.returncode == 1
    assert list(json.loads((repo / "results/tiny/audit.json").read_text())["failures"]) == [path]


def _lock_md5(repo, path):
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    return next(o["md5"] for st in lock.values() for o in st["outs"] if o["path"] == path)


@pytest.mark.parametrize("table", ["tables/comparison.md", "tables/t2_spaces.tex", "tables/t3_budgets.csv",
                                   "tables/t4_ablations.md", "tables/nas_choices.csv", "figures/pareto.csv",
                                   "figures/diversity.csv", "tables/t1_imagenet.csv"])
def test_audit_names_a_table_that_disagrees_with_its_metrics(tiny_run, tmp_path, table):
    """A table (or a figure's data) edited together with its provenance record still fails validity:
    the audit recomputes it from what the record says it was made of."""
    repo = tmp_path / "repo"
    copy_run(tiny_run[0], repo)
    table = f"results/tiny/{table}"
    text = (repo / table).read_text()
    forged = re.sub(r"(\d)\.(\d)", lambda m: f"{m[1]}.{(int(m[2]) + 1) % 10}", text, count=1)
    assert forged != text
    (repo / table).write_text(forged)
    prov = next(p for p in (repo / "results/tiny/provenance").rglob("*.json")
                if table in json.loads(p.read_text())["outputs"])
    rec = json.loads(prov.read_text())
    rec["outputs"][table] = hashlib.sha256((repo / table).read_bytes()).hexdigest()
    prov.write_text(json.dumps(rec, indent=2, sort_keys=True) + "\n")
    proc = audit_cli(repo, "--no-dvc")
    assert proc.returncode == 1
    failures = json.loads((repo / "results/tiny/audit.json").read_text())["failures"]
    assert failures == {table: ["validity: differs from the table recomputed from the metrics it was made from"]}


# ---------------------------------------------------------------------------------------- isolation

def _start(repo, *args):
    return subprocess.Popen([str(BIN / "snakemake"), *args], cwd=repo, env=env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for(cond, proc, timeout=600):
    """Poll ``cond`` until it holds (True) or ``proc`` exits first (False)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        if proc.poll() is not None:
            return cond()
        time.sleep(0.05)
    raise AssertionError("timed out")


def _kill(proc):
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _snapshot(repo):
    return {str(p.relative_to(repo)): (p.stat().st_mtime_ns, p.stat().st_size)
            for d in ("results", "logs") for p in (repo / d).rglob("*")}


def test_second_snakemake_in_the_same_directory_is_refused(tmp_path):
    repo = project_copy(tmp_path / "repo")
    first = _start(repo, "--cores", "1", "--configfile", TINY)
    try:
        assert _wait_for(lambda: (repo / "logs/tiny/prepare_data/job.log").exists(), first)
        os.killpg(first.pid, signal.SIGSTOP)  # freeze the first run, so only the second could change files
        before = _snapshot(repo)
        second = snakemake("--cores", "1", "--configfile", TINY, cwd=repo, check=False)
        assert second.returncode != 0
        assert "Directory cannot be locked" in second.stdout + second.stderr
        assert _snapshot(repo) == before
    finally:
        os.killpg(first.pid, signal.SIGCONT)
        _kill(first)


def test_two_experiments_never_share_results_or_dvc_records(tiny_run, tmp_path):
    """A second experiment (a --configfile over the default) plans only its own results, and its
    run is not recorded by DVC, which describes config/config.yaml's pipeline: dvc.yaml, the jobs
    file and dvc.lock stay as they were."""
    repo = tmp_path / "repo"
    copy_run(tiny_run[0], repo)
    (repo / "other.yaml").write_text("experiment: tiny-b\n")  # a name that starts like the other's
    records = {f: (repo / f).read_text() for f in ("dvc.yaml", "dvc.lock", "config/dvc-jobs.yaml")}
    dry = snakemake("-n", "--configfile", TINY, "other.yaml", cwd=repo).stdout
    planned = set(re.findall(r"results/[^/\s,]+/", dry))
    assert planned == {"results/tiny-b/"}, planned
    proc = snakemake("results/tiny-b/spaces/reference.json", "--cores", "1", "--configfile", TINY, "other.yaml",
                     cwd=repo)
    assert "DVC: not recorded in dvc.lock" in proc.stderr
    assert {f: (repo / f).read_text() for f in records} == records
    assert "up to date" in dvc("status", cwd=repo).stdout


# ---------------------------------------------------------------------------------------- fault injection

RESUMED = re.compile(r"resumed from step \d+")


def _kill_and_resume(tiny_run, tmp_path, rule, target, state_cond, log):
    """Copy the finished tiny run, remove ``target`` so that only the job that makes it has to run
    again (its inputs are the finished run's, with their Snakemake records), run it, SIGKILL the
    whole run once ``state_cond(repo)`` (resumable state written), run the same command again;
    returns the repo and the job's log."""
    repo = tmp_path / "repo"
    copy_run(tiny_run[0], repo)
    (repo / target).unlink()
    args = (target, "--cores", "2", "--configfile", TINY)
    run = _start(repo, *args)
    killed = _wait_for(lambda: state_cond(repo), run)
    if run.poll() is None:
        _kill(run)
    if not killed:
        pytest.fail(f"the run finished without writing resumable state:\n{run.stdout.read()[-3000:]}")
    snakemake("--unlock", *args, cwd=repo)  # a killed Snakemake leaves its lock behind
    proc = snakemake(*args, cwd=repo)
    ran = set(re.findall(r"^(?:local)?rule (\w+):", proc.stdout + proc.stderr, re.M))
    assert ran == {rule}, f"only {rule} was to run again, not {ran}"
    return repo, (repo / log).read_text()


def _same_as_uninterrupted(repo, reference):
    mine, ref = reproducible(repo), reproducible(reference)
    differ = [p for p in mine if mine[p] != ref.get(p)]
    assert not differ, differ


def _state(pattern):
    return lambda repo: any(re.search(pattern, str(p)) for p in (repo / "results/tiny/.state").rglob("*")
                            if p.is_file() and not p.name.endswith(".tmp"))


def test_sigkill_during_final_training_resumes(tiny_run, tmp_path):
    state = "results/tiny/.state/train/learned/seed_0/last.pt"
    repo, log = _kill_and_resume(tiny_run, tmp_path, "train", "results/tiny/train/learned/seed_0/model.pt",
                                 lambda r: (r / state).is_file(), "logs/tiny/train/learned_seed_0.log")
    assert RESUMED.search(log), log
    _same_as_uninterrupted(repo, tiny_run[0])
    assert (repo / "results/tiny/train/learned/seed_0/model.pt").read_bytes() == \
        (tiny_run[0] / "results/tiny/train/learned/seed_0/model.pt").read_bytes()


def test_sigkill_during_warmup_resumes(tiny_run, tmp_path):
    repo, log = _kill_and_resume(tiny_run, tmp_path, "warmup", "results/tiny/search/warmup/population.json",
                                 _state("warmup"), "logs/tiny/warmup/job.log")
    assert RESUMED.search(log), log
    _same_as_uninterrupted(repo, tiny_run[0])


def test_sigkill_mid_generation_2_resumes(tiny_run, tmp_path):
    repo, log = _kill_and_resume(tiny_run, tmp_path, "evolve", "results/tiny/search/gen_002/population.json",
                                 _state("gen_002|002"), "logs/tiny/evolve/gen_002.log")
    assert RESUMED.search(log), log
    _same_as_uninterrupted(repo, tiny_run[0])


def test_sigkill_during_dvc_push_resumes(tiny_run, tmp_path):
    repo = tmp_path / "repo"
    copy_run(tiny_run[0], repo)
    shutil.rmtree(repo / ".dvc-remote", ignore_errors=True)
    lock = yaml.safe_load((repo / "dvc.lock").read_text())["stages"]
    objects = {o["md5"] for stage in lock.values() for o in stage["outs"]}
    remote = repo / ".dvc-remote"

    def pushed():
        return {p.parent.name + p.name for p in remote.rglob("*") if p.is_file()} & objects

    push = subprocess.Popen([str(BIN / "dvc"), "push", "-j", "1"], cwd=repo, env=env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    assert _wait_for(lambda: len(pushed()) >= 1, push)
    if push.poll() is None:
        _kill(push)
    first = pushed()
    assert len(first) < len(objects), "the push finished before it could be killed"
    out = dvc("push", cwd=repo).stdout
    assert int(re.search(r"(\d+) files? pushed", out).group(1)) == len(objects) - len(first)
    # every artifact comes back; the resolved configs are not DVC outputs (the next run writes them)
    before = {p: h for p, h in reproducible(repo).items() if not p.endswith("/config.yaml")}
    shutil.rmtree(repo / "results")
    dvc("pull", cwd=repo)
    assert reproducible(repo) == before
