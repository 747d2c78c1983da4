"""The data step of a run: pick the dataset named in the config and prepare it."""

from __future__ import annotations

from pathlib import Path

from .data import prepare_fashion_mnist, prepare_imagefolder
from .options import Option, read_options

DATASETS = ("fashion_mnist", "imagefolder")
VERIFY_MODES = ("header", "decode", "none")

#: The ``data`` section.
OPTIONS = {
    "dataset": Option("fashion_mnist", str, choices=DATASETS),
    "root": Option(None, str, nullable=True),
    "download": Option(True, bool),
    "search_val_size": Option(1000, int, low=1),
    "search_train_size": Option(2000, int, low=1, nullable=True),
    "train_size": Option(5000, int, low=1, nullable=True),
    "test_size": Option(None, int, low=1, nullable=True),
    "verify_images": Option("header", str, choices=VERIFY_MODES),
}


def prepare(data: dict, seed: int, out_dir: str | Path, resolution: int) -> dict:
    """Prepare the dataset named by ``data['dataset']`` into ``out_dir`` for inputs of ``resolution``
    (the backbone's); returns the split document."""
    data = read_options(data, "data", OPTIONS)
    sizes = {k: data[k] for k in ("search_train_size", "train_size", "test_size")}
    if data["dataset"] == "imagefolder":
        return prepare_imagefolder(out_dir, root=data["root"], seed=seed, search_val_size=data["search_val_size"],
                                   resolution=resolution, verify_images=data["verify_images"], **sizes)
    return prepare_fashion_mnist(out_dir, root=data["root"], download=data["download"], seed=seed,
                                 search_val_size=data["search_val_size"], **sizes)
