"""The data step of a run: pick the dataset named in the config and prepare it."""

from __future__ import annotations

from pathlib import Path

from ..options import read_options
from ..sections import DATA, check_backbone_data
from .datasets import prepare_fashion_mnist, prepare_imagefolder


def prepare(data: dict, seed: int, out_dir: str | Path, network: dict) -> dict:
    """Prepare the dataset named by ``data['dataset']`` into ``out_dir`` for the backbone whose
    :func:`autospace.arch.spec.data_fields` are ``network`` (images at its resolution), after
    :func:`check_backbone_data`; returns the split document."""
    check_backbone_data(network, data)
    data = read_options(data, "data", DATA)
    sizes = {k: data[k] for k in ("search_train_size", "train_size", "test_size")}
    if data["dataset"] == "imagefolder":
        return prepare_imagefolder(out_dir, root=data["root"], seed=seed, search_val_size=data["search_val_size"],
                                   resolution=network["resolution"], verify_images=data["verify_images"], **sizes)
    return prepare_fashion_mnist(out_dir, root=data["root"], download=data["download"], seed=seed,
                                 search_val_size=data["search_val_size"], **sizes)
