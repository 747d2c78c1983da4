"""Data parallelism on CPU (gloo): 2 processes give the same weights (within 1e-6) as 1 process
with the same global batch, in warm-up, a generation, NAS (both gradient algorithms) and final
training; the 2-process runs go through the real launcher (torch's elastic agent)."""

import json

import pytest
import torch
from evolution_helpers import TWO_LAYERS, tiny_config

from autospace.engine import distributed as D
from autospace.arch.backbone import get_backbone
from autospace.errors import SpecError
from autospace.search.evolution.steps import run_generation, warmup
from autospace.search.nas.search import search
from autospace.runtime import load_checkpoint
from autospace.arch.space import proxylessnas_space
from autospace.engine.train import train

TOL = 1e-6
#: The small two-layer backbone with head dropout (GlobalDropout is exercised). On the larger
#: fmnist_small, float32 rounding (1e-7) is amplified to ~3e-4 in one step's gradients on real
#: images (the same comparison in float64 agrees to 3e-14), so 1e-6 cannot hold there.
BACKBONE = {**TWO_LAYERS, "head": {**TWO_LAYERS["head"], "dropout": 0.1}}
#: The comparisons run in NCHW: torch's channels-last CPU kernels sum in an order that depends on
#: the batch size, so a shard of 8 and a batch of 16 round differently (1e-6 in BN statistics
#: after one epoch, 4e-4 in DARTS logits after two): float32's bound again, not the method's.
NCHW = {"channels_last": False}


def _with(config: dict, processes: int) -> dict:
    return {**config, "distributed": {"processes": processes, "backend": "gloo"}}


