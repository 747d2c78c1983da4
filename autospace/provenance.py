"""Lineage records: what made an artifact, written when it is written.

A workflow job's record (format ``autospace-provenance/1``) holds the rule, its wildcards and
the config values it used, the code version (git commit, dirty flag, hash of the uncommitted
diff), package versions, the device, the SHA-256 of every input and output file, and for jobs
whose library call takes more than files (tables, figures) its ``arguments``. What
differs between two identical runs (start and end time, duration, host) sits under ``run``
alone, so a record minus ``run`` is as reproducible as the artifacts it describes.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

import torch

from .files import file_digest, write_json
from .runtime import progress_to_stderr, redirect_output

FORMAT = "autospace-provenance/1"
PACKAGES = ("torch", "torchvision", "numpy", "snakemake", "dvc")
CODE_ROOT = Path(__file__).resolve().parent.parent
#: Files the workflow itself rewrites; they are records, not code.
NOT_CODE = ("dvc.yaml", "dvc.lock")


def _git(*args: str) -> str | None:
    try:
        proc = subprocess.run(["git", *args], cwd=CODE_ROOT, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout if proc.returncode == 0 else None


def code_version() -> dict:
    """The git commit of this package's checkout and whether its code differs from it.

    ``dirty`` counts tracked changes and untracked files (ignored ones, such as results, are not
    code); ``diff_sha256`` identifies the uncommitted tracked change. Outside git: all None.
    """
    commit = _git("rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None, "diff_sha256": None}
    exclude = [f":(exclude){name}" for name in NOT_CODE]
    status = _git("status", "--porcelain", "--", ".", *exclude) or ""
    diff = _git("diff", "HEAD", "--", ".", *exclude) or ""
    return {"commit": commit.strip(), "dirty": bool(status.strip()),
            "diff_sha256": hashlib.sha256(diff.encode()).hexdigest() if diff else None}


def package_versions() -> dict:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def device_info(device: str | None) -> dict:
    """The device the job was configured for, and the accelerators this machine has."""
    gpus = [torch.cuda.get_device_name(k) for k in range(torch.cuda.device_count())]
    resolved = device
    if device in (None, "auto"):
        resolved = "cuda" if gpus else "cpu"
    return {"configured": device, "resolved": resolved, "gpus": gpus}


def as_recorded(values):
    """``values`` as a provenance record keeps them (canonical JSON: sorted keys, lists for
    tuples), so a job that computes from them and an audit that recomputes from the record
    see the same thing, dict order included."""
    return json.loads(json.dumps(values, sort_keys=True))


def hashes(paths) -> dict[str, str | None]:
    """SHA-256 of each file (None for a missing one), keyed by the path as given."""
    return {str(p): file_digest(p) if Path(p).is_file() else None for p in paths}


class Recorder:
    """Collects one job's record: inputs are hashed when it starts, outputs when it ends."""

    def __init__(self, lineage: dict):
        self.lineage = lineage
        self.inputs = hashes(lineage.get("input", []))
        self.start = time.time()

    def write(self) -> None:
        end = time.time()
        params = self.lineage.get("params", {})

        def stamp(t: float) -> str:
            return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat(timespec="seconds")

        write_json(self.lineage["path"], {
            "format": FORMAT, "rule": self.lineage["rule"], "wildcards": self.lineage.get("wildcards", {}),
            **({"check": self.lineage["check"]} if "check" in self.lineage else {}),
            "params": params, "code": code_version(), "packages": package_versions(),
            "device": device_info(params.get("device")),
            "inputs": self.inputs, "outputs": hashes(self.lineage.get("output", [])),
            **({"arguments": self.lineage["arguments"]} if "arguments" in self.lineage else {}),
            "run": {"start": stamp(self.start), "end": stamp(end), "seconds": round(end - self.start, 3),
                    "host": platform.node()}})


@contextlib.contextmanager
def job(log_path: str | Path | None, threads: int | None = None, lineage: dict | None = None):
    """A workflow job: its output goes to its log file, torch uses ``threads`` CPU threads.

    ``lineage`` (plain values: ``rule``, ``wildcards``, ``params`` -- the config values the job
    uses --, ``input`` and ``output`` file lists, ``path``): on success, the job's provenance
    record (:class:`Recorder`) is written atomically to ``path``; on failure, none.
    """
    if threads:
        torch.set_num_threads(threads)
    with redirect_output(log_path), progress_to_stderr():
        recorder = Recorder(lineage) if lineage is not None else None
        yield
        if recorder is not None:
            recorder.write()

