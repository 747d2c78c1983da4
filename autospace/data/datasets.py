"""Datasets: Fashion-MNIST (embedded default) and ImageNet-style ImageFolders.

Fashion-MNIST comes from Debian's ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``)
or torchvision's downloader. Each archive is checked against upstream's published MD5 of the
``.gz`` file, or, for archives recompressed by a distribution (Debian's are), against the MD5 of
the decompressed IDX content. The training set is split into search-train and search-val by a
seeded permutation that is written down; the test set is only for final evaluation.
"""

from __future__ import annotations

import gzip
import hashlib
import shutil
from pathlib import Path

import numpy as np
import torch

from ..arch.spec import ArchSpec, check_fits_data, data_fields
from ..errors import SpecError
from ..outputs import DATASET, SPLIT
from ..sections import FASHION_MNIST_FIELDS
from .loader import FASHION_MNIST_MEAN, FASHION_MNIST_STD

DEBIAN_ROOT = "/usr/share/datasets/fashion-mnist"
#: file -> (MD5 of upstream's .gz as published by zalandoresearch/fashion-mnist, MD5 of the IDX content)
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": ("8d4fb7e6c68d591d4c3dfef9ec88bf0d", "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
    "train-labels-idx1-ubyte.gz": ("25c81989df183df01b3e8a0aad5dffbe", "9018921c3c673c538a1fc5bad174d6f9"),
    "t10k-images-idx3-ubyte.gz": ("bef4ecab320f06d8554ea6380940ec79", "8181f5470baa50b63fa0f6fddb340f0a"),
    "t10k-labels-idx1-ubyte.gz": ("bb300cfdad3c16e7a12a480ee83cd310", "15d484375f8d13e6eb1aabb0c3f46965"),
}
HOW_TO_GET = ("install Debian's dataset-fashion-mnist (apt-get install dataset-fashion-mnist), or set "
              "data.download: true on a machine with internet access, or point data.root at a folder "
              "holding the four *-ubyte.gz files")


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def read_idx(raw: bytes, source: str) -> np.ndarray:
    """Decode an IDX file (the MNIST format): magic, dims, then unsigned bytes."""
    if len(raw) < 8 or raw[0] != 0 or raw[1] != 0 or raw[2] != 8:
        raise SpecError("idx", "not an unsigned-byte IDX file", source=source)
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * k: 8 + 4 * k], "big") for k in range(ndim)]
    body = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if body.size != int(np.prod(dims)):
        raise SpecError("idx", f"expected {int(np.prod(dims))} values, found {body.size}", source=source)
    return body.reshape(dims).copy()


def locate_fashion_mnist(root: str | None, download: bool, cache_dir: str | Path) -> Path:
    """The folder holding the four archives: ``root`` if given, else Debian's; else torchvision's
    download (``download``); a ``root`` without them is an error, never silently replaced."""
    candidates = [Path(root)] if root else [Path(DEBIAN_ROOT)]
    for folder in candidates:
        if all((folder / name).is_file() for name in FASHION_MNIST_FILES):
            return folder
    if download:
        made = [p for p in (Path(cache_dir), *Path(cache_dir).parents) if not p.exists()]
        try:
            from torchvision.datasets import FashionMNIST

            FashionMNIST(str(cache_dir), train=True, download=True)
            FashionMNIST(str(cache_dir), train=False, download=True)
            return Path(cache_dir) / "FashionMNIST" / "raw"
        except Exception as err:  # no network, proxy errors...
            if made:  # leave no partial download behind, nor the folders it made
                shutil.rmtree(made[-1], ignore_errors=True)
            raise SpecError("data.root", f"Fashion-MNIST not found and the download failed ({err}); {HOW_TO_GET}",
                            root) from None
    raise SpecError("data.root", f"Fashion-MNIST not found; {HOW_TO_GET}", root or DEBIAN_ROOT)


