"""The prepared GPU check (issue #12): run it when a GPU machine is lent (one H200, 16 cores).

``python -m benchmarks.gpu_check [--out DIR] [--parts stages,train,loader] [--fmnist-root DIR]``
from the repo root. Without CUDA it prints one line saying it skipped and exits 0. With CUDA,
three parts, each in a process of its own under a time limit (the whole check stays under
8 minutes), so a failure or a hang in one leaves the others' results:

- ``stages``: every stage of the tiny config (.test/config/config.yaml) on CUDA, bf16 and
  channels-last (the configs' defaults), called through the library's stage functions in the
  workflow's order (prepare data, warm-up, each generation, export, the hand-designed spaces,
  NAS, final training, evaluation), with the wall time of each: first on a small generated
  ImageFolder (the streaming pipeline, loader workers and pinned memory on CUDA; seconds), with
  ``distributed.jpeg_decode`` ``workers`` then ``device`` (nvjpeg), then on Fashion-MNIST.
  Snakemake is not installed on the GPU machine, hence the library calls. Fashion-MNIST is read
  from ``--fmnist-root`` or Debian's folder when there; otherwise synthetic 28x28 images in its
  prepared format stand in (the same work per step). A loader that stalls fails its stage.
- ``train``: final-training images/s of MobileNetV2 at 224x224, batch 256, through our engine
  (:func:`autospace.engine.train.train`, its real step, optimizer, schedule and engine loop) against a
  plain training loop of ``torchvision.models.mobilenet_v2`` (bf16 autocast, channels-last,
  SGD Nesterov, label smoothing 0.1) on the same data. The data is one synthetic batch already
  on the GPU, handed to ``train`` in place of its DataLoader: 16 cores decode about as many
  JPEGs per second as the GPU trains on (part ``loader`` says how many), so with files the
  loader, not the step, would be measured. Also timed, to place any gap: the plain loop on our
  network, and the plain torchvision loop with the deterministic settings our stages set
  (``seed_everything``). Goal: ours / torchvision >= 0.9.
- ``loader``: DataLoader images/s on generated ImageNet-sized JPEGs (benchmarks/bench_loader.py)
  with 1 to 16 workers, each batch taken to the GPU as training does: our pipeline decoding in
  the workers (PIL), ours with ``jpeg_decode: device`` (the workers read bytes, nvjpeg decodes
  and the same seeded transforms run on the GPU), and torchvision's ImageFolder.

Everything printed also goes to ``DIR/gpu_check.log``; the results to ``DIR/gpu_check.json`` and
``DIR/gpu_check.md`` (tables to copy into docs/benchmarks.md), rewritten after each part.
``DIR``: ``--out``, else ``$OUT`` when set, else benchmarks/out/. ``--cpu-smoke`` runs tiny
versions of ``train`` and ``loader`` on the CPU (32 px, batch 8, a few steps) so this script's
code is tested without a GPU.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PARTS = ("stages", "train", "loader")
#: Seconds each part may take (its process is killed after), on the GPU and in the CPU smoke run.
BUDGET_S = {"stages": 200, "train": 110, "loader": 140}
SMOKE_BUDGET_S = {"stages": 400, "train": 60, "loader": 60}
TOTAL_S = 470  # the whole check: under 8 minutes
SKIP_LINE = "gpu_check: skipped (no CUDA)"
#: A loader whose workers send no batch for this long fails its measurement or stage instead of
#: hanging (a worker that cannot pickle its batch leaves the main process waiting for ever).
STALL_S = 30


def say(out: Path, line: str) -> None:
    """Print ``line`` and append it to ``out/gpu_check.log``."""
    print(line, flush=True)
    with open(out / "gpu_check.log", "a") as log:
        log.write(line + "\n")


class Report:
    """One part's results (``DIR/part_<name>.json``, rewritten at each entry) and lines (printed,
    and appended to ``DIR/gpu_check.log``)."""

    def __init__(self, out: Path, part: str):
        self.out, self.path = out, out / f"part_{part}.json"
        self.data = {"part": part, "results": {}, "lines": [], "markdown": ""}

    def say(self, line: str) -> None:
        say(self.out, line)
        self.data["lines"].append(line)
        self.save()

    def put(self, key: str, value) -> None:
        self.data["results"][key] = value
        self.save()

    def markdown(self, text: str) -> None:
        self.data["markdown"] = text.strip() + "\n"
        self.save()

    def save(self) -> None:
        self.path.write_text(json.dumps(self.data, indent=2, default=str) + "\n")


def device_name(smoke: bool) -> str:
    return "cpu" if smoke else "cuda"


def sync(device) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


# -- part stages ---------------------------------------------------------------------------------

def synthetic_fashion_mnist(out_dir: Path, data: dict, seed: int) -> dict:
    """Fashion-MNIST's prepared format (``dataset.pt``, ``split.json``; see
    :func:`autospace.data.datasets.prepare_fashion_mnist`) holding synthetic 28x28 images: a fixed random
    pattern per class plus noise, as many as the config's subsets need."""
    import torch

    from autospace.data.datasets import search_split
    from autospace.outputs import DATASET, SPLIT
    from autospace.runtime import save_checkpoint

    from autospace.files import write_json

    g = torch.Generator().manual_seed(seed)
    val, search_train = data["search_val_size"], data["search_train_size"] or 1000
    n_train = val + max(search_train, data["train_size"] or 1000)
    n_test = data["test_size"] or 500
    patterns = torch.rand(10, 28, 28, generator=g) * 255

    def images(n):
        labels = torch.arange(n) % 10
        pixels = 0.6 * patterns[labels] + 0.4 * torch.rand(n, 28, 28, generator=g) * 255
        return pixels.to(torch.uint8), labels.to(torch.uint8)

    (train_x, train_y), (test_x, test_y) = images(n_train), images(n_test)
    rest, held = search_split(n_train, val, seed)
    split = {"dataset": "fashion_mnist", "source": "synthetic (benchmarks/gpu_check.py)", "md5": {}, "seed": seed,
             "num_classes": 10, "in_channels": 1, "resolution": 28, "search_train": rest[:search_train],
             "search_val": held, "train": list(range(data["train_size"] or n_train)), "test": list(range(n_test))}
    save_checkpoint(out_dir / DATASET, {"train_images": train_x, "train_labels": train_y,
                                                 "test_images": test_x, "test_labels": test_y})
    write_json(out_dir / SPLIT, split)
    return split


