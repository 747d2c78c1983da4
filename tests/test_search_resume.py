"""Warm-up and generations killed (SIGKILL) after a state checkpoint resume from it, and give
outputs byte-identical to an uninterrupted run; state from another config is discarded."""

import json
from pathlib import Path

from evolution_helpers import kill_after_state, tiny_config

from autospace.search.evolution.steps import run_generation, warmup
from autospace.runtime import load_checkpoint

ROOT = Path(__file__).resolve().parent.parent
#: 64 search-train images in batches of 16: 4 steps per epoch, a state checkpoint every step.
CONFIG = tiny_config(seed=1, batch_size=16, checkpoint_every_steps=1, epochs_per_generation=2,
                     warmup={"epochs": 2, "cells": "population"})
FILES = ("checkpoint.pt", "population.json", "sampled.json", "metrics.json", "config.json")


def _kill_after_state(step: str, *args) -> None:
    """Kill the step right after the state of global step 3 (epoch 0, step 3 of 4)."""
    kill_after_state(f"autospace.search.evolution.steps:{step}", (0, 3), *args)


def _same_outputs(a: Path, b: Path) -> None:
    for name in FILES:
        if name == "metrics.json":  # the wall time differs, nothing else
            ma, mb = (json.loads((d / name).read_text()) for d in (a, b))
            ma.pop("wall_time_s"), mb.pop("wall_time_s")
            assert ma == mb
        else:
            assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_killed_warmup_resumes_from_its_state_and_gives_identical_outputs(tmp_path, tiny_data, capfd):
    warmup(CONFIG, tiny_data, tmp_path / "straight", tmp_path / "state_straight")
    assert not (tmp_path / "state_straight" / "state.pt").exists()  # removed after the outputs
    _kill_after_state("warmup", CONFIG, tiny_data, tmp_path / "out", tmp_path / "state")
    assert load_checkpoint(tmp_path / "state" / "state.pt")["step"] == 3
    assert not (tmp_path / "out" / "checkpoint.pt").exists()
    capfd.readouterr()
    warmup(CONFIG, tiny_data, tmp_path / "out", tmp_path / "state")
    assert "resumed from step 3" in capfd.readouterr().out
    _same_outputs(tmp_path / "straight", tmp_path / "out")
    assert not (tmp_path / "state" / "state.pt").exists()


def test_killed_generation_resumes_from_its_state_and_gives_identical_outputs(tmp_path, tiny_data, capfd):
    warmup(CONFIG, tiny_data, tmp_path / "warm")
    run_generation(CONFIG, tiny_data, tmp_path / "warm", tmp_path / "straight", 0, tmp_path / "state_straight")
    _kill_after_state("run_generation", CONFIG, tiny_data, tmp_path / "warm", tmp_path / "out", 0,
                      tmp_path / "state")
    state = load_checkpoint(tmp_path / "state" / "state.pt")
    assert state["step"] == 3 and len(state["alphas"]) == 2
    capfd.readouterr()
    run_generation(CONFIG, tiny_data, tmp_path / "warm", tmp_path / "out", 0, tmp_path / "state")
    assert "resumed from step 3" in capfd.readouterr().out
    _same_outputs(tmp_path / "straight", tmp_path / "out")


def test_state_of_another_config_is_discarded(tmp_path, tiny_data, capfd):
    _kill_after_state("warmup", CONFIG, tiny_data, tmp_path / "out", tmp_path / "state")
    other = tiny_config(seed=1, batch_size=16, checkpoint_every_steps=1, weight_lr=0.01,
                        warmup={"epochs": 2, "cells": "population"})
    warmup(other, tiny_data, tmp_path / "straight")
    capfd.readouterr()
    warmup(other, tiny_data, tmp_path / "out", tmp_path / "state")
    out = capfd.readouterr().out
    assert "discarding the saved state" in out and "resumed" not in out
    _same_outputs(tmp_path / "straight", tmp_path / "out")
