"""The tiny pipeline through a real SLURM (snakemake-executor-plugin-slurm, profiles/slurm-local),
compared with a local run of the same config.

Needs the single-node cluster of profiles/slurm-local/cluster.sh (`cluster.sh start`; .ci/run does
it). Without a SLURM controller the test skips, unless AUTOSPACE_REQUIRE_SLURM=1 (CI): then it fails.
"""

import collections
import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from workflow_helpers import BIN, REPO, env, project_copy

sys.path.insert(0, str(REPO / "workflow"))
import layout as L  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.workflow, pytest.mark.slow]

TINY = ".test/config/config.yaml"
EXTRA = "slurm_test.yaml"           # written into each copy: a distinct experiment name
EXP = "tiny_slurm"
PROFILE = "profiles/slurm-local"
PARTITION = "debug"                 # the partition cluster.sh creates and the profile names
SLURM_LIMIT_S = 1200                # the SLURM run took about 5 minutes on 2 busy cores
LOCAL_LIMIT_S = 600
# Deterministic artifacts: the same config must give the same bytes, wherever a job runs. Not
# compared: logs, benchmark files, metrics.json (wall times, latency), tables and figures.
DETERMINISTIC = {"dataset.pt", "split.json", "checkpoint.pt", "population.json", "sampled.json", "space.json",
                 "arch.json", "nas.json", "model.pt", "log.csv"}
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


def slurm_problem() -> str | None:
    """Why the local SLURM cluster cannot be used here, or None when it answers."""
    try:
        proc = subprocess.run(["sinfo", "-h", "-p", PARTITION, "-o", "%N %a"], capture_output=True, text=True,
                              timeout=30)
    except FileNotFoundError:
        return "SLURM is not installed (no sinfo); run profiles/slurm-local/cluster.sh start"
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 30 s"
    if proc.returncode != 0:
        return f"no SLURM controller answers (sinfo: {proc.stderr.strip()}); run profiles/slurm-local/cluster.sh start"
    if proc.stdout.split() != ["localhost", "up"]:
        return (f"the SLURM controller has no partition '{PARTITION}' with node localhost up "
                f"(sinfo: {proc.stdout.strip()!r}): not the cluster of profiles/slurm-local/cluster.sh")
    return None


@pytest.fixture(scope="module")
def cluster():
    problem = slurm_problem()
    if problem:
        if os.environ.get("AUTOSPACE_REQUIRE_SLURM") == "1":
            pytest.fail(f"AUTOSPACE_REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)


def config() -> dict:
    def merge(a, b):
        for k, v in b.items():
            a[k] = merge(a[k], v) if isinstance(v, dict) else v
        return a

    cfg = yaml.safe_load((REPO / "config/config.yaml").read_text())
    return merge(merge(cfg, yaml.safe_load((REPO / TINY).read_text())), {"experiment": EXP})


def run_snakemake(repo, args, limit_s) -> subprocess.CompletedProcess:
    """Snakemake, stopped with SIGINT after limit_s (it then cancels its SLURM jobs), killed 60 s later."""
    (repo / EXTRA).write_text(f"experiment: {EXP}\n")
    cmd = ["timeout", "-s", "INT", "-k", "60", str(limit_s), str(BIN / "snakemake"), *args,
           "--configfile", TINY, EXTRA]
    proc = subprocess.run(cmd, cwd=repo, env=env(), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=limit_s + 120)
    if proc.returncode != 0:
        why = f"stopped after {limit_s} s" if proc.returncode in (124, 137) else f"exit {proc.returncode}"
        raise AssertionError(f"snakemake {' '.join(args)}: {why}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    return proc


def digests(repo) -> dict[str, str]:
    base = repo / "results" / EXP
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file() and p.name in DETERMINISTIC and ".state" not in p.parts}


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    local = project_copy(tmp_path_factory.mktemp("local") / "repo")
    run_snakemake(local, ["--cores", "2"], LOCAL_LIMIT_S)
    slurm = project_copy(tmp_path_factory.mktemp("slurm") / "repo")
    proc = run_snakemake(slurm, ["--profile", PROFILE], SLURM_LIMIT_S)
    return local, slurm, proc.stdout + proc.stderr


def test_every_job_ran_as_a_slurm_job(runs):
    _, slurm, output = runs
    slurm = slurm.resolve()
    submitted = SUBMITTED.findall(output)
    # every job of the experiment and its variants, and the audit of them all (not a DVC stage)
    expected = collections.Counter(job["rule"] for job in L.jobs(config())) + collections.Counter(["audit"])
    ran = collections.Counter()
    for jobid, log in submitted:
        log = Path(log).resolve()
        # the plugin's log of the job: .snakemake/slurm_logs/rule_<rule>/[<wildcards>/]<jobid>.log
        assert log.is_file() and log.name == f"{jobid}.log", log
        assert log.is_relative_to(slurm / ".snakemake/slurm_logs"), log
        text = log.read_text()
        # written inside the allocation: Snakemake's jobstep executor, started by srun
        assert "--executor slurm-jobstep" in text, log
        rule = re.search(r"^rule (\w+):", text, re.M).group(1)
        assert log.parent.relative_to(slurm / ".snakemake/slurm_logs").parts[0] == f"rule_{rule}"
        ran[rule] += 1
    assert ran == expected, (ran, expected)
    assert len({jobid for jobid, _ in submitted}) == len(submitted)
    # SLURM itself knows the jobs that ended less than MinJobAge (300 s) ago, as completed
    ids = ",".join(jobid for jobid, _ in submitted)
    known = subprocess.run(["squeue", "-h", "-t", "all", "-j", ids, "-o", "%i %T"], capture_output=True,
                           text=True, timeout=30).stdout.split("\n")
    states = dict(line.split() for line in known if line.strip())
    assert states, f"squeue knows none of the jobs {ids}"
    assert set(states.values()) == {"COMPLETED"}, states


def test_slurm_results_equal_a_local_run(runs):
    local, slurm, _ = runs
    expected, got = digests(local), digests(slurm)
    kinds = {name.rsplit("/", 1)[-1] for name in expected}
    assert kinds == DETERMINISTIC, DETERMINISTIC - kinds
    assert got == expected, sorted(k for k in expected.keys() | got.keys() if expected.get(k) != got.get(k))
    for job in L.jobs(config()):
        if job["rule"] == "evaluate":
            a, b = (json.loads((repo / job["output"][0]).read_text()) for repo in (local, slurm))
            for key in ("top1", "top5", "madds", "params", "test_images"):
                assert a[key] == b[key], (job["output"][0], key)