STAGE_MODULES = ("autospace.search.evolution.steps", "autospace.search.nas.search", "autospace.engine.train", "autospace.engine.evaluate")


@contextlib.contextmanager
def stall_guard(seconds: float):
    """Within the block, the loaders the stages make (``make_loader``, wherever autospace imported
    it) raise after ``seconds`` without a batch from their workers instead of hanging."""
    import importlib
    from unittest import mock

    import autospace.data.loader

    for name in STAGE_MODULES:  # they bind make_loader when imported
        importlib.import_module(name)
    original = autospace.data.loader.make_loader

    def guarded(*args, **kwargs):
        loader = original(*args, **kwargs)
        if loader.num_workers:
            loader.timeout = seconds
        return loader

    users = [m for name, m in list(sys.modules.items())
             if name.startswith("autospace") and getattr(m, "make_loader", None) is original]
    with contextlib.ExitStack() as stack:
        for module in users:
            stack.enter_context(mock.patch.object(module, "make_loader", guarded))
        yield


def run_stages(cfg: dict, work: Path, prepare, report: Report, label: str, deadline: float) -> dict:
    """Every stage of ``cfg`` for its spaces and seeds, in the workflow's order, each timed;
    ``prepare(data_dir)`` makes the data. Stops (saying so) once ``deadline`` is passed; a
    loader that stalls fails its stage (:func:`stall_guard`)."""
    from autospace.engine.evaluate import evaluate
    from autospace.search.evolution.steps import export_space, run_generation, warmup
    from autospace.search.nas.search import search
    from autospace.arch.space import hand_designed_space
    from autospace.engine.train import train

    times: dict[str, float] = {}
    data = work / "data"

    def stage(name: str, fn) -> None:
        if time.time() > deadline:
            raise TimeoutError(f"{label}: out of time before {name}")
        t0 = time.perf_counter()
        try:
            fn()
        except Exception as err:
            report.put(f"{label}_failed", {"stage": name, "after_s": time.perf_counter() - t0,
                                           "error": f"{err.__class__.__name__}: {err}"})
            raise
        times[name] = time.perf_counter() - t0
        report.say(f"{label}: {name} {times[name]:.1f} s")
        report.put(f"{label}_stage_s", times)

    search_cfg = {k: cfg[k] for k in ("seed", "device", "backbone", "cell_space", "evolution", "distributed")}
    stage("prepare_data", lambda: prepare(data))
    stage("warmup", lambda: warmup(search_cfg, data, work / "warmup", work / "state/warmup"))
    prev = work / "warmup"
    for g in range(cfg["evolution"]["generations"]):
        stage(f"evolve gen_{g:03d}", lambda g=g, prev=prev: run_generation(
            search_cfg, data, prev, work / f"gen_{g:03d}", g, work / f"state/gen_{g:03d}"))
        prev = work / f"gen_{g:03d}"
    spaces = {}
    for space in cfg["spaces"]:
        spaces[space] = work / "spaces" / f"{space}.json"
        spaces[space].parent.mkdir(parents=True, exist_ok=True)
        if space == "learned":
            stage("export_space", lambda: export_space({k: v for k, v in search_cfg.items() if k != "distributed"},
                                                       prev, spaces["learned"]))
        else:
            stage(f"hand_space {space}", lambda space=space: hand_designed_space(
                space, cfg["backbone"], cfg["evolution"]["reference_cell"]).save(spaces[space]))
    for seed in cfg["seeds"]:
        for space, path in spaces.items():
            run = work / "runs" / f"{space}_seed_{seed}"
            stage(f"nas {space} seed {seed}", lambda path=path, run=run, seed=seed: search(
                {"device": cfg["device"], "backbone": cfg["backbone"], "nas": cfg["nas"],
                 "distributed": cfg["distributed"], "seed": seed}, path, data, run / "nas", run / "state_nas"))
            stage(f"train {space} seed {seed}", lambda run=run, seed=seed: train(
                {"device": cfg["device"], "train": cfg["train"], "distributed": cfg["distributed"], "seed": seed},
                run / "nas/arch.json", data, run / "train", run / "state_train"))
            stage(f"evaluate {space} seed {seed}", lambda run=run, space=space, seed=seed: report.put(
                f"{label}_metrics {space} seed {seed}", evaluate(
                    run / "nas/arch.json", run / "train/model.pt", data, run / "train/metrics.json",
                    cfg["evaluate"], {"space": space, "seed": seed})))
    return times


