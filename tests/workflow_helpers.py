"""Running the real Snakemake and DVC from tests."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
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


def project_copy(dest: Path) -> Path:
    """A copy of the working tree (uncommitted changes included) as a fresh git + DVC repo; the
    commit's dates are fixed, so copies of the same tree have the same commit (provenance)."""
    shutil.copytree(REPO, dest, ignore=COPY_IGNORE, symlinks=True)
    fixed = {**env(), "GIT_AUTHOR_DATE": "2000-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2000-01-01T00:00:00Z"}
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True, env=fixed)
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
