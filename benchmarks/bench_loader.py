"""DataLoader images/s of our streaming pipeline against plain torchvision on the same JPEGs
(goal: ours >= 0.95 x torchvision at every worker count).

Ours: :class:`autospace.data.loader.ImageFiles` + ``file_transform("random_resized_crop", 224)`` +
:class:`autospace.data.loader.GlobalBatches` + :func:`autospace.data.loader.make_loader`. Baseline:
``torchvision.datasets.ImageFolder(root, transform=<the same v2 transform>)`` +
``DataLoader(batch_size=64, shuffle=True, num_workers=W)``; and the same with our loader's
settings (persistent workers, its prefetch), which leaves the per-image cost alone. All read the
same generated ImageFolder (ImageNet-sized JPEGs, ~500x375, quality 90) in the same run; the
repeats are interleaved (the order alternates) and the median is reported; each loader's first
epoch (worker start) is a warm-up and is not timed. benchmarks/gpu_check.py reuses the pieces
(the images, the loaders, the timing) on a GPU machine.
"""

from __future__ import annotations

import gc
import resource
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import numpy as np
import torch

from .common import machine, write_section

BATCH, RESOLUTION = 64, 224
#: The generated images: count, classes, size (ImageNet's typical 500x375), JPEG quality.
IMAGES, CLASSES, SIZE, QUALITY = 600, 10, (500, 375), 90
WORKERS, REPEATS, EPOCHS = (1, 2), 3, 2
GOAL = 0.95


def make_jpegs(folder: str | Path, n: int = IMAGES, classes: int = CLASSES, size: tuple[int, int] = SIZE,
               seed: int = 0, quality: int = QUALITY, start: int = 0) -> tuple[list[str], list[int]]:
    """Write JPEGs ``start`` .. ``start + n - 1`` of an ImageFolder ``folder/c<k>/<i>.jpg``
    (``classes`` class folders, round robin) and return (paths relative to ``folder``, labels).
    Image i depends on (``seed``, i) alone, so the images can be written in chunks in parallel.
    The content compresses like a photograph, not like noise or a flat colour: smooth colour
    gradients and blobs (a small random grid upsampled bicubically) plus pixel noise."""
    from PIL import Image

    folder = Path(folder)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    files, labels = [], []
    for i in range(start, start + n):
        rng = np.random.default_rng([seed, i])
        label = i % classes
        coarse = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize((w, h), Image.BICUBIC)
        slope = rng.uniform(-0.25, 0.25, (2, 3)).astype(np.float32)
        pixels = (np.asarray(coarse, dtype=np.float32) + xx[..., None] * slope[0] + yy[..., None] * slope[1]
                  + rng.normal(0, 12, (h, w, 3)).astype(np.float32))
        name = f"c{label:02d}/{i:05d}.jpg"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / name, quality=quality)
        files.append(name)
        labels.append(label)
    return files, labels


def transform():
    """The training transform both pipelines apply (ours, from autospace.data.loader)."""
    from autospace.data.loader import file_transform

    return file_transform("random_resized_crop", RESOLUTION)


def ours(root: Path, files: list[str], labels: list[int], workers: int, batch: int = BATCH, seed: int = 0,
         pin_memory: bool = False, decode: str = "workers"):
    """Our loader of ``root``: (DataLoader, called before each epoch with its number).
    ``decode``: where the JPEGs are decoded (``distributed.jpeg_decode``: ``workers`` or
    ``device``, the latter when the batch reaches the device, see :func:`images_per_second`)."""
    from autospace.data.loader import GlobalBatches, ImageFiles, make_loader

    dataset = ImageFiles(root, files, labels, transform(), decode)
    batches = GlobalBatches(len(dataset), batch, seed)
    return make_loader(dataset, batches, workers, pin_memory), lambda epoch: batches.set_position(epoch, 0)


