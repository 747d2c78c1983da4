"""Peak memory of the workflow's jobs on an ImageNet-like ImageFolder of N = 200 and N = 2,000
training JPEGs (issue #12: the training jobs' peak RSS grows by less than 100 MB when the folder
grows 10x; a benchmark, not a timed assert).

``python -m benchmarks.run bench_memory [OUT_DIR]``: generates the two folders (kept in OUT_DIR
for the next run), runs prepare_data -> warm-up -> generation 0 -> export_space -> NAS ->
train -> evaluate through Snakemake in a project copy for each, and writes its section of
docs/benchmarks.md from two measurements of every job:

- Snakemake's benchmark TSV (``results/<exp>/benchmarks/<rule>/*.tsv``): ``max_rss`` is the
  largest *sum* of RSS over the job's process and all its descendants (DataLoader workers
  included; snakemake/benchmark.py), sampled every 0.5 s for the first 30 samples and every 30 s
  after that, so a short peak late in a long job can be missed, and pages shared by the forked
  workers (torch's libraries, the parent's heap) count once per process;
- our own sampler (every 0.2 s for the whole job): the largest sum over the same process tree
  of RSS and of PSS (shared pages divided among the processes sharing them, so PSS adds up to
  what the tree really occupies).

The sampler is also the watchdog: if the whole Snakemake tree holds more than WATCHDOG_MB of
RSS it kills it, so a runaway cannot take the machine down.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from datetime import date
from pathlib import Path

import numpy as np
import torch
import yaml

from .common import machine, write_section

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
from test_workflow_imagefolder import BACKBONE as SMALL_RGB  # noqa: E402
from workflow_helpers import BIN, env, project_copy  # noqa: E402

SIZES = (200, 2000)
CLASSES = 10
VAL_PER_CLASS = 5
WATCHDOG_MB = 8000
SAMPLE_S = 0.2
EXP = "mem"
#: The jobs the goal is about (growth below GOAL_MB from N = 200 to N = 2,000).
GOAL_RULES = ("warmup", "evolve", "nas", "train", "evaluate")
GOAL_MB = 100
BATCH = 20
#: The index-only measurement: ImageNet's training and validation set sizes, 1,000 classes.
IMAGENET = (1_281_167, 50_000, 1000)
RULES = ("prepare_data", "warmup", "evolve", "export_space", "hand_space", "nas", "train", "evaluate")

#: The imagefolder workflow test's small 3-channel backbone, at resolution 64 with a third stage.
BACKBONE = {**SMALL_RGB, "resolution": 64, "num_classes": CLASSES,
            "stages": [*SMALL_RGB["stages"], {"width": 24, "depth": 1, "stride": 2}],
            "head": {**SMALL_RGB["head"], "width": 64}}

#: ImageNet's common shapes (width, height) and their rough frequencies; the rest are drawn
#: at random between 160 and 500 px a side.
SHAPES = [((500, 375), 0.45), ((375, 500), 0.15), ((500, 333), 0.1), ((333, 500), 0.05), ((500, 500), 0.05)]


def _image(rng: np.random.Generator, label: int):
    """One ImageNet-like picture: a smooth field (a coarse random grid, bicubically upscaled,
    tinted by the class) plus pixel noise, at one of ImageNet's usual sizes."""
    from PIL import Image

    u = rng.random()
    for (w, h), p in SHAPES:
        if u < p:
            break
        u -= p
    else:
        w, h = (int(v) for v in rng.integers(160, 501, 2))
    coarse = rng.integers(0, 256, (int(rng.integers(3, 8)), int(rng.integers(3, 8)), 3)).astype(np.float32)
    coarse[..., label % 3] = 0.5 * coarse[..., label % 3] + 96 + 8 * label
    smooth = np.asarray(Image.fromarray(coarse.clip(0, 255).astype(np.uint8)).resize((w, h), Image.BICUBIC),
                        dtype=np.float32)
    pixels = (smooth + rng.normal(0, 12, smooth.shape)).clip(0, 255).astype(np.uint8)
    return Image.fromarray(pixels)


