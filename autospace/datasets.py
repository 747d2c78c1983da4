"""The data step of a run: pick the dataset named in the config and prepare it."""

from __future__ import annotations

from pathlib import Path

from .data import prepare_fashion_mnist
from .errors import SpecError

DATA_KEYS = {"dataset", "root", "download", "search_val_size", "search_train_size", "train_size", "test_size"}


def prepare(data: dict, seed: int, out_dir: str | Path) -> dict:
    """Prepare the dataset named by ``data['dataset']`` into ``out_dir``; returns the split document."""
    for key in data:
        if key not in DATA_KEYS:
            raise SpecError(f"data.{key}", "unknown key", key)
    if data.get("dataset") != "fashion_mnist":
        raise SpecError("data.dataset", "unknown dataset, expected fashion_mnist", data.get("dataset"))
    return prepare_fashion_mnist(out_dir, root=data.get("root"), download=bool(data.get("download")), seed=seed,
                                 search_val_size=data["search_val_size"],
                                 search_train_size=data.get("search_train_size"),
                                 train_size=data.get("train_size"), test_size=data.get("test_size"))
