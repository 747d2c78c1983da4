"""Runtime helpers, dataset loading and backbones."""

import gzip
import shutil

import numpy as np
import pytest
import torch

from autospace.data import datasets as data
from autospace import files, outputs, runtime
from autospace.arch.backbone import get_backbone
from autospace.arch.counter import network_cost
from autospace.errors import SpecError

needs_fmnist = pytest.mark.skipif(not data.Path(data.DEBIAN_ROOT).is_dir(), reason="dataset-fashion-mnist missing")


def test_rng_state_round_trip_through_a_weights_only_checkpoint(tmp_path):
    runtime.seed_everything(3)
    state = runtime.rng_state()
    runtime.save_checkpoint(tmp_path / "ck.pt", {"rng": state, "step": 7})
    first = (np.random.rand(), torch.rand(3), __import__("random").random())
    loaded = runtime.load_checkpoint(tmp_path / "ck.pt")
    runtime.set_rng_state(loaded["rng"])
    again = (np.random.rand(), torch.rand(3), __import__("random").random())
    assert first[0] == again[0] and torch.equal(first[1], again[1]) and first[2] == again[2]


def test_truncated_checkpoint_is_one_clear_error(tmp_path):
    path = tmp_path / "ck.pt"
    runtime.save_checkpoint(path, {"w": torch.ones(1000)})
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(SpecError, match=f"^{path}: checkpoint: cannot be loaded"):
        runtime.load_checkpoint(path)


def test_checkpoint_bytes_depend_only_on_the_state(tmp_path):
    """The same state saved twice (to temporary files of different names) gives the same bytes, so
    a SLURM run and a local run record the same DVC hashes."""
    state = {"w": torch.arange(12.0).reshape(3, 4), "step": 7}
    runtime.save_checkpoint(tmp_path / "a" / "model.pt", state)
    runtime.save_checkpoint(tmp_path / "b" / "model.pt", state)
    assert (tmp_path / "a" / "model.pt").read_bytes() == (tmp_path / "b" / "model.pt").read_bytes()


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path):
    path = tmp_path / "out.json"
    files.write_json(path, {"a": 1})
    with pytest.raises(RuntimeError):
        with files.atomic_path(path) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert files.read_json(path) == {"a": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.json"]


@needs_fmnist
def test_fashion_mnist_loads_and_checks_md5():
    arrays, md5s = data.load_fashion_mnist(data.DEBIAN_ROOT)
    assert arrays["train_images"].shape == (60000, 28, 28)
    assert arrays["test_labels"].shape == (10000,)
    assert sorted(np.unique(arrays["train_labels"]).tolist()) == list(range(10))
    assert set(md5s) == set(data.FASHION_MNIST_FILES)


@needs_fmnist
def test_altered_archive_is_refused_naming_the_file(tmp_path):
    for name in data.FASHION_MNIST_FILES:
        shutil.copy(f"{data.DEBIAN_ROOT}/{name}", tmp_path / name)
    labels = tmp_path / "t10k-labels-idx1-ubyte.gz"
    raw = bytearray(gzip.decompress(labels.read_bytes()))
    raw[100] = (raw[100] + 1) % 10
    labels.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(SpecError, match=f"{labels}: md5"):
        data.load_fashion_mnist(tmp_path)


def test_missing_dataset_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "DEBIAN_ROOT", str(tmp_path / "nowhere"))
    with pytest.raises(SpecError, match="dataset-fashion-mnist"):
        data.locate_fashion_mnist(str(tmp_path / "empty"), download=False, cache_dir=tmp_path)


def test_search_split_is_seeded_and_disjoint():
    a_train, a_val = data.search_split(1000, 100, seed=1)
    b_train, b_val = data.search_split(1000, 100, seed=1)
    c_train, c_val = data.search_split(1000, 100, seed=2)
    assert a_val == b_val and a_val != c_val
    assert not set(a_train) & set(a_val) and len(a_train) + len(a_val) == 1000


def test_backbones():
    small = get_backbone("fmnist_small")
    assert len(small.layers) == 6
    big = get_backbone("proxylessnas_skeleton")
    assert len(big.layers) == 21
    assert [p.cout for p in big.layers][::4] == [24, 40, 80, 96, 192, 320]
    # the reference network is MobileNetV2-like: all 21 searchable blocks are MBConv e6 k3 cells
    assert network_cost(big.reference_network()).madds == 472_620_800


@pytest.mark.parametrize("bad,field", [
    ({"stages": []}, "backbone.stages"),
    ({"stages": [{"width": 8, "depth": 0, "stride": 1}]}, "backbone.stages[0].depth"),
    ({"stages": [{"width": 8, "depth": 1, "stride": 1, "searchable": False}]}, "backbone.stages[0].block"),
    ({"stages": [{"width": 8, "depth": 1, "stride": 1, "size": 2}]}, "backbone.stages[0].size"),
])
def test_bad_backbones(bad, field):
    with pytest.raises(SpecError) as info:
        get_backbone(bad)
    assert info.value.field == field


