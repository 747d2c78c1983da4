"""The run config's sections without an algorithm package of their own: their option tables and
typed values (``data``, ``distributed``, ``evaluate``, ``train``).

Torch-free on purpose, like :mod:`autospace.options` and the evolution and NAS configs: the
workflow validates a whole config at parse time (:mod:`autospace.runconfig`) in a driver
environment that need not have torch.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from .arch.spec import check_fits_data
from .errors import SpecError
from .options import Option, load_mapping, read_options

DATASETS = ("fashion_mnist", "imagefolder")
VERIFY_MODES = ("header", "decode", "none")

#: The ``data`` section.
DATA = {
    "dataset": Option("fashion_mnist", str, choices=DATASETS),
    "root": Option(None, str, nullable=True),
    "download": Option(True, bool),
    "search_val_size": Option(500, int, low=1),
    "search_train_size": Option(1000, int, low=1, nullable=True),
    "train_size": Option(2500, int, low=1, nullable=True),
    "test_size": Option(5000, int, low=1, nullable=True),
    "verify_images": Option("header", str, choices=VERIFY_MODES),
}

#: What Fashion-MNIST always is (the data step writes it into its split file).
FASHION_MNIST_FIELDS = {"num_classes": 10, "in_channels": 1, "resolution": 28}


def expected_data(data: dict) -> dict:
    """What the data a read ``data`` section (:func:`read_options` with :data:`DATA`) names
    gives a network, known before the data step runs: Fashion-MNIST is 1 x 28 x 28 in 10
    classes; an ImageFolder is RGB, in as many classes as ``root/train`` has class folders (not
    counted while that folder is missing: the data step names it), at the backbone's own
    resolution (the data step resizes to it)."""
    if data["dataset"] == "fashion_mnist":
        return dict(FASHION_MNIST_FIELDS)
    fields = {"in_channels": 3}
    train = Path(data["root"] or "", "train")
    if data["root"] and train.is_dir():
        fields["num_classes"] = sum(1 for p in train.iterdir() if p.is_dir())
    return fields


def check_backbone_data(network: dict, data: dict) -> None:
    """Refuse a backbone (its :func:`autospace.arch.spec.data_fields`, ``network``) that cannot take
    the data a ``data`` section names (channels, classes; see
    :func:`autospace.sections.expected_data`), naming ``backbone.<field>``. The workflow runs it
    at start-up and the data step before it writes anything."""
    data = read_options(data, "data", DATA)
    where = f"data.dataset {data['dataset']}"
    if data["dataset"] == "imagefolder" and data["root"]:
        where += f" at {data['root']}"
    check_fits_data(network, expected_data(data), "backbone.", where)


#: The ``distributed`` section.
DISTRIBUTED = {
    # every process takes a share of each (global) batch: none may be left with nothing
    "processes": Option(1, int, low=1, at_most=("evolution.batch_size", "nas.batch_size", "train.batch_size")),
    "backend": Option("auto", str, choices=("auto", "nccl", "gloo")),
    "loader_workers": Option("auto", int, low=0, words=("auto",)),
    "jpeg_decode": Option("workers", str, choices=("workers", "device")),
}


@dataclass(frozen=True)
class Settings:
    """The ``distributed`` section. ``processes``: data-parallel processes of one training step
    (one per GPU on CUDA); ``backend``: ``auto`` (nccl on CUDA, gloo on CPU), ``nccl`` or
    ``gloo``; ``loader_workers``: DataLoader worker processes per process (``auto``: none for
    data held in memory, else torch's threads of this process less one, at least one);
    ``jpeg_decode``: where image files are decoded, ``workers`` (PIL in the DataLoader workers)
    or ``device`` (the workers read bytes, the training device decodes them: nvjpeg on CUDA)."""

    processes: int
    backend: str
    loader_workers: int | str
    jpeg_decode: str

    def workers(self, in_memory: bool, threads: int) -> int:
        """DataLoader workers for a process running ``threads`` torch threads."""
        if self.loader_workers != "auto":
            return self.loader_workers
        return 0 if in_memory else max(1, threads - 1)

    @classmethod
    def from_config(cls, config: dict) -> "Settings":
        return cls(**read_options(config.get("distributed"), "distributed", DISTRIBUTED))


#: The ``evaluate`` section.
EVALUATE = {
    "batch_size": Option(500, int, low=1),
    "latency_warmup": Option(10, int, low=0),
    "latency_repeats": Option(50, int, low=1),
}

#: ``train.augmentation`` values: pad-crop and flip (small images), the ImageNet recipe, none
#: (the evaluation transform).
AUGMENTATIONS = ("crop_flip", "random_resized_crop", "none")

#: The ``train`` section (final training from scratch; the method doc's defaults).
TRAIN = {
    "optimizer": Option("nesterov", str, choices=("sgd", "nesterov", "adamw")),
    "lr": Option(0.05, float, low=0, low_open=True),
    "momentum": Option(0.9, float, low=0, high=1),
    "weight_decay": Option(5e-5, float, low=0),
    "epochs": Option(4, int, low=1),
    "warmup_epochs": Option(0.5, float, low=0, at_most="train.epochs"),
    "batch_size": Option(128, int, low=1),
    "label_smoothing": Option(0.1, float, low=0, high=0.99),
    "augmentation": Option("crop_flip", str, choices=AUGMENTATIONS,
                           needs=(("random_resized_crop", "data.dataset", "imagefolder"),)),
    "crop_padding": Option(2, int, low=0, high=16),
    "randaugment": Option(None, int, low=1, high=30, nullable=True),
    "color_jitter": Option(0.0, float, low=0, high=1),
    "ema_decay": Option(None, float, low=0, high=0.99999, low_open=True, nullable=True),
    "checkpoint_every_steps": Option(50, int, low=0),
    "log_every_steps": Option(20, int, low=0),
    "amp": Option("bf16", str, choices=("bf16", "fp16", "none")),
    "channels_last": Option(True, bool),
    "val_size": Option(0, int, low=0, below="data.train_size"),
}


@dataclass(frozen=True)
class TrainRecipe:
    """A final-training recipe (the ``train`` section). ``warmup_epochs`` of linear warm-up, then
    cosine decay to 0 (both per step). ``augmentation`` ``crop_flip``: random crop after
    ``crop_padding`` pixels of background padding, and horizontal flip. ``ema_decay``: keep an
    exponential moving average of the weights and save it as the final model (null: off).
    ``checkpoint_every_steps``: also write the resumable state every that many steps (it is
    always written at epoch ends); ``log_every_steps``: a progress line every that many steps.
    ``amp`` applies on CUDA only; ``channels_last`` on every device. ``val_size``: images of the
    train split held out for the per-epoch log (0: none)."""

    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    epochs: int
    warmup_epochs: float
    batch_size: int
    label_smoothing: float
    augmentation: str
    crop_padding: int
    randaugment: int | None
    color_jitter: float
    ema_decay: float | None
    checkpoint_every_steps: int
    log_every_steps: int
    amp: str
    channels_last: bool
    val_size: int

    @classmethod
    def from_dict(cls, data, config: dict | None = None) -> "TrainRecipe":
        """From a ``train`` mapping; given the whole run ``config``, its relations to the data too."""
        return cls(**read_options(data, "train", TRAIN, config))

    @classmethod
    def load(cls, value) -> "TrainRecipe":
        """From a ``train`` mapping or the path of a recipe file (errors then name the file)."""
        if isinstance(value, (str, Path)):
            try:
                return cls.from_dict(load_mapping(value, "train"))
            except SpecError as err:
                raise err.within(source=str(value)) from None
        return cls.from_dict(value)

    def to_dict(self) -> dict:
        return asdict(self)
