"""The streaming data pipeline: datasets, the ImageNet transforms, the seeded sampler, the loader.

Every training stage reads its data through :func:`make_loader`: a ``torch.utils.data.DataLoader``
over a map-style dataset (:class:`ImageTensors` for Fashion-MNIST, held in memory as uint8;
:class:`ImageFiles` for an ImageFolder, decoded from disk by the loader's worker processes) and
a :class:`GlobalBatches` batch sampler.

Determinism does not depend on the number of workers or processes. The order of an epoch is a
permutation seeded by (seed, epoch) alone; every sample of a global batch carries its own
augmentation seed, derived from (seed, epoch, position in the epoch); each rank takes its
contiguous shard of every global batch. So one process and N processes see the same global
batches with the same augmentations, and a run killed at step s of epoch e resumes at exactly
the sample it would have drawn next (:meth:`GlobalBatches.set_position`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate

from ..errors import SpecError

FASHION_MNIST_MEAN, FASHION_MNIST_STD = 0.2860, 0.3530
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
#: Eval resize: the shorter side to resolution / 0.875 (256 for 224), then the centre crop.
EVAL_CROP_FRACTION = 0.875


def epoch_seed(seed: int, epoch: int) -> int:
    """The 63-bit seed of one epoch's order and augmentations (stable across processes)."""
    return int.from_bytes(hashlib.sha256(f"{seed}:epoch:{epoch}".encode()).digest()[:8], "big") >> 1


_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