def part_stages(report: Report, smoke: bool, args) -> None:
    import torch

    sys.path.insert(0, str(REPO / "tests"))
    from workflow_helpers import IMAGEFOLDER_BACKBONE, TINY, merged_config

    from autospace.data.datasets import DEBIAN_ROOT, FASHION_MNIST_FILES, prepare_imagefolder
    from autospace.data.prepare import prepare
    from autospace.sections import FASHION_MNIST_FIELDS

    from .bench_loader import make_jpegs

    deadline = time.time() + (SMOKE_BUDGET_S if smoke else BUDGET_S)["stages"] - 15
    cfg = merged_config(TINY)
    cfg["device"] = device_name(smoke)
    torch.set_num_threads(cfg["threads"])  # as the workflow's jobs (autospace.runtime.job)
    report.say(f"stages: tiny config on {cfg['device']} (evolution amp {cfg['evolution']['amp']}, nas amp "
               f"{cfg['nas']['amp']}, train amp {cfg['train']['amp']}, channels_last {cfg['train']['channels_last']}), "
               f"{torch.get_num_threads()} torch thread(s)")
    roots = [] if args.fmnist_root == "synthetic" else [Path(r) for r in (args.fmnist_root, DEBIAN_ROOT) if r]
    found = next((r for r in roots if all((r / f).is_file() for f in FASHION_MNIST_FILES)), None)
    report.put("fashion_mnist", str(found) if found else "synthetic")
    report.say(f"stages: Fashion-MNIST from {found}" if found else
               "stages: Fashion-MNIST not found (--fmnist-root): synthetic 28x28 images in its prepared format")

    def prepare_fmnist(data_dir: Path) -> None:
        if found:
            prepare({**cfg["data"], "root": str(found), "download": False}, cfg["seed"], data_dir,
                    FASHION_MNIST_FIELDS)
        else:
            data_dir.mkdir(parents=True, exist_ok=True)
            synthetic_fashion_mnist(data_dir, cfg["data"], cfg["seed"])

    def prepare_folder(data_dir: Path) -> None:
        images = data_dir.parent / "images"
        make_jpegs(images / "train", 24, 3, (64, 48))
        make_jpegs(images / "val", 6, 3, (64, 48), start=24)
        prepare_imagefolder(data_dir, root=str(images), seed=cfg["seed"], search_val_size=6, resolution=32)

    def on_folder(decode: str) -> dict:
        return {**cfg, "backbone": IMAGEFOLDER_BACKBONE, "spaces": ["learned", "reference"],
                "distributed": {**cfg["distributed"], "loader_workers": 2, "jpeg_decode": decode}}

    folder = "the tiny config's stages on a generated ImageFolder (24 + 6 JPEGs, a 32 px backbone, 2 loader workers"
    # the short ImageFolder runs first (the streaming pipeline on CUDA), then the tiny config
    runs = [("imagefolder", on_folder("workers"), prepare_folder, f"{folder}, decoding in the workers)"),
            ("imagefolder_device_decode", on_folder("device"), prepare_folder,
             f"{folder}, distributed.jpeg_decode: device)"),
            ("tiny", cfg, prepare_fmnist, "the tiny config")]
    failed = []
    with tempfile.TemporaryDirectory(prefix="gpu-check-stages-") as tmp:
        for label, run_cfg, prepare_data, what in runs:
            report.say(f"stages: {label}: {what}")
            try:
                with stall_guard(STALL_S):
                    run_stages(run_cfg, Path(tmp) / label, prepare_data, report, label, deadline)
            except Exception as err:  # the next run still runs
                report.say(f"stages: {label}: FAILED {err.__class__.__name__}: {err}")
                report.put(f"{label}_error", traceback.format_exc())
                traceback.print_exc()
                failed.append(label)
            report.markdown(stages_markdown(report.data["results"], [r[0] for r in runs]))
    if failed:
        raise RuntimeError(f"stages failed in: {', '.join(failed)}")