def make_imagefolder(root, classes=("cat", "dog", "fox"), per_class=4, size=40):
    """A tiny ImageNet-style folder of real JPEGs."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for part, n in (("train", per_class), ("val", 2)):
        for name in classes:
            folder = root / part / name
            folder.mkdir(parents=True)
            for k in range(n):
                pixels = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{name}_{k}.JPEG", quality=90)
    return root


def test_imagefolder_is_indexed_with_a_recorded_split(tmp_path):
    root = make_imagefolder(tmp_path / "imagenet")
    split = data.prepare_imagefolder(tmp_path / "out", root=str(root), seed=0, search_val_size=3, resolution=32)
    assert split["num_classes"] == 3 and len(split["search_val"]) == 3 and len(split["test"]) == 6
    assert not set(split["search_train"]) & set(split["search_val"])
    index = runtime.load_checkpoint(tmp_path / "out" / "dataset.pt")
    assert index["classes"] == ["cat", "dog", "fox"] and index["train_files"][0] == "cat/cat_0.JPEG"
    again = data.prepare_imagefolder(tmp_path / "out2", root=str(root), seed=0, search_val_size=3, resolution=32)
    assert again["search_val"] == split["search_val"]


@pytest.mark.slow
def test_imagefolder_index_holds_no_python_object_per_image(tmp_path):
    """Splits and its datasets hold the manifest's paths and the split's indices as arrays: well
    under 150 bytes of Python-heap memory per training image (as lists, one int object per index
    and one string per path, some 220 bytes; at ImageNet's 1.28M images a few hundred MB in
    every process of every job)."""
    import tracemalloc

    from autospace.data.loader import file_transform

    n = 100_000
    names = [f"c{k % 100:03d}/img_{k:07d}.JPEG" for k in range(n)]
    runtime.save_checkpoint(tmp_path / outputs.DATASET, {
        "classes": [f"c{c:03d}" for c in range(100)], "train_files": names, "train_labels": torch.arange(n) % 100,
        "train_bytes": torch.ones(n, dtype=torch.long), "test_files": names[:10],
        "test_labels": torch.zeros(10, dtype=torch.long), "test_bytes": torch.ones(10, dtype=torch.long)})
    files.write_json(tmp_path / outputs.SPLIT, {
        "dataset": "imagefolder", "source": str(tmp_path), "seed": 0, "num_classes": 100, "in_channels": 3,
        "resolution": 32, "search_train": list(range(n // 10, n)), "search_val": list(range(n // 10)),
        "train": list(range(n)), "test": list(range(10))})
    file_transform("none", 32)  # imports torchvision first: its modules are not the index
    tracemalloc.start()
    splits = data.Splits(tmp_path)
    parts = [splits.dataset(part) for part in ("search_train", "search_val", "train")]
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert held / n < 150, f"{held / n:.0f} bytes per image"
    assert parts[0].path(0) == tmp_path / "train" / names[n // 10] and parts[2].labels[7] == 7


def _val_class_not_in_train(root):
    shutil.copytree(root / "val" / "dog", root / "val" / "wolf")


@pytest.mark.parametrize("breakage,needle,where", [
    (lambda r: shutil.rmtree(r / "val"), "train/ and val/", "val"),
    (_val_class_not_in_train, "wolf is not among train/'s classes", "val/wolf"),
    (lambda r: [p.unlink() for p in (r / "train" / "fox").iterdir()], "holds no images", "train/fox"),
])
def test_bad_imagefolder_layout_is_one_clear_error(tmp_path, breakage, needle, where):
    root = make_imagefolder(tmp_path / "imagenet")
    breakage(root)
    with pytest.raises(SpecError, match=needle) as info:
        data.prepare_imagefolder(tmp_path / "out", root=str(root), seed=0, search_val_size=3, resolution=32)
    assert info.value.field == "data.root" and str(info.value).startswith(str(root / where))
    assert not (tmp_path / "out").exists()


def test_val_folder_may_hold_fewer_classes_with_train_labels(tmp_path):
    root = make_imagefolder(tmp_path / "imagenet")
    shutil.rmtree(root / "val" / "dog")
    data.prepare_imagefolder(tmp_path / "out", root=str(root), seed=0, search_val_size=3, resolution=32)
    index = runtime.load_checkpoint(tmp_path / "out" / "dataset.pt")
    assert sorted(set(index["test_labels"].tolist())) == [0, 2]  # cat and fox keep train's labels


@pytest.mark.parametrize("content", [b"", b"not an image at all", None])
@pytest.mark.parametrize("mode", ["header", "decode"])
def test_broken_image_is_named_when_the_data_is_prepared(tmp_path, content, mode):
    root = make_imagefolder(tmp_path / "imagenet")
    bad = root / "val" / "dog" / "dog_1.JPEG"
    if content is None:  # a truncated JPEG: its header reads, its pixels do not
        if mode == "header":
            pytest.skip("a truncated body passes the header check by design")
        bad.write_bytes(bad.read_bytes()[:200])
    else:
        bad.write_bytes(content)
    with pytest.raises(SpecError) as info:
        data.prepare_imagefolder(tmp_path / "out", root=str(root), seed=0, search_val_size=3, resolution=32,
                                 verify_images=mode)
    assert str(info.value).startswith(f"{bad}: image: cannot be decoded")
    assert not (tmp_path / "out").exists()


def test_manifest_records_sizes_not_pixels(tmp_path):
    root = make_imagefolder(tmp_path / "imagenet")
    data.prepare_imagefolder(tmp_path / "out", root=str(root), seed=0, search_val_size=3, resolution=32)
    index = runtime.load_checkpoint(tmp_path / "out" / "dataset.pt")
    assert index["train_bytes"].tolist() == [(root / "train" / f).stat().st_size for f in index["train_files"]]
    assert (tmp_path / "out" / "dataset.pt").stat().st_size < 20_000


def test_one_file_hash_for_provenance_audit_and_dvc(tmp_path):
    """``files.file_digest`` is the one file hash: SHA-256 for the provenance records and the
    engine's fingerprints, MD5 for DVC's records; equal to hashing the whole content at once."""
    import hashlib

    path = tmp_path / "blob"
    data = bytes(range(256)) * 9000  # more than one read block
    path.write_bytes(data)
    assert files.file_digest(path) == hashlib.sha256(data).hexdigest()
    assert files.file_digest(path, "md5") == hashlib.md5(data).hexdigest()