def make_folder(root: Path, n_train: int, seed: int = 0) -> Path:
    """``root/{train,val}/class_<k>/*.JPEG``: ``n_train`` training images over CLASSES classes and
    VAL_PER_CLASS validation images per class, quality 90. Kept once complete."""
    done = root / ".complete"
    if done.exists():
        return root
    rng = np.random.default_rng(seed)
    for part, per_class in (("train", n_train // CLASSES), ("val", VAL_PER_CLASS)):
        for label in range(CLASSES):
            folder = root / part / f"class_{label:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            for k in range(per_class):
                _image(rng, label).save(folder / f"{part}_{label:02d}_{k:05d}.JPEG", quality=90)
    done.touch()
    return root


def _config(images: Path, n_train: int, epochs_scale: int = 1) -> dict:
    """The tiny CI config on ``images``: one generation, no variants, one loader worker, batches
    of BATCH (so N = 200's search-val of 20 images fills them as N = 2,000's does), and every
    stage's epochs times ``epochs_scale``."""
    tiny = yaml.safe_load((REPO / ".test/config/config.yaml").read_text())
    tiny.update({"experiment": EXP, "backbone": BACKBONE, "spaces": ["learned", "reference"], "seeds": [0],
                 "distributed": {"processes": 1, "backend": "auto", "loader_workers": 1},
                 "dvc": {"record": False}})
    tiny["variants"] = {**tiny["variants"], "budgets": [], "ablations": []}
    k = epochs_scale
    tiny["evolution"] = {**tiny["evolution"], "generations": 1, "batch_size": BATCH, "epochs_per_generation": k,
                         "checkpoint_every_steps": 50, "warmup": {**tiny["evolution"]["warmup"], "epochs": k}}
    tiny["nas"] = {**tiny["nas"], "epochs": 2 * k, "warmup_epochs": k, "batch_size": BATCH}
    tiny["train"] = {**tiny["train"], "epochs": k, "batch_size": BATCH, "checkpoint_every_steps": 50,
                     "augmentation": "random_resized_crop"}
    tiny["data"] = {"dataset": "imagefolder", "root": str(images), "download": False,
                    "search_val_size": n_train // 10, "search_train_size": None, "train_size": None,
                    "test_size": None}
    return tiny


def _job_roots(tree: list) -> dict:
    """{pid: rule} of the job processes among ``tree`` (Snakemake runs a ``script:`` job as
    ``python .snakemake/scripts/tmpXXXX.<rule>.py``)."""
    jobs = {}
    for proc in tree:
        try:
            script = next((c for c in proc.cmdline() if "/.snakemake/scripts/" in c and c.endswith(".py")), None)
            if script:
                jobs[proc.pid] = (proc.ppid(), Path(script).name.split(".")[-2])
        except Exception:  # noqa: BLE001 -- gone, or a zombie
            continue
    # forked DataLoader workers share their parent's command line: the root is the topmost
    return {pid: rule for pid, (parent, rule) in jobs.items() if parent not in jobs}


def _tree_memory(proc) -> tuple[float, float, int]:
    """(RSS, PSS) in MB summed over ``proc`` and its descendants, and how many processes."""
    rss = pss = 0
    procs = [proc, *proc.children(recursive=True)]
    for p in procs:
        try:
            info = p.memory_full_info()
        except Exception:  # noqa: BLE001 -- exited between listing and reading
            continue
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return rss / 2 ** 20, pss / 2 ** 20, len(procs)


def run_workflow(repo: Path, config: Path, timeout: float = 3600) -> tuple[dict, float]:
    """Run Snakemake to the evaluate targets under the sampler/watchdog. Returns ({rule: {pid:
    (peak tree RSS, peak tree PSS, most processes)}}, wall seconds)."""
    import psutil

    targets = [f"results/{EXP}/train/{space}/seed_0/metrics.json" for space in ("learned", "reference")]
    log = open(repo / "bench-snakemake.log", "w")
    start = time.time()
    sm = subprocess.Popen([str(BIN / "snakemake"), "--cores", "1", *targets, "--configfile", str(config)],
                          cwd=repo, env=env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    root = psutil.Process(sm.pid)
    peaks: dict = defaultdict(dict)
    try:
        while sm.poll() is None:
            if time.time() - start > timeout:
                raise TimeoutError(f"snakemake ran past {timeout} s")
            try:
                tree = root.children(recursive=True)
            except psutil.NoSuchProcess:
                break
            total = 0.0
            for p in [root, *tree]:
                try:
                    total += p.memory_info().rss / 2 ** 20
                except psutil.Error:
                    pass
            if total > WATCHDOG_MB:
                raise MemoryError(f"the Snakemake tree holds {total:.0f} MB RSS (> {WATCHDOG_MB}): killed")
            for pid, rule in _job_roots(tree).items():
                try:
                    rss, pss, n = _tree_memory(psutil.Process(pid))
                except psutil.Error:
                    continue
                old = peaks[rule].get(pid, (0.0, 0.0, 0))
                peaks[rule][pid] = (max(old[0], rss), max(old[1], pss), max(old[2], n))
            time.sleep(SAMPLE_S)
    finally:
        if sm.poll() is None:
            os.killpg(sm.pid, signal.SIGKILL)
            sm.wait()
        log.close()
    if sm.returncode != 0:
        raise RuntimeError(f"snakemake failed ({sm.returncode}); see {repo / 'bench-snakemake.log'}")
    return peaks, time.time() - start


def read_benchmarks(repo: Path) -> dict:
    """{rule: {"max_rss": peak over its jobs, "max_pss": ..., "s": summed wall seconds, "jobs": n}}
    from Snakemake's benchmark TSVs."""
    out = {}
    for folder in sorted((repo / "results" / EXP / "benchmarks").iterdir()):
        rows = [row for tsv in sorted(folder.glob("*.tsv")) for row in csv.DictReader(tsv.open(), delimiter="\t")]
        num = lambda key: [float(r[key]) for r in rows if r.get(key) not in (None, "", "NA")]  # noqa: E731
        out[folder.name] = {"max_rss": max(num("max_rss"), default=float("nan")),
                            "max_pss": max(num("max_pss"), default=float("nan")),
                            "s": sum(num("s")), "jobs": len(rows)}
    return out


def measure(out: Path, n_train: int, epochs_scale: int = 1) -> dict:
    """Run the workflow on an N = ``n_train`` folder (epochs times ``epochs_scale``) in a fresh
    project copy; Snakemake's and our own peak memory per rule."""
    images = make_folder(out / f"images_{n_train}", n_train)
    work = out / f"run_{n_train}x{epochs_scale}"
    if work.exists():
        subprocess.run(["rm", "-rf", str(work)], check=True)
    repo = project_copy(work / "repo")
    config = work / "mem.yaml"
    config.write_text(yaml.safe_dump(_config(images, n_train, epochs_scale)))
    peaks, wall = run_workflow(repo, config)
    tree = {rule: tuple(max(v[i] for v in jobs.values()) for i in range(3)) for rule, jobs in peaks.items()}
    return {"bench": read_benchmarks(repo), "tree": tree, "wall": wall,
            "folder_mb": sum(f.stat().st_size for f in images.rglob("*.JPEG")) / 2 ** 20,
            "images": sum(1 for _ in (images / "train").rglob("*.JPEG"))}


def write_index(out: Path, n_train: int, n_test: int, classes: int) -> None:
    """An ImageFolder manifest and split as prepare_imagefolder writes them (ImageNet-style
    names, no images): what the training jobs load, at any size."""
    from autospace.data.datasets import search_split
    from autospace.outputs import DATASET, SPLIT
    from autospace.runtime import save_checkpoint

    from autospace.files import write_json

    per, per_test = -(-n_train // classes), n_test // classes
    files = [f"n{c:08d}/n{c:08d}_{k}.JPEG" for c in range(classes) for k in range(per)][:n_train]
    test_files = [f"n{c:08d}/ILSVRC2012_val_{c * per_test + k:08d}.JPEG" for c in range(classes)
                  for k in range(per_test)]
    search_train, search_val = search_split(n_train, 50_000, 0)
    out.mkdir(parents=True, exist_ok=True)
    save_checkpoint(out / DATASET, {
        "classes": [f"n{c:08d}" for c in range(classes)], "train_files": files,
        "train_labels": torch.arange(n_train) // per, "train_bytes": torch.full((n_train,), 110_000),
        "test_files": test_files, "test_labels": torch.arange(len(test_files)) // per_test,
        "test_bytes": torch.full((len(test_files),), 110_000)})
    write_json(out / SPLIT, {"dataset": "imagefolder", "source": "/data/imagenet", "seed": 0,
                                  "num_classes": classes, "in_channels": 3, "resolution": 224,
                                  "search_train": search_train, "search_val": search_val,
                                  "train": list(range(n_train)), "test": list(range(len(test_files)))})


def index_cost(data_dir: str) -> dict:
    """RSS (MB) that :class:`autospace.data.datasets.Splits` and the two search datasets add to a process
    that has already imported torch and the transforms (run in a fresh interpreter)."""
    import gc

    import psutil

    from autospace.data.datasets import Splits
    from autospace.data.loader import file_transform

    file_transform("none", 224)
    rss = lambda: psutil.Process().memory_info().rss / 2 ** 20  # noqa: E731
    r0 = rss()
    splits = Splits(data_dir)
    gc.collect()
    r1 = rss()
    parts = [splits.dataset("search_train"), splits.dataset("search_val")]
    gc.collect()
    r2 = rss()
    return {"splits": r1 - r0, "datasets": r2 - r1, "images": sum(len(p) for p in parts)}


def measure_index(out: Path) -> dict:
    n_train, n_test, classes = IMAGENET
    folder = out / "imagenet_index"
    write_index(folder, n_train, n_test, classes)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_memory", "--index", str(folder)], cwd=REPO,
                          env=env(), capture_output=True, text=True, check=True)
    cost = json.loads(proc.stdout.strip().splitlines()[-1])
    cost["manifest_mb"] = sum((folder / f).stat().st_size for f in ("dataset.pt", "split.json")) / 2 ** 20
    return cost


def _growth_table(runs: list, key, title: str) -> tuple[str, list]:
    """One row per rule: ``key(run, rule)`` for each run, and the growth of the last over the
    others; the rules of GOAL_RULES whose growth over the first run reaches GOAL_MB."""
    heads = [r["label"] for r in runs]
    lines = [f"| rule | {' | '.join(heads)} | growth over {heads[0]} | growth over {heads[1]} |",
             "|---|" + "---|" * (len(runs) + 2)]
    misses = [[], []]
    for rule in RULES:
        values = [key(r, rule) for r in runs]
        if any(v is None for v in values):
            continue
        growth = [values[-1] - values[0], values[-1] - values[1]]
        for k in range(2):
            if rule in GOAL_RULES and not growth[k] < GOAL_MB:
                misses[k].append(rule)
        lines.append(f"| {rule} | {' | '.join(f'{v:.0f}' for v in values)} | {growth[0]:+.0f} | {growth[1]:+.0f} |")
    return f"{title}\n\n" + "\n".join(lines), misses


def _bench(run: dict, rule: str, field: str):
    return run["bench"].get(rule, {}).get(field)


def _tree(run: dict, rule: str, i: int):
    return run["tree"][rule][i] if rule in run["tree"] else None


def _verdict(misses: list) -> str:
    return (f"below {GOAL_MB} MB for every one of {', '.join(GOAL_RULES)}" if not misses
            else f"{GOAL_MB} MB or more in {', '.join(misses)}")


def run(out_dir: str = "/tmp/autospace-bench-memory") -> None:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    small, big = SIZES
    scale = big // small
    plan = [(small, 1, f"N={small}"), (small, scale, f"N={small}, epochs x{scale}"), (big, 1, f"N={big}")]
    runs = []
    for n, k, label in plan:
        print(f"{label}: generating / running the workflow", flush=True)
        runs.append({**measure(out, n, k), "label": label})
        print(f"{label}: {runs[-1]['wall']:.0f} s; {runs[-1]['bench']}; tree {runs[-1]['tree']}", flush=True)
    index = measure_index(out)
    print(f"index at ImageNet size: {index}", flush=True)
    tables, verdicts = [], []
    for key, title in ((lambda r, rule: _bench(r, rule, "max_rss"), "Snakemake's `max_rss` (MB):"),
                       (lambda r, rule: _tree(r, rule, 0), "Tree RSS, sampled every 0.2 s (MB):"),
                       (lambda r, rule: _tree(r, rule, 1), "Tree PSS, sampled every 0.2 s (MB):")):
        table, misses = _growth_table(runs, key, title)
        tables.append(table)
        verdicts.append(misses)
    walls, _ = _growth_table(runs, lambda r, rule: _bench(r, rule, "s"), "Wall seconds per rule (sum over its jobs):")
    n_train, n_test, classes = IMAGENET
    a, b, c = runs
    write_section("memory", f"""
## Peak memory against the size of an ImageFolder (issue #12)

`python -m benchmarks.run bench_memory` (benchmarks/bench_memory.py), {date.today().isoformat()}, on
{machine()}; 2 CPU cores shared with other jobs. Two generated ImageNet-like folders of {small} and
{big} training JPEGs ({CLASSES} classes, {VAL_PER_CLASS} val images per class; 500x375 and ImageNet's
other usual shapes, else 160-500 px a side; smooth content plus noise, quality 90;
{a['folder_mb']:.0f} MB and {c['folder_mb']:.0f} MB). Each runs prepare_data -> warm-up -> generation 0
-> export_space -> NAS (learned, reference; 2 epochs, 1 of them warm-up) -> train (1 epoch,
random_resized_crop) -> evaluate through `snakemake --cores 1` in a project copy of the tiny CI
config: an inline 3-channel backbone at resolution {BACKBONE['resolution']}, batches of {BATCH}
(so that N={small}'s search-val of 10 %, {small // 10} images, fills a batch as N={big}'s does), the
rest of train/ for search-train, all of it for final training, the {CLASSES * VAL_PER_CLASS} val
images as the test set, `distributed.loader_workers: 1`. A third run, "{b['label']}", is N={small} with every
stage's epochs times {scale}: as many steps as N={big}, a tenth of the images. Workflow wall time:
{', '.join(f"{r['label']} {r['wall'] / 60:.1f} min" for r in runs)}.

What is measured, peak over each rule's jobs: `max_rss` is Snakemake's benchmark TSV
(`results/<exp>/benchmarks/<rule>/*.tsv`; snakemake/benchmark.py): the sum of RSS over the job's
process and all its descendants, the DataLoader workers included, sampled every 0.5 s for the
first 30 samples, then every 30 s. "Tree RSS" and "tree PSS" are this benchmark's own samples of
the same process tree every {SAMPLE_S} s for the whole job. RSS counts the pages a forked worker
shares with its parent (torch's libraries, the parent's heap at the fork) once per
process, as `max_rss` does; PSS divides them among the sharers, so it is what the tree occupies.

{tables[0]}

{tables[1]}

{tables[2]}

{walls}

Goal (growth N={small} -> N={big} below {GOAL_MB} MB for {', '.join(GOAL_RULES)}): `max_rss`
{_verdict(verdicts[0][0])}; tree RSS {_verdict(verdicts[1][0])}. At the same number of steps
(growth over "{b['label']}"): `max_rss` {_verdict(verdicts[0][1])}; tree RSS
{_verdict(verdicts[1][1])}.

The index itself, at ImageNet's size ({n_train:,} training and {n_test:,} validation entries,
{classes} classes; a manifest and split written as prepare_data writes them, {index['manifest_mb']:.0f} MB
on disk, no images): `Splits` adds {index['splits']:.0f} MB of RSS to a job's process and the
search-train and search-val datasets ({index['images']:,} entries) {index['datasets']:.0f} MB more,
{(index['splits'] + index['datasets']) * 2 ** 20 / n_train:.0f} bytes per training image. From N={small}
to N={big} that is well under 1 MB.
""")
    for table in (*tables, walls):
        print(table, end="\n\n")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--index"]:
        print(json.dumps(index_cost(sys.argv[2])))
    else:
        run(*sys.argv[1:])
