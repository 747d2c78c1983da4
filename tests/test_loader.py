"""The streaming data pipeline: seeded, sharded, resumable batch order; augmentations that do not
depend on the worker or the shard; image folders decoded in workers or on the device alike."""

import numpy as np
import pytest
import torch
from test_foundations import make_imagefolder

from autospace.data import datasets as data
from autospace.engine.loop import Compute
from autospace.data.loader import Cycle, GlobalBatches, make_loader

CPU = Compute(torch.device("cpu"))


def _batches(dataset, sampler, workers=0):
    return [CPU.inputs(x, y) for x, y in make_loader(dataset, sampler, workers)]


def test_order_depends_on_seed_and_epoch_only_and_shards_make_the_global_batch():
    one = GlobalBatches(50, 16, seed=3)
    assert len(one) == 4 and one.global_size(3) == 2
    again = GlobalBatches(50, 16, seed=3)
    first = [idx for idx, _ in one]
    assert [idx.tolist() for idx, _ in again] == [idx.tolist() for idx in first]
    assert sorted(np.concatenate(first).tolist()) == list(range(50))  # a permutation
    one.set_position(1)
    assert [idx.tolist() for idx, _ in one] != [idx.tolist() for idx in first]  # another epoch, another order
    assert [i.tolist() for i, _ in GlobalBatches(50, 16, seed=4)] != [i.tolist() for i in first]
    for step in range(4):
        whole_idx, whole_seeds = one.batch(0, step)
        parts = [GlobalBatches(50, 16, seed=3, rank=r, world=3).batch(0, step) for r in range(3)]
        assert np.concatenate([p[0] for p in parts]).tolist() == whole_idx.tolist()
        assert np.concatenate([p[1] for p in parts]).tolist() == whole_seeds.tolist()


def test_resumed_position_draws_exactly_the_remaining_batches():
    sampler = GlobalBatches(50, 16, seed=3)
    sampler.set_position(2)
    straight = [idx.tolist() for idx, _ in sampler]
    sampler.set_position(2, 1)
    assert [idx.tolist() for idx, _ in sampler] == straight[1:]
    cycle = iter(Cycle(sampler, start=5))  # draw 5 = epoch 1, step 1
    assert next(cycle)[0].tolist() == sampler.batch(1, 1)[0].tolist()


def test_crop_flip_batches_equal_across_shards_workers_and_rng_untouched(tiny_data):
    dataset = data.Splits(tiny_data).dataset("train", "crop_flip")
    torch.manual_seed(0)
    before = torch.get_rng_state()
    whole = _batches(dataset, GlobalBatches(len(dataset), 32, seed=1))
    assert torch.equal(torch.get_rng_state(), before)  # dropout's generator is not drawn from
    halves = [_batches(dataset, GlobalBatches(len(dataset), 32, seed=1, rank=r, world=2)) for r in range(2)]
    for (x, y), (x0, y0), (x1, y1) in zip(whole, *halves):
        assert torch.equal(x, torch.cat([x0, x1])) and torch.equal(y, torch.cat([y0, y1]))
    plain = data.Splits(tiny_data).dataset("train", "none")
    augmented = torch.cat([x for x, _ in whole])
    assert not torch.equal(torch.cat([x for x, _ in _batches(plain, GlobalBatches(len(plain), 32, seed=1))]),
                           augmented)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("loader")
    root = make_imagefolder(tmp / "images", per_class=6, size=72)
    data.prepare_imagefolder(tmp / "out", root=str(root), seed=0, search_val_size=3, resolution=32)
    return data.Splits(tmp / "out")


@pytest.mark.parametrize("augmentation", ["random_resized_crop", "crop_flip", "none"])
def test_image_folder_batches_do_not_depend_on_workers_and_decode_alike_on_the_device(folder, augmentation):
    dataset = folder.dataset("train", augmentation)
    sampler = GlobalBatches(len(dataset), 8, seed=2)
    in_process, in_workers = _batches(dataset, sampler), _batches(dataset, sampler, workers=2)
    for (x, y), (xw, yw) in zip(in_process, in_workers):
        assert x.shape == (len(y), 3, 32, 32) and torch.equal(x, xw) and torch.equal(y, yw)
    on_device = _batches(folder.dataset("train", augmentation, decode="device"), sampler)
    for (x, y), (xd, yd) in zip(in_process, on_device):
        assert torch.equal(y, yd)
        # the same crops: libjpeg's and PIL's decoders and resamplers differ by a few levels of 255
        assert (x - xd).abs().mean() < 0.05


def test_random_resized_crop_draws_other_crops_each_epoch(folder):
    dataset = folder.dataset("train", "random_resized_crop")
    sampler = GlobalBatches(len(dataset), len(dataset), seed=2)
    epoch0 = _batches(dataset, sampler)[0]
    sampler.set_position(1)
    epoch1 = _batches(dataset, sampler)[0]
    order0, order1 = sampler.order(0), sampler.order(1)
    x0 = epoch0[0][torch.argsort(order0)]
    x1 = epoch1[0][torch.argsort(order1)]
    assert not torch.equal(x0, x1)
