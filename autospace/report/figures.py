"""Figures of a run (matplotlib, PNG and PDF side by side)."""

from __future__ import annotations

import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..files import atomic_path, read_json  # noqa: E402


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


# -- population diversity ---------------------------------------------------------------------------

def genes(cell) -> tuple:
    """A cell's genes, one per position: edge operators, expansion, where it expands, activation,
    attention, merge modes (cells of one run have the same node count)."""
    return (*cell.ops, cell.expansion, cell.expand_node, cell.activation, cell.attention, *cell.merge)


def gene_distance(a: tuple, b: tuple) -> int:
    """Genes that differ (Hamming distance); cells of different sizes differ in every gene."""
    return sum(x != y for x, y in zip(a, b)) if len(a) == len(b) else max(len(a), len(b))


def diversity_rows(population_files: list[str | Path]) -> list[dict]:
    """Per generation and layer: population size, distinct cells and the mean pairwise gene
    distance of the evolving members (reference cells excluded)."""
    from itertools import combinations

    from ..arch.cells import parse_cell

    rows = []
    for f in population_files:
        doc = read_json(f, "population")
        for layer in doc["layers"]:
            cells = [genes(parse_cell(m["cell"])) for m in layer["members"]]
            pairs = list(combinations(cells, 2))
            mean = sum(gene_distance(a, b) for a, b in pairs) / len(pairs) if pairs else 0.0
            rows.append({"generation": doc["generation"], "layer": layer["layer"], "members": len(cells),
                         "distinct": len(set(cells)), "mean_gene_distance": round(mean, 4)})
    return rows


def plot_diversity(rows: list[dict], out_png: str | Path) -> None:
    """Two heatmaps over generations x layers: distinct cells and mean pairwise gene distance."""
    gens = sorted({r["generation"] for r in rows})
    layers = sorted({r["layer"] for r in rows})
    fig, axes = plt.subplots(1, 2, figsize=(2.4 + len(gens) * 0.9, 1.2 + 0.35 * len(layers)), squeeze=False)
    for ax, key, title in zip(axes[0], ("distinct", "mean_gene_distance"),
                              ("distinct cells", "mean pairwise gene distance")):
        matrix = np.zeros((len(layers), len(gens)))
        for r in rows:
            matrix[layers.index(r["layer"]), gens.index(r["generation"])] = r[key]
        image = ax.imshow(matrix, aspect="auto", cmap="magma", interpolation="nearest")
        ax.set_xticks(range(len(gens)), [str(g) for g in gens])
        ax.set_yticks(range(len(layers)))
        ax.set_xlabel("generation")
        ax.set_ylabel("searchable layer")
        ax.set_title(title, fontsize=9)
        fig.colorbar(image, ax=ax)
    _save(fig, out_png)


# -- learned cells as DAGs --------------------------------------------------------------------------

def top_cells(space_file: str | Path) -> list[tuple[int, str, float | None]]:
    """(layer, cell, fitness) of the fittest evolved (non-reference) cell of each layer of an
    exported space; a layer with reference cells only gives its first."""
    doc = read_json(space_file, "space")
    out = []
    for layer in doc["layers"]:
        evolved = [c for c in layer["candidates"] if not c["reference"]] or layer["candidates"]
        best = max(evolved, key=lambda c: c.get("fitness", float("-inf")))
        out.append((layer["layer"], best["cell"], best.get("fitness")))
    return out


