"""The tiny pipeline through a real SLURM (snakemake-executor-plugin-slurm, profiles/slurm-local),
compared with the local run of the same config (the session's ``tiny_run``).

Needs the single-node cluster of profiles/slurm-local/cluster.sh (`cluster.sh start`; .ci/run does
it). The SLURM run is the session's ``second_run`` fixture (conftest.py): the tiny config up to one
evaluated network (every rule that trains or writes a checkpoint, 9 jobs); where the cluster
answers, the determinism test compares the same run, so the suite runs the tiny config twice, not
four times. Without a SLURM controller the tests skip, unless AUTOSPACE_REQUIRE_SLURM=1 (CI): then they
fail.
"""

import collections
import hashlib
import json
import os
import re
import sys
from pathlib import Path

import pytest

from workflow_helpers import REPO, SUBMITTED, planned_jobs, slurm_problem, tiny_config

sys.path.insert(0, str(REPO / "workflow"))
import layout as L  # noqa: E402

pytestmark = [pytest.mark.slurm, pytest.mark.workflow, pytest.mark.slow]

EXP = "tiny"
# Deterministic artifacts: the same config must give the same bytes, wherever a job runs. Not
# compared: logs, benchmark files, metrics.json (wall times, latency), tables and figures.
DETERMINISTIC = {"dataset.pt", "split.json", "checkpoint.pt", "population.json", "sampled.json", "space.json",
                 "arch.json", "nas.json", "model.pt", "log.csv"}


@pytest.fixture(scope="module")
def cluster():
    problem = slurm_problem()
    if problem:
        if os.environ.get("AUTOSPACE_REQUIRE_SLURM") == "1":
            pytest.fail(f"AUTOSPACE_REQUIRE_SLURM=1 but {problem}")
        pytest.skip(problem)


def digests(repo) -> dict[str, str]:
    base = repo / "results" / EXP
    return {str(p.relative_to(base)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(base.rglob("*")) if p.is_file() and p.name in DETERMINISTIC and ".state" not in p.parts}


@pytest.fixture(scope="module")
def runs(cluster, tiny_run, second_run):
    assert second_run.slurm_states is not None, "the second run did not go through SLURM"
    return tiny_run[0], second_run.repo, second_run.output, second_run.slurm_states


def test_every_job_ran_as_a_slurm_job(runs):
    _, slurm, output, states = runs
    slurm = slurm.resolve()
    submitted = SUBMITTED.findall(output)
    # every job Snakemake planned: the chain of the second run's target, from the data to an
    # evaluated network
    expected = collections.Counter(planned_jobs(output))
    assert expected == {"prepare_data": 1, "warmup": 1, "evolve": 3, "export_space": 1, "nas": 1, "train": 1,
                        "evaluate": 1}, expected
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
    # SLURM itself knows the jobs that ended less than MinJobAge (300 s) before the run did, as
    # completed (read as the run ended; the earlier ones it has forgotten)
    assert states and set(states) <= {jobid for jobid, _ in submitted}, states
    assert set(states.values()) == {"COMPLETED"}, states


def test_slurm_results_equal_a_local_run(runs):
    local, slurm, _, _ = runs
    expected, got = digests(local), digests(slurm)
    kinds = {name.rsplit("/", 1)[-1] for name in got}
    assert kinds == DETERMINISTIC, DETERMINISTIC - kinds
    assert got.keys() <= expected.keys()
    assert got == {k: expected[k] for k in got}, sorted(k for k in got if expected[k] != got[k])
    for job in L.jobs(tiny_config()):
        if job["rule"] == "evaluate" and (slurm / job["output"][0]).is_file():
            a, b = (json.loads((repo / job["output"][0]).read_text()) for repo in (local, slurm))
            for key in ("top1", "top5", "madds", "params", "test_images"):
                assert a[key] == b[key], (job["output"][0], key)
