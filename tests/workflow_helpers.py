"""Running the real Snakemake and DVC from tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
COPY_IGNORE = shutil.ignore_patterns(".venv", ".git", "results", "logs", ".snakemake", ".dvc-remote",
                                     "__pycache__", ".pytest_cache", ".hypothesis", "*.egg-info", "report.html",
                                     "tmp", "cache")


def env() -> dict:
    return {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "DVC_NO_ANALYTICS": "1",
            "PYTHONPATH": str(REPO)}


def snakemake(*args, cwd=REPO, check=True, timeout=600) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "snakemake"), *args], cwd=cwd, env=env(), capture_output=True, text=True,
                          timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def dvc(*args, cwd, check=True) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(BIN / "dvc"), *args], cwd=cwd, env=env(), capture_output=True, text=True)
    if check and proc.returncode != 0:
        raise AssertionError(f"dvc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def project_copy(dest: Path, default: str | None = None) -> Path:
    """A copy of the working tree (uncommitted changes included) as a fresh git + DVC repo; the
    commit's dates are fixed, so copies of the same tree have the same commit (provenance).
    ``default``: a config file (relative to the repo) merged into config/config.yaml of the copy,
    so that its runs are the default pipeline that dvc.yaml describes and DVC records them."""
    shutil.copytree(REPO, dest, ignore=COPY_IGNORE, symlinks=True)
    if default is not None:
        import yaml

        (dest / "config/config.yaml").write_text(yaml.safe_dump(merged_config(default), sort_keys=False))
        subprocess.run([sys.executable, "workflow/dvc_sync.py"], cwd=dest, check=True, env=env(),
                       capture_output=True)
    fixed = {**env(), "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True, env=fixed)
    return dest


def copy_run(src: Path, dest: Path) -> Path:
    """A copy of a finished project copy ``src`` at ``dest`` for a test that changes it. Files keep
    their mtimes (Snakemake compares them); DVC's cache is content-addressed and never written in
    place, so its files are hard links, not copies (a run copy is ~190 MB lighter on disk)."""
    cache = src / ".dvc" / "cache"

    def link_or_copy(a, b):
        if Path(a).is_relative_to(cache):
            os.link(a, b)
        else:
            shutil.copy2(a, b)

    shutil.copytree(src, dest, symlinks=True, copy_function=link_or_copy)
    return dest


TINY = ".test/config/config.yaml"
#: A small 3-channel backbone for ImageFolder runs of the tiny config (tests, benchmarks/gpu_check.py).
IMAGEFOLDER_BACKBONE = {
    "in_channels": 3, "resolution": 32, "num_classes": 3,
    "stem": {"width": 8, "kernel": 3, "stride": 2, "activation": "relu6"},
    "stages": [
        {"width": 8, "depth": 1, "stride": 1, "searchable": False,
         "block": {"type": "mbconv", "expansion": 1, "kernel": 3, "activation": "relu6", "se": False}},
        {"width": 16, "depth": 2, "stride": 2},
    ],
    "head": {"width": 32, "activation": "relu6", "dropout": 0.0},
}


def merged_config(configfile: str) -> dict:
    """config/config.yaml merged with ``configfile`` (relative to the repo), as Snakemake merges them."""
    import yaml

    base = yaml.safe_load((REPO / "config/config.yaml").read_text())
    over = yaml.safe_load((REPO / configfile).read_text())

    def update(a, b):
        for k, v in b.items():
            a[k] = update(a[k], v) if isinstance(v, dict) else v
        return a

    return update(base, over)


def tiny_config() -> dict:
    """config/config.yaml merged with the tiny config, as Snakemake merges them."""
    return merged_config(TINY)


#: The partition profiles/slurm-local/cluster.sh creates and profiles/slurm-local names.
SLURM_PARTITION = "debug"
SLURM_PROFILE = "profiles/slurm-local"
#: A Snakemake job's submission line of snakemake-executor-plugin-slurm: (SLURM job id, its log).
SUBMITTED = re.compile(r"Job \d+ has been submitted with SLURM jobid (\d+) \(log: (\S+)\)\.")


def slurm_problem() -> str | None:
    """Why the local SLURM cluster cannot be used here, or None when it answers."""
    try:
        proc = subprocess.run(["sinfo", "-h", "-p", SLURM_PARTITION, "-o", "%N %a"], capture_output=True,
                              text=True, timeout=30)
    except FileNotFoundError:
        return "SLURM is not installed (no sinfo); run profiles/slurm-local/cluster.sh start"
    except subprocess.TimeoutExpired:
        return "sinfo did not answer in 30 s"
    if proc.returncode != 0:
        return f"no SLURM controller answers (sinfo: {proc.stderr.strip()}); run profiles/slurm-local/cluster.sh start"
    if proc.stdout.split() != ["localhost", "up"]:
        return (f"the SLURM controller has no partition '{SLURM_PARTITION}' with node localhost up "
                f"(sinfo: {proc.stdout.strip()!r}): not the cluster of profiles/slurm-local/cluster.sh")
    return None


@dataclass
class SecondRun:
    """A second run of the tiny config in a copy of its own: through SLURM where the local cluster
    answers, else local. ``output``: Snakemake's; ``slurm_states``: SLURM job id -> state, read as
    soon as the run ended (SLURM forgets finished jobs after MinJobAge), None for a local run."""
    repo: Path
    output: str
    slurm_states: dict[str, str] | None


#: What the second run makes: one network of the main run from data to evaluation, so every rule
#: that trains or writes a checkpoint (prepare_data, warmup, evolve, export_space, nas, train,
#: evaluate) runs a second time (through SLURM in CI), at a quarter of the whole DAG's jobs.
SECOND_RUN_TARGET = "results/tiny/train/learned/seed_0/metrics.json"


def second_tiny_run(dest: Path, limit_s: int = 1200) -> SecondRun:
    """Run the tiny config up to :data:`SECOND_RUN_TARGET` in a fresh copy at ``dest``, through
    SLURM if :func:`slurm_problem` is None. Snakemake is stopped with SIGINT after ``limit_s`` (it
    then cancels its SLURM jobs) and killed 60 s later."""
    repo = project_copy(dest, default=TINY)
    slurm = slurm_problem() is None
    how = ["--profile", SLURM_PROFILE] if slurm else ["--cores", "2"]
    cmd = ["timeout", "-s", "INT", "-k", "60", str(limit_s), str(BIN / "snakemake"), SECOND_RUN_TARGET, *how,
           "--configfile", TINY]
    proc = subprocess.run(cmd, cwd=repo, env=env(), capture_output=True, text=True, stdin=subprocess.DEVNULL,
                          timeout=limit_s + 120)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        why = f"stopped after {limit_s} s" if proc.returncode in (124, 137) else f"exit {proc.returncode}"
        raise AssertionError(f"snakemake {' '.join(how)}: {why}\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")
    states = None
    if slurm:
        ids = ",".join(jobid for jobid, _ in SUBMITTED.findall(output))
        known = subprocess.run(["squeue", "-h", "-t", "all", "-j", ids, "-o", "%i %T"], capture_output=True,
                               text=True, timeout=30).stdout.splitlines()
        states = dict(line.split() for line in known if line.strip())
    return SecondRun(repo, output, states)


def tiny_run(dest: Path, timeout: int = 1200) -> tuple[Path, subprocess.CompletedProcess]:
    """The whole DAG of the tiny config in a project copy at ``dest`` whose default config it is
    (so DVC records it): (repo, Snakemake's completed process)."""
    repo = project_copy(dest, default=TINY)
    return repo, snakemake("--cores", "2", "--configfile", TINY, cwd=repo, timeout=timeout)


def planned_jobs(output: str) -> dict[str, int]:
    """Snakemake's plan of a run, from the "Job stats" table it prints first: rule -> job count."""
    table = output.split("Job stats:", 1)[1].split("total", 1)[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}