def stages_markdown(results: dict, labels: list[str]) -> str:
    """The stages' table: each stage of each run (evaluations with their test top-1), each
    run's total."""
    rows = []
    for label in labels:
        times = results.get(f"{label}_stage_s", {})
        for name, t in times.items():
            evaluated = name.startswith("evaluate ")
            metrics = results.get(f"{label}_metrics {name[len('evaluate '):]}") if evaluated else None
            note = f"top-1 {metrics['top1']:.3f} of {metrics['test_images']}" if metrics else ""
            rows.append(f"| {label} | {name} | {t:.1f} | {note} |")
        failed = results.get(f"{label}_failed")
        if failed:
            rows.append(f"| {label} | {failed['stage']} | failed after {failed['after_s']:.1f} | {failed['error']} |")
        if times:
            total = "the stages that ran" if failed else "all stages"
            rows.append(f"| {label} | **{total}** | **{sum(times.values()):.1f}** | |")
    return "\n".join([f"Stages (Fashion-MNIST: {results.get('fashion_mnist')}):", "",
                      "| run | stage | wall (s) | result |", "|---|---|---|---|", *rows])


# -- part train ----------------------------------------------------------------------------------

class SyntheticLoader:
    """Stands in for ``train``'s DataLoader: each epoch yields the same batch, already on the
    device, once per step of ``batches`` (a :class:`autospace.data.loader.GlobalBatches`), and times
    the steps from step ``warm`` on (the device synchronised at both ends)."""

    def __init__(self, batches, x, y, warm: int):
        self.batches, self.x, self.y, self.warm = batches, x, y, warm
        self.t0 = self.t1 = None

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self):
        for step in range(self.batches.start, len(self.batches)):
            if step == self.warm:
                sync(self.x.device)
                self.t0 = time.perf_counter()
            yield self.x, self.y
        sync(self.x.device)
        self.t1 = time.perf_counter()

    def images_per_second(self) -> float:
        return (len(self.batches) - self.warm) * self.x.shape[0] / (self.t1 - self.t0)


