"""profiles/slurm at paper scale: the sbatch arguments snakemake-executor-plugin-slurm renders for
config/imagenet.yaml, built by the plugin's own functions on Snakemake's jobs (tests/sbatch_render.py);
no SLURM needed.

Every GPU step is one task on one node with N = distributed.processes GPUs and `threads` CPUs (the
step's N processes share them). In plugin 2.8.0 a GPU job never gets --ntasks: `tasks_per_gpu`,
or else `tasks`, becomes --ntasks-per-gpu, so `tasks: 1` asked for N tasks x `threads` CPUs.
"""

import json
import shlex
import subprocess
import sys

import pytest

from workflow_helpers import REPO, env, merged_config

sys.path.insert(0, str(REPO / "workflow"))
import layout as L  # noqa: E402

pytestmark = pytest.mark.workflow

CONFIGFILE = "config/imagenet.yaml"
PROFILE = "profiles/slurm"
GPU_RULES = {"warmup", "evolve", "nas", "train"}
CPU_RULES = {"evaluate"}


def options(tokens: list[str]) -> dict[str, list[str | None]]:
    """sbatch's options: `--key=value`, `--key value`, `-k value`, and bare flags (value None)."""
    opts, rest = {}, tokens[1:]
    for k, token in enumerate(rest):
        if not token.startswith("-"):
            continue
        key, eq, value = token.partition("=")
        if not eq:
            value = rest[k + 1] if k + 1 < len(rest) and not rest[k + 1].startswith("-") else None
        opts.setdefault(key, []).append(value)
    return opts


def gpu_count(opts: dict) -> int:
    """GPUs asked for by --gpus=[type:]N and --gres=gpu[:type]:N, together."""
    counts = [int(v.rsplit(":", 1)[-1]) for v in opts.get("--gpus", [])]
    counts += [int(v.rsplit(":", 1)[-1]) for v in opts.get("--gres", []) if v.startswith("gpu")]
    return sum(counts)


@pytest.fixture(scope="module")
def cfg() -> dict:
    return merged_config(CONFIGFILE)


@pytest.fixture(scope="module")
def submissions(cfg) -> dict[str, list[dict]]:
    """The rendered jobs by rule, for a sub-DAG holding every rule of GPU_RULES and CPU_RULES: the
    evaluation of a hand-designed space (prepare_data, hand_space, nas, train, evaluate) and the
    first generation (warmup, evolve)."""
    exp, space = cfg["experiment"], next(s for s in cfg["spaces"] if s != L.LEARNED)
    targets = [f"{L.TRAIN}/{L.METRICS}".format(exp=exp, space=space, seed=cfg["seeds"][0]),
               f"{L.GEN}/population.json".format(exp=exp, gen=L.gen_name(0))]
    proc = subprocess.run([sys.executable, str(REPO / "tests/sbatch_render.py"), *targets, "--profile", PROFILE,
                           "--configfile", CONFIGFILE], cwd=REPO, env=env(), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    by_rule = {}
    for job in json.loads(proc.stdout.splitlines()[-1]):
        by_rule.setdefault(job["rule"], []).append(job)
    assert GPU_RULES | CPU_RULES <= set(by_rule), sorted(by_rule)
    return by_rule


def describe(job: dict) -> str:
    return f"{job['rule']}: {shlex.join(job['sbatch'])}"


@pytest.mark.parametrize("rule", sorted(GPU_RULES))
def test_gpu_rule_is_one_task_on_one_node_with_n_gpus(submissions, cfg, rule):
    n, threads = cfg["distributed"]["processes"], cfg["threads"]
    for job in submissions[rule]:
        opts = options(job["sbatch"])
        assert job["threads"] == threads, describe(job)
        # one task: no per-GPU or per-node task count, and --ntasks (if any) 1; sbatch's default
        # without one is one task per node, and --nodes=1
        assert "--ntasks-per-gpu" not in opts and "--ntasks-per-node" not in opts, describe(job)
        assert opts.get("--ntasks", ["1"]) == ["1"], describe(job)
        assert opts.get("--nodes") == ["1"], describe(job)
        assert gpu_count(opts) == n, describe(job)
        # the job's CPUs, shared by its N processes, not multiplied per task or per GPU
        assert opts.get("--cpus-per-task") == [str(threads)] and "--cpus-per-gpu" not in opts, describe(job)
        assert len(opts.get("--mem", [])) == 1 and "--mem-per-cpu" not in opts, describe(job)
        # the one step Snakemake's jobstep starts inside the allocation: all of it, one task
        assert {"-n1", f"--cpus-per-task={threads}", f"--gpus={n}", "--nodes=1"} <= set(job["srun"]), job["srun"]


@pytest.mark.parametrize("rule", sorted(CPU_RULES))
def test_cpu_rule_gets_no_gpu(submissions, cfg, rule):
    for job in submissions[rule]:
        opts = options(job["sbatch"])
        assert gpu_count(opts) == 0 and "--gpus" not in opts and "--gres" not in opts, describe(job)
        assert opts.get("--ntasks") == ["1"], describe(job)
        assert opts.get("--cpus-per-task") == [str(cfg["threads"])], describe(job)


def test_only_the_gpu_rules_get_gpus(submissions):
    with_gpus = {rule for rule, jobs in submissions.items() if any(gpu_count(options(j["sbatch"])) for j in jobs)}
    assert with_gpus == GPU_RULES

