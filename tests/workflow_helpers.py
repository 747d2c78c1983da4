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
    """A copy of the working tree (uncommitted changes included) as a fresh git + DVC repo."""
    shutil.copytree(REPO, dest, ignore=COPY_IGNORE, symlinks=True)
    for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                ["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "copy"]):
        subprocess.run(cmd, cwd=dest, check=True, env=env())
    return dest