def load_fashion_mnist(folder: str | Path) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Arrays ``train_images`` (N, 28, 28) uint8, ``train_labels``, ``test_images``, ``test_labels``,
    and the MD5 of each archive. A corrupt or altered archive is a :class:`SpecError` naming it."""
    folder = Path(folder)
    arrays, md5s = {}, {}
    for name, (gz_md5, content_md5) in FASHION_MNIST_FILES.items():
        path = folder / name
        packed = path.read_bytes()
        try:
            raw = gzip.decompress(packed)
        except (OSError, EOFError):
            raise SpecError("md5", "not a readable gzip archive", source=str(path)) from None
        if _md5(packed) != gz_md5 and _md5(raw) != content_md5:
            raise SpecError("md5", f"archive matches neither upstream's MD5 {gz_md5} nor the content MD5 "
                            f"{content_md5}", _md5(packed), source=str(path))
        md5s[name] = _md5(packed)
        split = "train" if name.startswith("train") else "test"
        kind = "images" if "images" in name else "labels"
        arrays[f"{split}_{kind}"] = read_idx(raw, str(path))
    return arrays, md5s


def search_split(n: int, val_size: int, seed: int) -> tuple[list[int], list[int]]:
    """Seeded split of the training indices into (search_train, search_val)."""
    if not 0 < val_size < n:
        raise SpecError("data.search_val_size", f"must be between 1 and {n - 1}", val_size)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(perm[val_size:]), sorted(perm[:val_size])


PARTS = ("search_train", "search_val", "train", "test")


def _subset(indices: list[int], size: int | None, seed: int, what: str) -> list[int]:
    if size is None or size >= len(indices):
        return indices
    if size < 1:
        raise SpecError(what, "must be a positive integer or null", size)
    order = torch.randperm(len(indices), generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(indices[k] for k in order[:size])


def prepare_fashion_mnist(out_dir: str | Path, *, root: str | None, download: bool, seed: int,
                          search_val_size: int, search_train_size: int | None = None,
                          train_size: int | None = None, test_size: int | None = None) -> dict:
    """Decode the archives into ``dataset.pt`` (uint8 tensors) and write ``split.json``: the
    seeded search-train / search-val split of the training set, the final-training and test
    subsets, and where the data came from. Returns the split document."""
    from ..files import write_json
    from ..runtime import save_checkpoint

    out_dir = Path(out_dir)
    folder = locate_fashion_mnist(root, download, out_dir / "download")
    arrays, md5s = load_fashion_mnist(folder)
    n_train, n_test = len(arrays["train_labels"]), len(arrays["test_labels"])
    search_train, search_val = search_split(n_train, search_val_size, seed)
    split = {
        "dataset": "fashion_mnist",
        "source": str(folder),
        "md5": md5s,
        "seed": seed,
        **FASHION_MNIST_FIELDS,
        "search_train": _subset(search_train, search_train_size, seed + 1, "data.search_train_size"),
        "search_val": search_val,
        "train": _subset(list(range(n_train)), train_size, seed + 2, "data.train_size"),
        "test": _subset(list(range(n_test)), test_size, seed + 3, "data.test_size"),
    }
    save_checkpoint(out_dir / DATASET, {k: torch.from_numpy(v) for k, v in arrays.items()})
    write_json(out_dir / SPLIT, split)
    return split


class Splits:
    """The prepared data: parts ``search_train``, ``search_val`` (both from the training set),
    ``train`` (final training) and ``test`` (final evaluation only), each served as a dataset
    by :meth:`dataset`. Fashion-MNIST parts index the decoded archives held in memory (uint8);
    ImageFolder parts index the manifest and are decoded from disk as they are read, so only the
    index grows with the dataset: held as arrays, about 110 bytes per training image."""

    def __init__(self, data_dir: str | Path):
        from ..files import read_json
        from ..runtime import load_checkpoint

        self.dir = data_dir = Path(data_dir)
        self.split = read_json(data_dir / SPLIT, "split")
        for key in ("dataset", *PARTS, "num_classes", "in_channels", "resolution"):
            if key not in self.split:
                raise SpecError(key, "missing from the split file", source=str(data_dir / SPLIT))
        self.dataset_name = self.split["dataset"]
        self.num_classes = self.split["num_classes"]
        self.in_channels = self.split["in_channels"]
        self.resolution = self.split["resolution"]
        self._index = load_checkpoint(data_dir / DATASET)
        # Held as arrays, not Python lists: a list costs about 36 bytes per index and a path
        # string about 80, which at ImageNet's 1.28M images is some 300 MB in every process.
        for part in PARTS:
            self.split[part] = np.asarray(self.split[part], dtype=np.int64)
        for key in ("train_files", "test_files"):
            if key in self._index:
                self._index[key] = np.array([f.encode() for f in self._index[key]], dtype=np.bytes_)

    def check_fits(self, network: ArchSpec, prefix: str = "", source: str | None = None) -> None:
        """Raise SpecError naming ``prefix`` + the field where ``network`` does not fit this
        data (channels, resolution, classes): one line instead of torch's shape error."""
        check_fits_data(data_fields(network), self.split, prefix, f"the data in {self.dir}", source)

    @property
    def in_memory(self) -> bool:
        """Whether the images are held in memory (no loader workers needed)."""
        return self.dataset_name == "fashion_mnist"

    def size(self, part: str) -> int:
        return len(self.split[part])

    def dataset(self, part: str, augmentation: str = "none", *, padding: int = 2, randaugment: int | None = None,
                color_jitter: float = 0.0, indices: list[int] | None = None, decode: str = "workers"):
        """One part as a ``torch.utils.data.Dataset`` (:mod:`autospace.data.loader`), augmented by
        ``augmentation`` (``none``: the evaluation transform). ``indices``: positions within
        the part to keep (a held-out subset). ``decode``: where image files are decoded
        (``workers`` or ``device``, see :class:`autospace.data.loader.ImageFiles`)."""
        from .loader import ImageFiles, ImageTensors, file_transform

        source = "test" if part == "test" else "train"
        chosen = self.split[part] if indices is None else self.split[part][np.asarray(indices, dtype=np.int64)]
        index = torch.from_numpy(chosen)
        if self.dataset_name == "fashion_mnist":
            return ImageTensors(self._index[f"{source}_images"][index], self._index[f"{source}_labels"][index].long(),
                                FASHION_MNIST_MEAN, FASHION_MNIST_STD, augmentation, padding)
        root = Path(self.split["source"]) / ("val" if source == "test" else "train")
        return ImageFiles(root, self._index[f"{source}_files"][chosen], self._index[f"{source}_labels"][index],
                          file_transform(augmentation, self.resolution, randaugment, color_jitter), decode)


