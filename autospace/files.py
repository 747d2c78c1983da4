"""Atomic file writes and checked reads of the plain files every step exchanges (JSON, text,
CSV), and the one file hash. No torch here: the workflow's parse-time code and the reporting read
files too."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import tempfile
from pathlib import Path

from .errors import SpecError

_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    A reader never sees a half-written file, and a failure leaves the old file (if any) as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: str | Path, data) -> None:
    """Canonical JSON (sorted keys, 2-space indent, trailing newline), written atomically."""
    write_text(path, json.dumps(data, indent=2, sort_keys=True) + "\n")


def read_json(path: str | Path, what: str = "file"):
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise SpecError(what, "file not found", source=str(path)) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SpecError(what, f"not valid JSON ({err.__class__.__name__}: {err})", source=str(path)) from None


def to_csv(rows: list[dict], fields: list[str] | None = None) -> str:
    """CSV text of ``rows``; the columns are ``fields`` or the first row's keys."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fields or list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    """The hex digest of a file's content, read in blocks: SHA-256 for the provenance records and
    the engine's input fingerprint, MD5 to compare with DVC's records (``dvc.lock``)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algorithm).hexdigest()