def torchvision_baseline(root: Path, workers: int, batch: int = BATCH, **loader_settings):
    """Plain torchvision on ``root``: (DataLoader, a no-op before each epoch). ``loader_settings``:
    further DataLoader arguments (none: torch's defaults, workers restarted every epoch)."""
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    loader = DataLoader(ImageFolder(str(root), transform=transform()), batch_size=batch, shuffle=True,
                        num_workers=workers, **loader_settings)
    return loader, lambda epoch: None


def torchvision_matched(root: Path, workers: int, batch: int = BATCH):
    """torchvision with our loader's settings (persistent workers, our prefetch): the per-image
    cost alone."""
    probe = ours(root, ["x"], [0], max(1, workers), batch)[0]
    return torchvision_baseline(root, workers, batch, persistent_workers=probe.persistent_workers,
                                prefetch_factor=probe.prefetch_factor)


#: name -> (root, files, labels, workers, batch) -> (DataLoader, before_epoch)
PIPELINES = {
    "ours": ours,
    "torchvision": lambda root, files, labels, w, batch: torchvision_baseline(root, w, batch),
    "torchvision_matched": lambda root, files, labels, w, batch: torchvision_matched(root, w, batch),
}


def images_per_second(loader, before_epoch, epochs: int = EPOCHS, max_seconds: float | None = None,
                      compute=None, stall_s: float = 0) -> float:
    """Images/s over epochs 2..``epochs`` of ``loader`` (the first one is a warm-up), each
    epoch cut after ``max_seconds`` if given. ``compute``: an :class:`autospace.engine.loop.Compute`
    that takes each batch to its device as training does (decoding still-encoded images there),
    synchronised at the end of each epoch. ``stall_s``: raise if the workers send no batch for
    that long (0: wait for ever)."""
    if stall_s and loader.num_workers:
        loader.timeout = stall_s  # read by each iterator: a lost batch raises instead of hanging
    seen, elapsed = 0, 0.0
    for epoch in range(epochs):
        before_epoch(epoch)
        t0, count = time.perf_counter(), 0
        for x, y in loader:
            if compute is not None:
                x, _ = compute.inputs(x, y)
            count += x.shape[0]
            if max_seconds is not None and time.perf_counter() - t0 >= max_seconds:
                break
        if compute is not None and compute.cuda:
            torch.cuda.synchronize()
        if epoch:
            seen, elapsed = seen + count, elapsed + time.perf_counter() - t0
    return seen / elapsed


def children_cpu_s() -> float:
    """CPU seconds of this process's finished children (the loaders' joined workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(root: Path, files: list[str], labels: list[int], workers=WORKERS, repeats: int = REPEATS,
            epochs: int = EPOCHS, batch: int = BATCH, pipelines=tuple(PIPELINES)) -> dict:
    """Per worker count: the median images/s of each pipeline; the median over the repeats of
    ours / that pipeline in the same repeat (``vs``: paired, so a machine whose load drifts
    between repeats still compares like with like); the median CPU ms per image of the
    workers over the loader's whole life (``cpu_ms``: start, both epochs, exit; waiting for a
    core does not count); and every repeat's rates (``runs``). The repeats are interleaved
    (the order alternates each repeat)."""
    runs = {w: {p: [] for p in pipelines} for w in workers}
    cpu = {w: {p: [] for p in pipelines} for w in workers}
    for r in range(repeats):
        for w in workers:
            for p in (pipelines if r % 2 == 0 else pipelines[::-1]):
                start = children_cpu_s()
                loader, before = PIPELINES[p](root, files, labels, w, batch)
                runs[w][p].append(images_per_second(loader, before, epochs))
                del loader, before
                gc.collect()  # the persistent workers exit (and are joined) with their iterator
                cpu[w][p].append((children_cpu_s() - start) * 1e3 / (len(files) * epochs))
    return {w: {**{p: statistics.median(v) for p, v in runs[w].items()}, "runs": runs[w],
                "vs": {p: statistics.median(o / b for o, b in zip(runs[w]["ours"], v)) for p, v in runs[w].items()},
                "cpu_ms": {p: statistics.median(v) for p, v in cpu[w].items()}}
            for w in workers}


def table(results: dict) -> str:
    """The markdown table of :func:`measure`'s results (all three pipelines)."""
    rows = ["| workers | ours (img/s) | torchvision (img/s) | torchvision, our loader settings (img/s) "
            "| ours / torchvision (goal >= 0.95) | ours / torchvision, our settings "
            "| worker CPU ms per image: ours, torchvision, torchvision with our settings |",
            "|---|---|---|---|---|---|---|"]
    for w, r in results.items():
        ratio, matched = r["vs"]["torchvision"], r["vs"]["torchvision_matched"]
        cpu = ", ".join(f"{r['cpu_ms'][p]:.2f}" for p in ("ours", "torchvision", "torchvision_matched"))
        rows.append(f"| {w} | {r['ours']:.0f} ({r['ours'] / w:.0f} per worker core) | {r['torchvision']:.0f} "
                    f"({r['torchvision'] / w:.0f} per worker core) | {r['torchvision_matched']:.0f} | "
                    f"{ratio:.3f} ({'meets' if ratio >= GOAL else 'misses'} it) | {matched:.3f} | {cpu} |")
    return "\n".join(rows)