def draw_cell(ax, cell, gap: float = 1.6, rad: float = -0.4) -> None:
    """One cell as a DAG: nodes left to right (input, inner nodes, output; a node's merge mode
    below it when it has several inputs), each edge an arrow labelled by its operator, skip edges
    curved above the chain (chain labels below)."""
    for n in range(cell.nodes):
        name = "in" if n == 0 else "out" if n == cell.nodes - 1 else str(n)
        ax.text(gap * n, 0, name, ha="center", va="center", fontsize=7, zorder=3,
                bbox={"boxstyle": "circle,pad=0.3", "facecolor": "white", "edgecolor": "black"})
        if len(cell.inputs(n)) > 1:
            ax.text(gap * n, -0.45, cell.merge_of(n), ha="center", va="top", fontsize=6, color="tab:red")
    for src, dst, op in cell.edges:
        x0, x1 = gap * src + 0.3, gap * dst - 0.3
        ax.annotate("", xy=(x1, 0), xytext=(x0, 0),
                    arrowprops={"arrowstyle": "->", "connectionstyle": f"arc3,rad={0 if dst - src == 1 else rad}",
                                "lw": 1, "shrinkA": 0, "shrinkB": 0})
        # the apex of an arc3 curve lies rad/2 of the chord's length off the chord
        chain = dst - src == 1
        ax.text((x0 + x1) / 2, -0.1 if chain else -rad / 2 * (x1 - x0), op, ha="center",
                va="top" if chain else "bottom", fontsize=6, color="tab:blue")
    ax.set_xlim(-0.5, gap * (cell.nodes - 1) + 0.5)
    ax.set_ylim(-0.9, -rad / 2 * gap * (cell.nodes - 1) + 0.4)
    ax.set_aspect("equal")
    ax.axis("off")


def plot_cells(space_file: str | Path, out_png: str | Path, columns: int = 4) -> None:
    """The fittest evolved cell of each layer of the learned space, one panel per layer."""
    from ..arch.cells import parse_cell

    cells = top_cells(space_file)
    rows = -(-len(cells) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.4 * columns, 1.8 * rows), squeeze=False)
    for ax in axes.flat[len(cells):]:
        ax.axis("off")
    for ax, (layer, text, fitness) in zip(axes.flat, cells):
        cell = parse_cell(text)
        draw_cell(ax, cell)
        fit = "" if fitness is None else f", fitness {fitness:.3f}"
        ax.set_title(f"layer {layer}: e={cell.expansion:g} at node {cell.expand_node}, {cell.activation}, "
                     f"att={cell.attention}{fit}", fontsize=6)
    _save(fig, out_png)


# -- accuracy against MAdds -------------------------------------------------------------------------

def pareto_rows(runs: list[dict]) -> list[dict]:
    """Each evaluated network (``runs``: ``file`` = its metrics.json, ``group`` and ``run`` labels)
    with its MAdds (M), top-1 (%) and whether it is on the Pareto front (no other network has
    fewer or equal MAdds and a higher top-1, or fewer MAdds and an equal top-1)."""
    rows = []
    for run in runs:
        m = read_json(run["file"], "metrics")
        rows.append({"group": run["group"], "run": run["run"], "madds_m": round(m["madds"] / 1e6, 4),
                     "top1": round(100 * m["top1"], 2)})
    for r in rows:
        r["pareto"] = not any((o["madds_m"] <= r["madds_m"] and o["top1"] > r["top1"])
                              or (o["madds_m"] < r["madds_m"] and o["top1"] >= r["top1"]) for o in rows)
    return rows


def figure_tables(args: dict) -> dict[str, list[dict]]:
    """The plotted data of the figures rule, by CSV stem, from its arguments (plain values,
    recorded in the job's provenance so the audit can recompute them): ``populations`` (each
    generation's population.json) and ``runs`` (see :func:`pareto_rows`)."""
    return {"diversity": diversity_rows(args["populations"]), "pareto": pareto_rows(args["runs"])}


def plot_pareto(rows: list[dict], out_png: str | Path) -> None:
    """Top-1 against MAdds of every evaluated network, by group, with the Pareto front."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    groups = list(dict.fromkeys(r["group"] for r in rows))
    markers = "osD^v<>pPX*h"
    for k, group in enumerate(groups):
        pts = [r for r in rows if r["group"] == group]
        ax.scatter([r["madds_m"] for r in pts], [r["top1"] for r in pts], label=group, s=22,
                   marker=markers[k % len(markers)], alpha=0.85)
    front = sorted((r for r in rows if r["pareto"]), key=lambda r: r["madds_m"])
    if front:
        ax.step([r["madds_m"] for r in front], [r["top1"] for r in front], where="post", color="black",
                linewidth=1, linestyle="--", label="Pareto front")
    ax.set_xlabel("MAdds (M)")
    ax.set_ylabel("test top-1 (%)")
    ax.legend(fontsize=6, loc="best")
    _save(fig, out_png)
