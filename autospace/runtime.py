"""Seeds, RNG state, checkpoints and job output shared by every training step (the plain files:
:mod:`autospace.files`).

Checkpoints hold only tensors and plain containers, so ``torch.load(..., weights_only=True)``
loads them: nothing in a checkpoint can execute code.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import random
from pathlib import Path

import numpy as np
import torch

from .errors import SpecError
from .files import atomic_path


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch, and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False


def derived_seed(seed: int, *parts) -> int:
    """A 63-bit seed from the run seed and any labels (stable across processes): each purpose
    (population, sampling, a cell's initialisation, a loader's order...) draws from its own."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cpu`` and ``cuda[:N]`` as given."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SpecError("device", "CUDA was asked for but is not available", name)
    return torch.device(name)


def rng_state() -> dict:
    """The state of every generator training draws from, as tensors and plain values."""
    np_state = np.random.get_state()
    state = {
        "python": json.dumps(random.getstate()),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "gauss": float(np_state[4])},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Inverse of :func:`rng_state`."""
    py = json.loads(state["python"])
    random.setstate((py[0], tuple(py[1]), py[2]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | Path, state: dict) -> None:
    """Save ``state`` (tensors, numbers, strings, lists, dicts only) atomically.

    Saved through a file object, so the zip's record prefix is torch's fixed ``archive/`` rather
    than the random temporary file name: the same state gives the same bytes (and DVC hash).
    """
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        torch.save(state, f)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """Load a checkpoint with ``weights_only=True``; a missing or damaged file is a :class:`SpecError`."""
    path = Path(path)
    if not path.is_file():
        raise SpecError("checkpoint", "file not found", source=str(path))
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for truncated or foreign files
        raise SpecError("checkpoint", f"cannot be loaded ({err.__class__.__name__})", source=str(path)) from None
    if not isinstance(state, dict):
        raise SpecError("checkpoint", "expected a dict of state", type(state).__name__, source=str(path))
    return state


@contextlib.contextmanager
def redirect_output(log_path: str | Path | None):
    """Send stdout and stderr (Python's and child processes') to ``log_path`` for the block."""
    if log_path is None:
        yield
        return
    Path(log_path).parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "a", buffering=1) as log:
        saved = os.dup(1), os.dup(2)
        import sys

        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


@contextlib.contextmanager
def progress_to_stderr():
    """Send the ``autospace`` logger's INFO lines (the training engine's progress) to stderr,
    with a timestamp, for the block (a job's stderr is its log file)."""
    import logging
    import sys

    logger = logging.getLogger("autospace")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    logger.addHandler(handler)
    level, logger.level = logger.level, logging.INFO
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