def _tensors(value, prefix=""):
    """Every floating-point tensor of a checkpoint, by path (the RNG state left out)."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k != "rng":
                yield from _tensors(v, f"{prefix}/{k}")
    elif isinstance(value, list):
        for k, v in enumerate(value):
            yield from _tensors(v, f"{prefix}/{k}")
    elif isinstance(value, torch.Tensor) and value.is_floating_point():
        yield prefix, value


def _close(a: dict, b: dict) -> None:
    ta, tb = dict(_tensors(a)), dict(_tensors(b))
    assert ta.keys() == tb.keys() and ta
    for key in ta:
        assert ta[key].shape == tb[key].shape, key
        # absolute 1e-6 plus 1e-6 relative: a BN running variance near 7 is resolved to 5e-7 in
        # float32, and on an AMD EPYC host 2 processes and 1 differed there by 1.4e-6 (3 ulps)
        torch.testing.assert_close(ta[key], tb[key], rtol=TOL, atol=TOL, msg=lambda m: f"{key}: {m}")


#: 64 search-train images in global batches of 16 (8 per process); 32 search-val images.
SEARCH = tiny_config(seed=2, batch_size=16, warmup={"epochs": 1, "cells": "population"}, **NCHW)


def test_warmup_and_generation_on_two_processes_match_one(tmp_path, tiny_data):
    for n in (1, 2):
        warmup(_with(SEARCH, n), tiny_data, tmp_path / f"warm{n}", tmp_path / f"state{n}")
    _close(load_checkpoint(tmp_path / "warm1" / "checkpoint.pt"), load_checkpoint(tmp_path / "warm2" / "checkpoint.pt"))
    assert (tmp_path / "warm1" / "population.json").read_bytes() == (tmp_path / "warm2" / "population.json").read_bytes()
    for n in (1, 2):  # both from the same warm-up, so only the generation's training differs
        run_generation(_with(SEARCH, n), tiny_data, tmp_path / "warm1", tmp_path / f"gen{n}", 0)
    a, b = (load_checkpoint(tmp_path / f"gen{n}" / "checkpoint.pt") for n in (1, 2))
    _close(a, b)
    assert len(a["alphas"]) == 2 and a["alpha_optimizer"]["state"]
    sampled = [json.loads((tmp_path / f"gen{n}" / "sampled.json").read_text()) for n in (1, 2)]
    assert [c["id"] for c in sampled[0]["layers"][0]["cells"]] == [c["id"] for c in sampled[1]["layers"][0]["cells"]]
    metrics = [json.loads((tmp_path / f"gen{n}" / "metrics.json").read_text()) for n in (1, 2)]
    assert metrics[0]["train"]["images"] == metrics[1]["train"]["images"] == 64
    assert metrics[0]["train"]["loss"] == pytest.approx(metrics[1]["train"]["loss"], abs=TOL)


#: DARTS's logits after its architecture steps: Adam with betas (0, 0.999) divides each gradient by
#: its own running magnitude, so a logit whose gradient float32 leaves near Adam's eps moves by a
#: step that rounding can change by a few percent. Measured 1-vs-2-process differences on seeds
#: 1-4: 2e-8 to 2.4e-4 (3.3e-6 and 5.4e-5 already before the one supernet changed NAS's
#: initialisation), against logits of about 2.5e-2 that a sharding or scaling error would move by
#: their own size. The chosen architecture must still be the same.
ARCH_TOL = {"proxyless": TOL, "darts": 1e-3}


@pytest.mark.parametrize("algorithm", ["proxyless", "darts"])
def test_nas_on_two_processes_matches_one(tmp_path, tiny_data, algorithm):
    proxylessnas_space(BACKBONE).save(tmp_path / "space.json")
    config = {"seed": 1, "device": "cpu", "backbone": BACKBONE,
              "nas": {"algorithm": algorithm, "epochs": 2, "warmup_epochs": 1, "batch_size": 16,
                      "budget_ratio": 1.0, **NCHW}}
    for n in (1, 2):
        search(_with(config, n), tmp_path / "space.json", tiny_data, tmp_path / f"nas{n}")
    a, b = (json.loads((tmp_path / f"nas{n}" / "nas.json").read_text()) for n in (1, 2))
    alphas = [torch.tensor([v for layer in r["layers"] for v in layer["alpha"]]) for r in (a, b)]
    assert alphas[0].abs().max() > 1e-3  # the architecture was trained
    torch.testing.assert_close(alphas[0], alphas[1], rtol=0, atol=ARCH_TOL[algorithm])
    assert (tmp_path / "nas1" / "arch.json").read_bytes() == (tmp_path / "nas2" / "arch.json").read_bytes()


def test_final_training_on_two_processes_matches_one(tmp_path, tiny_data):
    arch = tmp_path / "arch.json"
    arch.write_text(get_backbone(BACKBONE).reference_network().dumps())
    recipe = {"epochs": 1, "batch_size": 80, "warmup_epochs": 0.5, "ema_decay": 0.9, "checkpoint_every_steps": 1, **NCHW}
    config = {"seed": 3, "device": "cpu", "train": recipe}
    for n in (1, 2):
        train(_with(config, n), arch, tiny_data, tmp_path / f"out{n}", tmp_path / f"state{n}")
    _close(*(load_checkpoint(tmp_path / f"out{n}" / "model.pt") for n in (1, 2)))
    logs = [(tmp_path / f"out{n}" / "log.csv").read_text().splitlines() for n in (1, 2)]
    assert len(logs[0]) == len(logs[1]) == 2


def test_bad_distributed_section_names_the_key(tmp_path, tiny_data):
    with pytest.raises(SpecError, match="distributed.processes"):
        warmup(_with(SEARCH, 0), tiny_data, tmp_path / "out")
    with pytest.raises(SpecError, match="distributed.backend"):
        warmup({**SEARCH, "distributed": {"backend": "mpi"}}, tiny_data, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_nccl_on_the_cpu_is_refused_naming_the_key():
    """nccl moves CUDA tensors only: on a CPU job it would fail inside the launcher with a
    traceback per rank; it is refused before any process starts."""
    with pytest.raises(SpecError) as info:
        D.launch("autospace.search.nas.search:search", {"device": "cpu", "distributed": {"processes": 2, "backend": "nccl"}})
    assert info.value.field == "distributed.backend" and "gloo" in str(info.value)