def check_image(path: Path, mode: str) -> None:
    """Raise a :class:`SpecError` naming ``path`` unless the image is readable: ``header`` opens
    it and reads its size (cheap, catches empty, truncated-header and non-image files);
    ``decode`` decodes every pixel; ``none`` checks nothing."""
    if mode == "none":
        return
    from PIL import Image

    try:
        if path.stat().st_size == 0:
            raise OSError("empty file")
        with Image.open(path) as image:
            if mode == "decode":
                image.convert("RGB")
            elif image.size[0] < 1 or image.size[1] < 1:
                raise OSError("no pixels")
    except (OSError, SyntaxError, ValueError) as err:
        raise SpecError("image", f"cannot be decoded ({err})", source=str(path)) from None


IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")


def scan_imagefolder(folder: Path, classes: list[str] | None = None) -> tuple[list[str], list[str], list[int]]:
    """(classes, files relative to ``folder``, labels) of an ImageFolder ``folder/<class>/<image>``.
    With ``classes`` (train's), every class of ``folder`` must be one of them; a train class
    without val images is allowed (its test accuracy is simply not measured)."""
    if not folder.is_dir():
        raise SpecError("data.root", "expected an ImageFolder with train/ and val/ folders of class folders",
                        source=str(folder))
    found = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not found:
        raise SpecError("data.root", "no class folders", source=str(folder))
    if classes is not None:
        missing = sorted(set(found) - set(classes))
        if missing:
            raise SpecError("data.root", f"class folder {missing[0]} is not among train/'s classes",
                            source=str(folder / missing[0]))
        if found != classes:  # labels are train's class indices
            found = [c for c in classes if c in set(found)]
    files, labels = [], []
    for name in found:
        label = found.index(name) if classes is None else classes.index(name)
        images = sorted(p for p in (folder / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not images:
            raise SpecError("data.root", f"class folder {name} holds no images", source=str(folder / name))
        files += [str(p.relative_to(folder)) for p in images]
        labels += [label] * len(images)
    return found, files, labels


def check_images(folder: Path, files: list[str], mode: str) -> list[int]:
    """Each file's size in bytes, after :func:`check_image` (``mode``) on each."""
    sizes = []
    for name in files:
        check_image(folder / name, mode)
        sizes.append((folder / name).stat().st_size)
    return sizes


def prepare_imagefolder(out_dir: str | Path, *, root: str, seed: int, search_val_size: int,
                        resolution: int, search_train_size: int | None = None, train_size: int | None = None,
                        test_size: int | None = None, verify_images: str = "header") -> dict:
    """Index an ImageNet-style ``root/{train,val}/<class>/<image>`` into the manifest
    ``dataset.pt`` (class names; per file its path relative to train/ or val/, its size in bytes
    and its label; no pixels) and write ``split.json``: a seeded search-val part held out of
    train (file indices into the list), the search-train rest, and the official val folder as the
    test part (final evaluation only). Every indexed file is checked first (``verify_images``:
    ``header``, ``decode`` or ``none``, see :func:`check_image`): a broken one is named before
    anything is written. The manifest (sizes and the split) is what DVC versions; a file
    replaced by one of another size shows as a changed manifest."""
    from ..files import write_json
    from ..runtime import save_checkpoint

    if not root:
        raise SpecError("data.root", "the ImageFolder path is required", root)
    root_path = Path(root)
    classes, train_files, train_labels = scan_imagefolder(root_path / "train")
    _, test_files, test_labels = scan_imagefolder(root_path / "val", classes)
    train_sizes = check_images(root_path / "train", train_files, verify_images)
    test_sizes = check_images(root_path / "val", test_files, verify_images)
    search_train, search_val = search_split(len(train_files), search_val_size, seed)
    split = {
        "dataset": "imagefolder", "source": str(root_path.resolve()), "seed": seed,
        "num_classes": len(classes), "in_channels": 3, "resolution": resolution,
        "search_train": _subset(search_train, search_train_size, seed + 1, "data.search_train_size"),
        "search_val": search_val,
        "train": _subset(list(range(len(train_files))), train_size, seed + 2, "data.train_size"),
        "test": _subset(list(range(len(test_files))), test_size, seed + 3, "data.test_size"),
    }
    save_checkpoint(Path(out_dir) / DATASET, {
        "classes": classes, "train_files": train_files, "train_labels": torch.tensor(train_labels),
        "train_bytes": torch.tensor(train_sizes, dtype=torch.long), "test_files": test_files,
        "test_labels": torch.tensor(test_labels), "test_bytes": torch.tensor(test_sizes, dtype=torch.long)})
    write_json(Path(out_dir) / SPLIT, split)
    return split