def mix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser, element-wise on uint64: a fixed, well-mixed hash of each value."""
    with np.errstate(over="ignore"):
        z = (values.astype(np.uint64) + np.uint64(0x9E3779B97F4A7C15)) & _MASK
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK
        return z ^ (z >> np.uint64(31))


def sample_seeds(seed: int, epoch: int, positions: np.ndarray) -> np.ndarray:
    """The augmentation seeds (63-bit) of the samples at ``positions`` of an epoch."""
    return mix64(positions.astype(np.uint64) ^ np.uint64(epoch_seed(seed, epoch))) >> np.uint64(1)


class GlobalBatches(Sampler):
    """Batch sampler: this rank's shard of every global batch, as ``(indices, seeds)`` arrays.

    ``shuffle``: epoch e is ``randperm(n)`` seeded by :func:`epoch_seed` (seed, e); otherwise the
    dataset order. ``cycle``: :meth:`batch` may be asked for any step, wrapping into the next
    epochs (search-val batches drawn alongside a longer training pass). Iterating yields the
    steps of the current epoch from the current position (:meth:`set_position`).
    """

    def __init__(self, size: int, batch_size: int, seed: int, shuffle: bool = True, rank: int = 0,
                 world: int = 1):
        if size < 1:
            raise SpecError("data", "the part holds no images", size)
        self.size, self.batch_size, self.seed, self.shuffle = size, batch_size, seed, shuffle
        self.rank, self.world = rank, world
        self.epoch, self.start = 0, 0
        self._order: tuple[int, torch.Tensor] | None = None

    def __len__(self) -> int:
        """Steps per epoch (the last batch may be smaller)."""
        return -(-self.size // self.batch_size)

    def global_size(self, step: int) -> int:
        """Images in global batch ``step`` (of any epoch)."""
        return min(self.batch_size, self.size - (step % len(self)) * self.batch_size)

    def set_position(self, epoch: int, step: int = 0) -> None:
        self.epoch, self.start = epoch, step

    def order(self, epoch: int) -> torch.Tensor:
        if self._order is None or self._order[0] != epoch:
            perm = torch.randperm(self.size, generator=torch.Generator().manual_seed(epoch_seed(self.seed, epoch))) \
                if self.shuffle else torch.arange(self.size)
            self._order = (epoch, perm)
        return self._order[1]

    def batch(self, epoch: int, step: int) -> tuple[np.ndarray, np.ndarray]:
        """This rank's shard of global batch ``step`` of ``epoch`` (``step`` may pass the epoch's
        end: it then counts on into the following epochs)."""
        epoch, step = epoch + step // len(self), step % len(self)
        lo = step * self.batch_size
        positions = np.arange(lo, min(lo + self.batch_size, self.size))
        if self.world > 1:
            positions = np.array_split(positions, self.world)[self.rank]
        return self.order(epoch)[positions].numpy(), sample_seeds(self.seed, epoch, positions)

    def __iter__(self):
        for step in range(self.start, len(self)):
            yield self.batch(self.epoch, step)


class Cycle(Sampler):
    """Endless draws from a :class:`GlobalBatches`: draw d is its batch d (counting on through
    the epochs), from draw ``start`` on."""

    def __init__(self, batches: GlobalBatches, start: int = 0):
        self.batches, self.start = batches, start

    def __iter__(self):
        draw = self.start
        while True:
            yield self.batches.batch(0, draw)
            draw += 1


# -- transforms -----------------------------------------------------------------------------------

def file_transform(augmentation: str, resolution: int, randaugment: int | None = None,
                   color_jitter: float = 0.0):
    """The torchvision v2 transform of an image file. ``random_resized_crop``: the ImageNet
    training recipe of ProxylessNAS / EfficientNet (RandomResizedCrop(resolution, scale
    0.08-1) + horizontal flip, then optional colour jitter and RandAugment(2 ops, magnitude
    ``randaugment``)); ``crop_flip``: the evaluation crop, then a random crop after 4 % padding
    and a flip; ``none``: the evaluation transform (shorter side to resolution / 0.875, centre
    crop). All end normalised with ImageNet's mean and std."""
    from torchvision.transforms import v2

    eval_size = int(round(resolution / EVAL_CROP_FRACTION))
    if augmentation == "random_resized_crop":
        steps = [v2.RandomResizedCrop(resolution, scale=(0.08, 1.0), antialias=True), v2.RandomHorizontalFlip()]
    else:
        steps = [v2.Resize(eval_size, antialias=True), v2.CenterCrop(resolution)]
        if augmentation == "crop_flip":
            steps += [v2.RandomCrop(resolution, padding=max(1, resolution // 25)), v2.RandomHorizontalFlip()]
    if augmentation != "none":
        if color_jitter:
            steps.append(v2.ColorJitter(color_jitter, color_jitter, color_jitter))
        if randaugment:
            steps.append(v2.RandAugment(num_ops=2, magnitude=randaugment))
    steps += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    return v2.Compose(steps)


def crop_flip(images: torch.Tensor, seeds: np.ndarray, padding: int, background: float) -> torch.Tensor:
    """Random crop after ``padding`` pixels of ``background`` and a horizontal flip of each image
    of a batch, the offsets and flips drawn from each sample's own seed (so any shard of a batch
    gets the same augmentation as the whole batch)."""
    n, _, h, w = images.shape
    bits = mix64(seeds)
    span = np.uint64(2 * padding + 1)
    if padding:
        oy = torch.from_numpy((bits % span).astype(np.int64))
        ox = torch.from_numpy(((bits >> np.uint64(16)) % span).astype(np.int64))
        padded = torch.nn.functional.pad(images, (padding,) * 4, value=background)
        rows = (oy[:, None] + torch.arange(h))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w))[:, None, None, :]
        images = padded[torch.arange(n)[:, None, None, None], torch.arange(images.shape[1])[None, :, None, None],
                        rows, cols]
    flip = torch.from_numpy(((bits >> np.uint64(32)) & np.uint64(1)).astype(bool))[:, None, None, None]
    return torch.where(flip, images.flip(3), images)


# -- datasets -------------------------------------------------------------------------------------

class ImageTensors(Dataset):
    """Images held in memory as uint8 ``(N, H, W)`` (Fashion-MNIST: 47 MB), normalised and
    augmented a batch at a time (``__getitems__``): ``crop_flip`` (``padding`` pixels) or
    ``none``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, mean: float, std: float,
                 augmentation: str = "none", padding: int = 2):
        if augmentation not in ("crop_flip", "none"):
            raise SpecError("augmentation", "in-memory images support crop_flip or none", augmentation)
        self.images, self.labels, self.mean, self.std = images, labels, mean, std
        self.augmentation, self.padding = augmentation, padding

    def __len__(self) -> int:
        return len(self.labels)

    def __getitems__(self, request) -> tuple[torch.Tensor, torch.Tensor]:
        indices, seeds = request
        index = torch.from_numpy(np.asarray(indices, dtype=np.int64))
        x = self.images[index].float().div_(255.0).sub_(self.mean).div_(self.std).unsqueeze(1)
        if self.augmentation == "crop_flip":
            x = crop_flip(x, np.asarray(seeds, dtype=np.uint64), self.padding, -self.mean / self.std)
        return x, self.labels[index]

    def __getitem__(self, index: int):
        x, y = self.__getitems__(([index], [0]))
        return x[0], y[0]

    @staticmethod
    def collate(batch):
        return batch


def _seeded(transform, image, seed: int):
    """``transform(image)`` with torch's CPU generator (the one the v2 transforms draw from)
    seeded by ``seed``; in the main process the generator (dropout's) is left as it was. Only
    the CPU generator is touched: ``torch.manual_seed`` would also reseed every CUDA generator
    (which ``fork_rng(devices=[])`` does not restore) and queue the lazy seeding of the other
    backends, formatting the call stack each time (0.3-2 ms an image)."""
    generator = torch.default_generator
    if torch.utils.data.get_worker_info() is not None:
        generator.manual_seed(int(seed))
        return transform(image)
    state = generator.get_state()
    try:
        generator.manual_seed(int(seed))
        return transform(image)
    finally:
        generator.set_state(state)


class EncodedBatch:
    """A batch of still-encoded image files (``distributed.jpeg_decode: device``): the workers
    only read bytes; :meth:`decode` decodes them on the training device (nvjpeg on CUDA, through
    ``torchvision.io.decode_jpeg``) and applies the transform per image under its seed."""

    def __init__(self, data: list[torch.Tensor], seeds: list[int], paths: list[str], transform):
        self.data, self.seeds, self.paths, self.transform = data, seeds, paths, transform

    def decode(self, device: torch.device) -> torch.Tensor:
        from torchvision.io import ImageReadMode, decode_image, decode_jpeg

        try:
            images = decode_jpeg(self.data, mode=ImageReadMode.RGB, device=device)
        except RuntimeError:  # a PNG, CMYK or otherwise unusual file among them: one by one
            images = []
            for data, path in zip(self.data, self.paths):
                try:
                    images.append(decode_image(data, mode=ImageReadMode.RGB).to(device))
                except RuntimeError as err:
                    raise SpecError("image", f"cannot be decoded ({err})", source=path) from None
        return torch.stack([_seeded(self.transform, image, seed) for image, seed in zip(images, self.seeds)])


class ImageFiles(Dataset):
    """An ImageFolder part streamed from disk: relative paths (held as one fixed-width byte
    array, so forked workers share it without copying), labels, and a v2 transform applied
    per image under the sample's own seed. ``decode``: ``workers`` (PIL in the loader's worker
    processes) or ``device`` (the workers read bytes, the training device decodes: see
    :class:`EncodedBatch`)."""

    def __init__(self, root: str | Path, files, labels, transform, decode: str = "workers"):
        self.root = Path(root)
        self.files = files if isinstance(files, np.ndarray) and files.dtype.kind == "S" else \
            np.array([str(f).encode() for f in files], dtype=np.bytes_)
        self.labels = torch.as_tensor(labels, dtype=torch.long)
        self.transform, self.decode = transform, decode

    def __len__(self) -> int:
        return len(self.labels)

    def path(self, index: int) -> Path:
        return self.root / self.files[index].decode()

    def load(self, index: int, seed: int) -> torch.Tensor:
        from PIL import Image

        path = self.path(index)
        try:
            with Image.open(path) as image:
                image = image.convert("RGB")
        except OSError as err:
            raise SpecError("image", f"cannot be decoded ({err.__class__.__name__})", source=str(path)) from None
        return _seeded(self.transform, image, seed)

    def __getitems__(self, request):
        indices, seeds = request
        if self.decode == "device":
            paths = [str(self.path(int(i))) for i in indices]
            # the bytes in memory of this process: torchvision.io.read_file's tensors map the file,
            # and a worker cannot send them (their storage has no file descriptor to share)
            data = [torch.frombuffer(bytearray(Path(p).read_bytes()), dtype=torch.uint8) for p in paths]
            return EncodedBatch(data, [int(s) for s in seeds], paths, self.transform), \
                self.labels[torch.as_tensor(np.asarray(indices, dtype=np.int64))]
        return [(self.load(int(i), int(s)), self.labels[int(i)]) for i, s in zip(indices, seeds)]

    def __getitem__(self, index: int):
        return self.load(index, 0), self.labels[index]

    def collate(self, batch):
        return batch if self.decode == "device" else default_collate(batch)


def make_loader(dataset, sampler: GlobalBatches, workers: int, pin_memory: bool = False) -> DataLoader:
    """The DataLoader of one part: ``workers`` processes (0: in this process) with persistent
    workers and torch's prefetch of 2 batches each, pinned memory on CUDA. The loader draws its
    workers' base seed from a generator of its own, so starting an epoch leaves the global RNG
    (dropout's) untouched and a resumed run draws what an uninterrupted one would."""
    return DataLoader(dataset, batch_sampler=sampler, num_workers=workers, collate_fn=dataset.collate,
                      generator=torch.Generator().manual_seed(0),
                      pin_memory=pin_memory, persistent_workers=workers > 0,
                      prefetch_factor=2 if workers > 0 else None)
