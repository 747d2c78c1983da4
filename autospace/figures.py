"""Figures of a run (matplotlib, PNG and PDF side by side)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .runtime import atomic_path, read_json  # noqa: E402


def _save(fig, path: str | Path) -> None:
    """Write ``path`` (PNG) and the same figure as PDF beside it, atomically, reproducibly."""
    path = Path(path)
    for target, fmt in ((path, "png"), (path.with_suffix(".pdf"), "pdf")):
        with atomic_path(target) as tmp:
            fig.savefig(tmp, format=fmt, dpi=120, bbox_inches="tight",
                        metadata={"CreationDate": None} if fmt == "pdf" else {"Software": None})
    plt.close(fig)


def fitness_matrix(population_files: list[str | Path]) -> np.ndarray:
    """Best evolved-cell fitness per layer (rows) after each generation (columns)."""
    columns = []
    for f in population_files:
        doc = read_json(f, "population")
        columns.append([max((m["fitness"] for m in layer["members"]), default=0.0) for layer in doc["layers"]])
    return np.array(columns, dtype=float).T


def plot_fitness(population_files: list[str | Path], out_png: str | Path) -> None:
    """Heatmap: fitness of the best cell of each layer over generations."""
    matrix = fitness_matrix(population_files)
    fig, ax = plt.subplots(figsize=(1.2 + 0.5 * matrix.shape[1], 1.0 + 0.35 * matrix.shape[0]))
    image = ax.imshow(matrix, aspect="auto", cmap="viridis", interpolation="nearest")
    ax.set_xlabel("generation")
    ax.set_ylabel("searchable layer")
    ax.set_xticks(range(matrix.shape[1]))
    ax.set_yticks(range(matrix.shape[0]))
    ax.set_title("best cell fitness per layer")
    fig.colorbar(image, ax=ax, label="fitness")
    _save(fig, out_png)


def read_log(path: str | Path) -> dict[str, list[float]]:
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows if r[k] not in ("", None)] for k in (rows[0] if rows else {})}


def plot_training_curves(log_files: list[str | Path], out_png: str | Path) -> None:
    """Training loss and accuracy per epoch, one line per (space, seed) run."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    for path in log_files:
        log = read_log(path)
        label = f"{Path(path).parent.parent.name}/{Path(path).parent.name}"
        for ax, key in zip(axes, ("train_loss", "train_acc")):
            if key in log:
                ax.plot(log["epoch"], log[key], label=label, linewidth=1)
    for ax, key in zip(axes, ("training loss", "training accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
    axes[1].legend(fontsize=7, loc="lower right")
    _save(fig, out_png)