def image_folder_index(root: Path, classes: int, n: int) -> None:
    """``root/{train,val}/<class>/<i>.jpg``: ``n`` copies of one tiny JPEG over ``classes``
    class folders (only indexed: the synthetic loader replaces the decoding), one val image."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (128, 64, 32)).save(buffer, format="JPEG")
    jpeg = buffer.getvalue()
    for c in range(classes):
        (root / "train" / f"c{c:04d}").mkdir(parents=True)
    for i in range(n):
        (root / "train" / f"c{i % classes:04d}" / f"{i}.jpg").write_bytes(jpeg)
    (root / "val" / "c0000").mkdir(parents=True)
    (root / "val" / "c0000" / "0.jpg").write_bytes(jpeg)


def ours_engine(work: Path, device: str, x, y, warm: int, epochs_steps: int, classes: int) -> float:
    """Images/s of :func:`autospace.engine.train.train` (MobileNetV2 of autospace's zoo) on the batch
    ``x, y``, through its own step and engine loop; only its DataLoader is replaced."""
    from unittest import mock

    import autospace.engine.train as T
    from autospace.data.datasets import prepare_imagefolder
    from autospace.arch.zoo import mobilenet_v2

    batch, res = x.shape[0], x.shape[-1]
    image_folder_index(work / "images", classes, epochs_steps * batch)
    prepare_imagefolder(work / "data", root=str(work / "images"), seed=0, search_val_size=1, resolution=res,
                        verify_images="none")
    (work / "arch.json").write_text(mobilenet_v2(num_classes=classes, resolution=res).dumps())
    loaders: list[SyntheticLoader] = []

    def loader(dataset, batches, workers, pin_memory=False):
        loaders.append(SyntheticLoader(batches, x, y, warm))
        return loaders[-1]

    config = {"seed": 0, "device": device, "distributed": {"processes": 1, "loader_workers": 0},
              "train": {"epochs": 1, "batch_size": batch, "augmentation": "random_resized_crop",
                        "checkpoint_every_steps": 0, "log_every_steps": 20}}
    with mock.patch.object(T, "make_loader", loader):
        T.train(config, work / "arch.json", work / "data", work / "out", work / "state")
    if len(loaders) != 1 or len(loaders[0]) != epochs_steps:
        raise RuntimeError(f"train() made {len(loaders)} loader(s) of {[len(x) for x in loaders]} steps, expected "
                           f"one of {epochs_steps}")
    return loaders[0].images_per_second()


def plain_loop(model, device: str, x, y, warm: int, steps: int) -> float:
    """Images/s of a plain training loop: bf16 autocast and channels-last on CUDA, SGD Nesterov,
    label-smoothed cross-entropy."""
    import torch

    cuda = torch.device(device).type == "cuda"
    model = model.to(device)
    if cuda:
        model = model.to(memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-5)
    criterion = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    model.train()
    for step in range(steps):
        if step == warm:
            sync(device)
            t0 = time.perf_counter()
        with torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=cuda):
            loss = criterion(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return (steps - warm) * x.shape[0] / (time.perf_counter() - t0)


def torch_defaults(deterministic: bool = False) -> None:
    """torch's default kernel selection, or the deterministic one our stages ask for."""
    import torch

    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    torch.backends.cudnn.benchmark = False


OURS = "ours: autospace.engine.train.train (engine, its step, our MobileNetV2)"
BASELINE = "plain loop, torchvision mobilenet_v2 (the baseline)"


def part_train(report: Report, smoke: bool, args) -> None:
    import torch
    import torchvision

    from autospace.arch.builder import build_network
    from autospace.arch.zoo import mobilenet_v2

    device = device_name(smoke)
    res, batch, warm, timed, classes, rounds = (32, 8, 1, 2, 10, 1) if smoke else (224, 256, 15, 45, 1000, 2)
    steps = warm + timed
    report.say(f"train: MobileNetV2 {res}x{res}, batch {batch}, {classes} classes, {warm} warm-up + {timed} timed "
               f"steps, on {device}" + (" (bf16 autocast, channels-last)" if device == "cuda" else ""))
    g = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 3, res, res, generator=g).to(device)
    if device == "cuda":
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, classes, (batch,), generator=g).to(device)
    def ours_run(work):
        return ours_engine(work, device, x, y, warm, steps, classes)

    def plain(make_model):
        return lambda work: plain_loop(make_model(), device, x, y, warm, steps)

    def torchvision_net():
        return torchvision.models.mobilenet_v2(num_classes=classes)

    # (name, deterministic kernels, run(work dir) -> images/s); train() itself always asks for
    # deterministic kernels (autospace.runtime.seed_everything)
    runs = [(OURS, True, ours_run),
            ("plain loop, our MobileNetV2 (autospace build_network)", False,
             plain(lambda: build_network(mobilenet_v2(classes, resolution=res)))),
            (BASELINE, False, plain(torchvision_net)),
            ("plain loop, torchvision mobilenet_v2, deterministic kernels (as our stages)", True,
             plain(torchvision_net))]
    rates: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    for r in range(rounds):
        for name, deterministic, fn in runs:
            torch_defaults(deterministic)
            try:
                with tempfile.TemporaryDirectory(prefix="gpu-check-train-") as tmp:
                    rate = fn(Path(tmp))
            except Exception as err:  # one failing variant leaves the others
                report.say(f"train: {name}: FAILED {err.__class__.__name__}: {err}")
                traceback.print_exc()
                continue
            finally:
                if device == "cuda":
                    torch.cuda.empty_cache()
            rates[name].append(rate)
            report.say(f"train: round {r + 1} {name}: {rate:.0f} img/s")
            report.put("images_per_s", rates)
    torch_defaults()
    median = {name: statistics.median(v) for name, v in rates.items() if v}
    report.put("median_images_per_s", median)
    lines = ["| run | images/s (median) | each round |", "|---|---|---|"]
    lines += [f"| {name} | {median[name]:.0f} | {', '.join(f'{v:.0f}' for v in rates[name])} |" for name in median]
    if OURS in median and BASELINE in median:
        ratio = median[OURS] / median[BASELINE]
        verdict = f"{ratio:.3f} (goal >= 0.9: {'meets' if ratio >= 0.9 else 'misses'} it)"
        report.put("ratio_ours_to_torchvision", ratio)
        report.say(f"train: ours / torchvision = {verdict}")
        lines.append(f"\nours / torchvision: **{verdict}**")
    report.markdown(f"Final training, MobileNetV2 {res}x{res}, batch {batch}, synthetic batch on {device}:\n\n"
                    + "\n".join(lines))