def run() -> None:
    torch.set_num_threads(1)  # the main process only receives batches; the workers use one thread each
    with tempfile.TemporaryDirectory(prefix="autospace-bench-loader-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        files, labels = make_jpegs(root)
        made = time.perf_counter() - t0
        kb = sum((root / f).stat().st_size for f in files) / len(files) / 1024
        t0 = time.perf_counter()
        results = measure(root, files, labels)
        took = time.perf_counter() - t0
    runs = "; ".join(f"W={w}: " + ", ".join(f"{p} {'/'.join(f'{v:.0f}' for v in r['runs'][p])}" for p in r["runs"])
                     for w, r in results.items())
    probe = ours(Path("."), ["x"], [0], 1)[0]
    write_section("loader", f"""## Streaming data pipeline (DataLoader images/s)

`python -m benchmarks.run bench_loader` (benchmarks/bench_loader.py), {date.today().isoformat()},
{machine()}, {torch.multiprocessing.cpu_count()} cores. {IMAGES} generated JPEGs of
{SIZE[0]}x{SIZE[1]} px (quality {QUALITY}, {kb:.0f} KB on average, {CLASSES} class folders, in the page
cache), each decoded with PIL and put through the ImageNet training transform
(RandomResizedCrop {RESOLUTION}, scale 0.08-1, flip, ToImage, float, Normalize), batch {BATCH}.
Ours: `ImageFiles` + `file_transform("random_resized_crop", {RESOLUTION})` + `GlobalBatches` +
`make_loader` (persistent workers: {probe.persistent_workers}, prefetch {probe.prefetch_factor}, a seed
per sample). Baseline: `torchvision.datasets.ImageFolder` with the same transform +
`DataLoader(batch_size={BATCH}, shuffle=True, num_workers=W)` (torch's defaults: prefetch 2,
workers restarted every epoch, which the timed epoch includes); and the same with our loader's
settings, which isolates the per-image cost. Medians of {REPEATS} interleaved repeats, each a fresh
loader of {EPOCHS} epochs of which the first (worker start) is not timed; the ratios are the
medians of the repeats' ratios (each of two loaders run one after the other); {took:.0f} s in all.
"Per worker core": images/s / W (the main process, receiving the batches, runs beside them).
"Worker CPU ms per image": the workers' user + system CPU time over each loader's life (start,
both epochs, exit) per image read, which waiting for a busy core does not inflate.

{table(results)}

Each repeat (img/s): {runs}.
""")
    print(f"{len(files)} JPEGs ({kb:.0f} KB each) in {made:.1f} s")
    print(table(results))
