"""Shared pieces of the evolution tests: a tiny backbone and a small real Fashion-MNIST subset."""

import copy
import json
import subprocess
import sys
from pathlib import Path

from autospace.arch.cells import make_cell

#: Runs ``module:function(*args)`` and kills the process (SIGKILL) right after the engine has
#: written the state of (epoch, step).
_KILL_AFTER_STATE = """
import json, os, signal, sys
from importlib import import_module
import torch
torch.set_num_threads(1)
from autospace.engine import loop as engine
target, when, args = json.loads(sys.argv[1])
real_save = engine.save_checkpoint
def save_then_die(path, state):
    real_save(path, state)
    if [state.get("epoch"), state.get("step")] == when:
        os.kill(os.getpid(), signal.SIGKILL)
engine.save_checkpoint = save_then_die
module, name = target.split(":")
getattr(import_module(module), name)(*args)
"""


def kill_after_state(target: str, when: tuple[int, int], *args) -> None:
    """Run ``target`` (``module:function``) on ``args`` in a subprocess killed by SIGKILL right
    after its state of ``when`` = (epoch, step within the epoch) was written."""
    plain = [str(a) if isinstance(a, Path) else a for a in args]
    done = subprocess.run([sys.executable, "-c", _KILL_AFTER_STATE, json.dumps([target, list(when), plain])],
                          cwd=Path(__file__).resolve().parent.parent)
    assert done.returncode == -9

#: 28x28 input, stem 8 channels at stride 2, one searchable layer (8 -> 16, stride 2), head 32.
TINY_BACKBONE = {"in_channels": 1, "resolution": 28, "num_classes": 10,
                 "stem": {"width": 8, "kernel": 3, "stride": 2},
                 "stages": [{"width": 16, "depth": 1, "stride": 2}],
                 "head": {"width": 32, "dropout": 0.0}}
#: Two searchable layers (the second one with the identity shortcut).
TWO_LAYERS = copy.deepcopy(TINY_BACKBONE)
TWO_LAYERS["stages"].append({"width": 16, "depth": 1, "stride": 1})


def tiny_config(seed=0, backbone=TWO_LAYERS, **evolution):
    evo = {"population_size": 6, "sample_size": 2, "tournament_size": 2, "export_top_k": 3,
           "batch_size": 64, "warmup": {"epochs": 1, "cells": "population"}, "alpha_lr": 0.05}
    evo.update(evolution)
    return {"seed": seed, "device": "cpu", "backbone": backbone, "evolution": evo}


# Planted pair: the strong cell sees space (a 5x5 depthwise conv) through a 6x wider hidden
# layer, with ReLU6; the weak cell is a chain of 1x1 convs at the input width (e = 1) whose
# strided 1x1 conv just drops three pixels in four: no spatial context, 1/6 of the width.
STRONG = make_cell(4, [(0, 1, "conv1x1"), (1, 2, "dw5x5"), (2, 3, "conv1x1")], 6, 1, "relu6")
WEAK = make_cell(4, [(0, 1, "conv1x1"), (1, 2, "conv1x1"), (2, 3, "conv1x1")], 1, 1, "relu6")