# -- part loader ---------------------------------------------------------------------------------

def write_jpegs_parallel(root: Path, n: int, size, processes: int) -> tuple[list[str], list[int]]:
    """:func:`benchmarks.bench_loader.make_jpegs` in ``processes`` chunks at once."""
    from concurrent.futures import ProcessPoolExecutor

    from .bench_loader import CLASSES, make_jpegs

    chunk = -(-n // processes)
    with ProcessPoolExecutor(processes) as pool:
        parts = [pool.submit(make_jpegs, root, min(chunk, n - s), CLASSES, size, 0, start=s)
                 for s in range(0, n, chunk)]
        done = [p.result() for p in parts]
    return [f for d in done for f in d[0]], [label for d in done for label in d[1]]


#: The loader part's pipelines: name -> (bench_loader maker, decode), all taken to the device.
LOADER_PIPELINES = {"ours": ("ours", "workers"), "ours, jpeg_decode device": ("ours", "device"),
                    "torchvision": ("torchvision", None)}


def part_loader(report: Report, smoke: bool, args) -> None:
    import torch

    from autospace.engine.loop import Compute

    from . import bench_loader as B

    compute = Compute(torch.device(device_name(smoke)))
    n, size, workers, seconds = (48, (80, 60), (0, 2), 0.5) if smoke else (4000, B.SIZE, (0, 1, 2, 4, 8, 16), 2.0)
    stall_s = 3 if smoke else STALL_S / 2  # a batch of 64 comes in well under a second
    deadline = time.time() + (SMOKE_BUDGET_S if smoke else BUDGET_S)["loader"] - 12
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="gpu-check-loader-") as tmp:
        root = Path(tmp)
        t0 = time.perf_counter()
        files, labels = write_jpegs_parallel(root, n, size, min(cores, 16))
        kb = sum((root / f).stat().st_size for f in files) / n / 1024
        report.say(f"loader: {n} JPEGs of {size[0]}x{size[1]} ({kb:.0f} KB) written in {time.perf_counter() - t0:.1f}"
                   f" s; {cores} cores; batch {B.BATCH}, RandomResizedCrop {B.RESOLUTION}, each batch taken to "
                   f"{compute.device} (pinned memory {compute.cuda})")
        rates: dict[int, dict[str, float]] = {}
        broken: set[str] = set()  # a pipeline that failed is not tried again with more workers
        for w in workers:
            if time.time() > deadline:
                report.say(f"loader: out of time, skipped {w} workers and more")
                break
            rates[w] = {}
            for name, (maker, decode) in LOADER_PIPELINES.items():
                if (w == 0 and decode != "device") or name in broken:  # main-process decoding: nvjpeg only
                    continue
                try:
                    loader, before = (B.ours(root, files, labels, w, pin_memory=compute.cuda, decode=decode)
                                      if maker == "ours" else B.torchvision_baseline(root, w, pin_memory=compute.cuda))
                    rates[w][name] = B.images_per_second(loader, before, 2, seconds, compute, stall_s=stall_s)
                    del loader
                except Exception as err:  # the next pipeline still runs
                    report.say(f"loader: {name} with {w} workers FAILED {err.__class__.__name__}: {err}"
                               + ("; not tried with more workers" if w else ""))
                    report.put("failed", report.data["results"].get("failed", []) + [f"{name}, {w} workers: {err}"])
                    broken |= {name} if w else set()
            report.say(f"loader: {w} workers: " + ", ".join(f"{k} {v:.0f} img/s" for k, v in rates[w].items()))
            report.put("images_per_s", rates)
    names = list(LOADER_PIPELINES)
    lines = [f"| workers | {' | '.join(f'{k} (img/s)' for k in names)} | ours per worker | ours / torchvision |",
             "|---|" + "---|" * (len(names) + 2)]
    for w, r in rates.items():
        cells = [f"{r[k]:.0f}" if k in r else ("-" if w == 0 and k != "ours, jpeg_decode device" else "failed")
                 for k in names]
        per_worker = f"{r['ours'] / w:.0f}" if "ours" in r else "-"
        ratio = f"{r['ours'] / r['torchvision']:.3f}" if "ours" in r and "torchvision" in r else "-"
        lines.append(f"| {w} | {' | '.join(cells)} | {per_worker} | {ratio} |")
    report.markdown(f"DataLoader, {n} generated JPEGs of {size[0]}x{size[1]} ({kb:.0f} KB), batch {B.BATCH}, "
                    f"RandomResizedCrop {B.RESOLUTION}, each batch taken to {compute.device} as training does "
                    f"(`Compute.inputs`), {cores} cores; up to {seconds} s per timed epoch after a warm-up epoch:"
                    "\n\n" + "\n".join(lines))


