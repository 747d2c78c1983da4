"""The prepared GPU check (benchmarks/gpu_check.py) and the loader benchmark, on the CPU."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # benchmarks/ is no installed package

from benchmarks import bench_loader, gpu_check  # noqa: E402

DEVICE = "ours, jpeg_decode device"


def run_check(*args, timeout=120):
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(REPO)}  # never the real GPU check
    env.pop("OUT", None)
    return subprocess.run([sys.executable, "-m", "benchmarks.gpu_check", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def test_without_cuda_it_says_it_skipped_and_exits_0():
    proc = run_check()
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == gpu_check.SKIP_LINE


@pytest.mark.slow
def test_cpu_smoke_writes_numeric_images_per_second(tmp_path):
    start = time.time()
    proc = run_check("--cpu-smoke", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert time.time() - start < 60
    summary = json.loads((tmp_path / "gpu_check.json").read_text())
    assert set(summary["parts"]) == {"train", "loader"}
    train, loader = summary["parts"]["train"], summary["parts"]["loader"]
    assert train["status"] == "ok" and loader["status"].startswith("ok"), proc.stdout
    medians = train["results"]["median_images_per_s"]
    assert set(medians) >= {gpu_check.OURS, gpu_check.BASELINE} and len(medians) == 4
    assert all(isinstance(v, float) and v > 0 for v in medians.values())
    assert train["results"]["ratio_ours_to_torchvision"] > 0
    rates, failed = loader["results"]["images_per_s"], loader["results"].get("failed", [])
    assert set(rates) == {"0", "2"} and all(isinstance(v, float) and v > 0 for r in rates.values() for v in r.values())
    assert set(rates["0"]) == {DEVICE}  # decoding in the main process: jpeg_decode device only
    assert set(rates["2"]) | {DEVICE} == set(gpu_check.LOADER_PIPELINES)
    # until the worker path of jpeg_decode device is fixed (test_device_decode_through_workers) it is
    # reported as failed, not measured
    assert DEVICE in rates["2"] or any(f.startswith(f"{DEVICE}, 2 workers") for f in failed)
    md = (tmp_path / "gpu_check.md").read_text()
    assert "ours / torchvision" in md and "| 2 |" in md
    assert "gpu_check: done" in (tmp_path / "gpu_check.log").read_text()


def test_synthetic_fashion_mnist_is_read_as_the_prepared_data(tmp_path):
    from autospace.data.datasets import Splits

    data = {"search_val_size": 20, "search_train_size": 40, "train_size": 50, "test_size": 30}
    gpu_check.synthetic_fashion_mnist(tmp_path, data, seed=0)
    splits = Splits(tmp_path)
    assert [splits.size(p) for p in ("search_val", "search_train", "train", "test")] == [20, 40, 50, 30]
    assert not set(splits.split["search_val"]) & set(splits.split["search_train"])
    x, y = splits.dataset("train").__getitems__((list(range(10)), [0] * 10))
    assert x.shape == (10, 1, 28, 28) and y.tolist() == list(range(10))


def test_loader_bench_images_and_one_tiny_measurement(tmp_path):
    from PIL import Image

    root = tmp_path / "images"
    files, labels = bench_loader.make_jpegs(root, 12, classes=3, size=(80, 60))
    assert len(files) == 12 and labels == [i % 3 for i in range(12)]
    with Image.open(root / files[0]) as image:
        assert image.format == "JPEG" and image.size == (80, 60)
    again, _ = bench_loader.make_jpegs(tmp_path / "chunk", 2, classes=3, size=(80, 60), start=4)
    assert (tmp_path / "chunk" / again[0]).read_bytes() == (root / files[4]).read_bytes()  # chunkable
    results = bench_loader.measure(root, files, labels, workers=(1,), repeats=1, epochs=2, batch=4)
    assert all(results[1][p] > 0 for p in bench_loader.PIPELINES)
    assert "| 1 |" in bench_loader.table(results)


def test_device_decode_through_workers(tmp_path):
    from autospace.engine.loop import Compute

    files, labels = bench_loader.make_jpegs(tmp_path, 8, classes=2, size=(80, 60))
    loader, before = bench_loader.ours(tmp_path, files, labels, 1, batch=4, decode="device")
    rate = bench_loader.images_per_second(loader, before, 2, compute=Compute(torch.device("cpu")), stall_s=5)
    assert rate > 0
