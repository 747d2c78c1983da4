"""The data step of a run: pick the dataset named in the config and prepare it."""

from __future__ import annotations

from pathlib import Path

from .data import prepare_fashion_mnist, prepare_imagefolder
from .errors import SpecError

DATA_KEYS = {"dataset", "root", "download", "search_val_size", "search_train_size", "train_size", "test_size",
            "verify_images"}
DATASETS = ("fashion_mnist", "imagefolder")
VERIFY_MODES = ("header", "decode", "none")


def prepare(data: dict, seed: int, out_dir: str | Path, resolution: int) -> dict:
    """Prepare the dataset named by ``data['dataset']`` into ``out_dir`` for inputs of ``resolution``
    (the backbone's); returns the split document."""
    for key in data:
        if key not in DATA_KEYS:
            raise SpecError(f"data.{key}", "unknown key", key)
    if data.get("dataset") not in DATASETS:
        raise SpecError("data.dataset", f"unknown dataset, expected one of {list(DATASETS)}", data.get("dataset"))
    if data.get("verify_images", "header") not in VERIFY_MODES:
        raise SpecError("data.verify_images", f"expected one of {list(VERIFY_MODES)}", data.get("verify_images"))
    sizes = {k: data.get(k) for k in ("search_train_size", "train_size", "test_size")}
    if data["dataset"] == "imagefolder":
        return prepare_imagefolder(out_dir, root=data.get("root"), seed=seed, search_val_size=data["search_val_size"],
                                   resolution=resolution,
                                   verify_images=data.get("verify_images", "header"), **sizes)
    return prepare_fashion_mnist(out_dir, root=data.get("root"), download=bool(data.get("download")), seed=seed,
                                 search_val_size=data["search_val_size"], **sizes)
