"""Benchmarks write their own section of docs/benchmarks.md, between markers, leaving the rest."""

from __future__ import annotations

import platform
import re
from pathlib import Path

import torch

DOC = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def machine() -> str:
    return (f"{platform.processor() or platform.machine()}, torch {torch.__version__}, "
            f"{torch.get_num_threads()} torch threads, Python {platform.python_version()}")


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section ``name`` of docs/benchmarks.md."""
    start, end = f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"
    block = f"{start}\n{body.strip()}\n{end}"
    text = DOC.read_text() if DOC.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(start) + ".*?" + re.escape(end), re.S)
    text = pattern.sub(lambda _: block, text) if pattern.search(text) else text.rstrip() + "\n\n" + block + "\n"
    DOC.write_text(text)


def evolve(search: dict, data_dir, out_dir) -> Path:
    """Warm-up, ``search['evolution']['generations']`` generations and the export of the learned
    space under ``out_dir`` (the workflow's steps, in this process); returns the space document.
    A finished search (its ``learned.json``) is kept."""
    from autospace.search.evolution.steps import export_space, run_generation, warmup

    out = Path(out_dir)
    space = out / "learned.json"
    if not space.exists():
        warmup(search, data_dir, out / "warmup")
        prev = out / "warmup"
        for g in range(search["evolution"]["generations"]):
            run_generation(search, data_dir, prev, generation_dir(out, g), g)
            prev = generation_dir(out, g)
        export_space(search, prev, space)
    return space


def generation_dir(out_dir, generation: int) -> Path:
    """Where :func:`evolve` writes ``generation`` (its ``population.json``, checkpoint, ...)."""
    return Path(out_dir) / f"gen_{generation:03d}"


def last_generation(search: dict, out_dir) -> Path:
    """The folder of the last generation :func:`evolve` wrote."""
    return generation_dir(out_dir, search["evolution"]["generations"] - 1)


def hand_spaces(backbone: str, out_dir) -> dict[str, Path]:
    """The hand-designed spaces of ``backbone`` (ProxylessNAS' and the reference-only one)
    written into ``out_dir``: name -> space document."""
    from autospace.arch.space import proxylessnas_space, reference_space

    spaces = {}
    for space in (proxylessnas_space(backbone), reference_space(backbone)):
        space.save(Path(out_dir) / f"{space.name}.json")
        spaces[space.name] = Path(out_dir) / f"{space.name}.json"
    return spaces