PART_FUNCTIONS = {"stages": part_stages, "train": part_train, "loader": part_loader}


# -- the driver ----------------------------------------------------------------------------------

def out_dir(value: str | None) -> Path:
    return Path(value or os.environ.get("OUT") or REPO / "benchmarks" / "out")


def machine_info() -> dict:
    import torch

    info = {"date": time.strftime("%Y-%m-%d %H:%M"), "python": platform.python_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "cpu_cores": os.cpu_count(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None}
    try:
        from importlib.metadata import version

        info["torchvision"] = version("torchvision")
        info["dev_shm_free_gb"] = round(shutil.disk_usage("/dev/shm").free / 2**30, 1)
    except Exception as err:  # informational only
        info["info_error"] = str(err)
    return info


def describe(info: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in info.items())


def write_summary(out: Path, summary: dict) -> None:
    """``gpu_check.json`` (everything) and ``gpu_check.md`` (the tables, then every line printed)."""
    (out / "gpu_check.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")
    md = ["# GPU check", "", f"`python -m benchmarks.gpu_check {' '.join(summary['argv'])}`: "
          f"{describe(summary['machine'])}.", ""]
    for name, part in summary["parts"].items():
        md += [f"## {name}: {part['status']} ({part['wall_s']:.0f} s)", "", part.get("markdown") or "(no table)", ""]
    log = (out / "gpu_check.log").read_text() if (out / "gpu_check.log").exists() else ""
    md += ["## Everything printed", "", "```", log.rstrip(), "```", ""]
    (out / "gpu_check.md").write_text("\n".join(md))


def run_part(name: str, out: Path, smoke: bool, args) -> int:
    """One part, in this process (the driver's child): its errors are printed and recorded."""
    report = Report(out, name)
    report.save()
    if smoke:
        import torch

        torch.set_num_threads(1)  # small CPU kernels: more threads only contend
    try:
        PART_FUNCTIONS[name](report, smoke, args)
    except Exception as err:
        report.say(f"{name}: FAILED {err.__class__.__name__}: {err}")
        report.put("error", traceback.format_exc())
        traceback.print_exc()
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.gpu_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", help="output folder (default: $OUT, else benchmarks/out/)")
    parser.add_argument("--parts", default=None, help=f"comma-separated, of {','.join(PARTS)} (default: all; "
                        "with --cpu-smoke: train,loader)")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny versions on the CPU (tests this script)")
    parser.add_argument("--fmnist-root", help="folder holding Fashion-MNIST's four *-ubyte.gz files (default: "
                        "Debian's when there, else synthetic images; 'synthetic': always those)")
    parser.add_argument("--part", help=argparse.SUPPRESS)  # the driver's child: run this one part
    args = parser.parse_args(argv)
    out = out_dir(args.out)
    if args.part:
        return run_part(args.part, out, args.cpu_smoke, args)

    import torch

    if not args.cpu_smoke and not torch.cuda.is_available():
        print(SKIP_LINE)
        return 0
    parts = (args.parts or ("train,loader" if args.cpu_smoke else ",".join(PARTS))).split(",")
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error(f"unknown part {unknown[0]}, expected some of {','.join(PARTS)}")
    out.mkdir(parents=True, exist_ok=True)
    for old in [out / "gpu_check.log", *out.glob("part_*.json")]:
        old.unlink(missing_ok=True)
    summary = {"argv": sys.argv[1:] if argv is None else argv, "machine": machine_info(), "parts": {}}
    say(out, f"gpu_check: {describe(summary['machine'])}; results in {out}")
    budgets = SMOKE_BUDGET_S if args.cpu_smoke else BUDGET_S
    start = time.time()
    for name in parts:
        limit = max(10, min(budgets[name], TOTAL_S - (time.time() - start)))
        command = [sys.executable, "-m", "benchmarks.gpu_check", "--part", name, "--out", str(out)]
        command += ["--cpu-smoke"] * args.cpu_smoke + (["--fmnist-root", args.fmnist_root] if args.fmnist_root else [])
        t0 = time.time()
        child = subprocess.Popen(command, cwd=REPO, start_new_session=True)
        try:
            status = "ok" if child.wait(timeout=limit) == 0 else f"failed (exit {child.returncode})"
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the part and its loader workers
            child.wait()
            status = f"timed out after {limit:.0f} s (results so far kept)"
        path = out / f"part_{name}.json"
        part = json.loads(path.read_text()) if path.exists() else {}
        failed = part.get("results", {}).get("failed")
        if status == "ok" and failed:
            status = f"ok, but {len(failed)} measurement(s) failed"
        summary["parts"][name] = {"status": status, "wall_s": time.time() - t0, **part}
        say(out, f"gpu_check: part {name}: {status}, {time.time() - t0:.0f} s")
        write_summary(out, summary)
    say(out, f"gpu_check: done in {time.time() - start:.0f} s; {out / 'gpu_check.md'}")
    write_summary(out, summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
