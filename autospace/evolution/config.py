"""The search configuration: every open decision of the method (doc section 4) as a key.

``SearchConfig.from_dict`` takes ``{seed, device, backbone, cell_space, evolution}``; missing
keys take the defaults below, unknown keys, wrong types and out-of-range values raise
:class:`SpecError` naming the key (``evolution.tournament_size``). ``to_dict`` gives the fully
resolved values, which every step records in its output folder as ``config.json``.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

from ..backbone import Backbone, get_backbone
from ..cells import Cell, CellSpace, parse_cell, reference_cell
from ..counter import network_cost
from ..distributed import Settings
from ..errors import SpecError
from ..options import check_step_config

DEVICES = ("auto", "cpu", "cuda")

#: Defaults of the ``evolution`` section; each value's type is the type the key must have.
EVOLUTION_DEFAULTS: dict = {
    "population_size": 32,          # P
    "tournament_size": 4,           # S
    # p_mut: half of the K draws are mutants, half re-sample a tournament winner as it is, so
    # a good cell's fitness keeps being re-measured (p_mut = 1 would never re-score a winner)
    # while every generation still adds about K/2 new cells per layer (p_mut = 0 never explores).
    "mutation_prob": 0.5,
    "sample_size": 4,               # K cells sampled per layer and generation
    "population_update": "aging",   # regularised evolution: the oldest leave
    "mutant_init": "parent",        # a mutant's weights: copied from its parent where shapes match
    "mixing": "softmax",            # Eqn. 3
    "update": "alternating",        # Eqn. 4, first order
    "fitness_rule": "ema",          # Eqn. 5
    "ema_beta": 0.5,
    "reference": "candidate",
    "reference_cell": [str(reference_cell())],
    "constraint": {"mode": "hinge", "budget_madds": None, "budget_ratio": 1.0, "lambda": 1.0},
    "generations": 8,
    "epochs_per_generation": 1,
    "warmup": {"epochs": 1, "cells": "population"},
    "batch_size": 64,
    "weight_lr": 0.05,
    "weight_momentum": 0.9,
    "weight_decay": 4e-5,
    "alpha_lr": 0.01,
    "alpha_weight_decay": 0.0,
    "export_top_k": 6,
    "checkpoint_every_steps": 50,   # resumable state of warm-up and generations (0: none)
    "log_every_steps": 20,          # a progress line in the job's log every N steps (0: none)
    "amp": "bf16",                  # autocast of the supernet's forward passes, CUDA only
}

CHOICES = {
    "population_update": ("aging", "remove_worst"),
    "mutant_init": ("parent", "fresh"),
    "mixing": ("softmax", "sigmoid"),
    "update": ("alternating", "joint"),
    "fitness_rule": ("ema", "copy", "mean", "random"),
    "reference": ("candidate", "seed", "none"),
    "constraint.mode": ("hinge", "log", "none"),
    "warmup.cells": ("population", "reference"),
    "amp": ("bf16", "none"),
}

#: (low, high, whether low and high are included) for numeric keys.
RANGES = {
    "population_size": (1, None), "tournament_size": (1, None), "mutation_prob": (0.0, 1.0),
    "sample_size": (1, None), "ema_beta": (0.0, 1.0), "generations": (1, None),
    "epochs_per_generation": (1, None), "warmup.epochs": (0, None), "batch_size": (1, None),
    "weight_lr": (0.0, None), "weight_momentum": (0.0, 1.0), "weight_decay": (0.0, None),
    "alpha_lr": (0.0, None), "alpha_weight_decay": (0.0, None), "export_top_k": (1, None),
    "checkpoint_every_steps": (0, None), "log_every_steps": (0, None),
    "constraint.budget_madds": (1, None), "constraint.budget_ratio": (0.0, None),
    "constraint.lambda": (0.0, None),
}
POSITIVE = {"weight_lr", "alpha_lr", "constraint.budget_ratio"}  # strictly above their low end
BELOW_ONE = {"ema_beta", "weight_momentum"}  # strictly below 1


def _check_value(key: str, value, default):
    path = f"evolution.{key}"
    if key in CHOICES:
        if value not in CHOICES[key]:
            raise SpecError(path, f"expected one of {list(CHOICES[key])}", value)
        return value
    if isinstance(default, bool) or isinstance(value, bool):
        raise SpecError(path, "expected a number", value)
    if isinstance(default, int) or key == "constraint.budget_madds":
        if not isinstance(value, int):
            raise SpecError(path, "expected an integer", value)
    elif not isinstance(value, (int, float)):
        raise SpecError(path, "expected a number", value)
    low, high = RANGES[key]
    if value < low or (key in POSITIVE and value <= low) or (high is not None and value > high) \
            or (key in BELOW_ONE and value >= 1):
        left = "(" if key in POSITIVE else "["
        right = ")" if key in BELOW_ONE or high is None else "]"
        raise SpecError(path, f"out of range {left}{low}, {high if high is not None else 'inf'}{right}", value)
    return float(value) if isinstance(default, float) else value


def _section(data, defaults: dict, prefix: str) -> dict:
    if not isinstance(data, dict):
        raise SpecError(f"evolution{prefix and '.' + prefix}", "expected an object", data)
    out = {}
    for key in data:
        if key not in defaults:
            raise SpecError(f"evolution.{prefix + '.' if prefix else ''}{key}",
                            f"unknown key, expected some of {sorted(defaults)}", key)
    for key, default in defaults.items():
        full = f"{prefix}.{key}" if prefix else key
        value = data.get(key, copy.deepcopy(default))
        if isinstance(default, dict):
            out[key] = _section(value, default, full)
        elif key == "reference_cell":
            out[key] = _reference_strings(value)
        elif key in ("budget_madds", "budget_ratio") and value is None:
            out[key] = None
        else:
            out[key] = _check_value(full, value, default)
    return out


def _reference_strings(value) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values:
        raise SpecError("evolution.reference_cell", "expected a cell string or a non-empty list of them", value)
    cells = []
    for k, text in enumerate(values):
        try:
            cells.append(parse_cell(text))
        except SpecError as err:
            raise err.within(f"evolution.reference_cell[{k}]") from None
    if len({c.id for c in cells}) != len(cells):
        raise SpecError("evolution.reference_cell", "the same cell is listed twice", values)
    return [str(c) for c in cells]


@dataclass(frozen=True)
class SearchConfig:
    """A validated search configuration (see the module docstring)."""

    seed: int
    device: str
    backbone_value: object
    backbone: Backbone
    cell_space: CellSpace
    evolution: dict
    distributed: dict

    @classmethod
    def from_dict(cls, data: dict) -> "SearchConfig":
        seed = check_step_config(data, ("seed", "device", "backbone", "cell_space", "evolution", "distributed"))
        settings = Settings.from_config(data)
        device = data.get("device", "auto")
        if device not in DEVICES:
            raise SpecError("device", f"expected one of {list(DEVICES)}", device)
        backbone_value = copy.deepcopy(data.get("backbone", "fmnist_small"))
        backbone = get_backbone(backbone_value)
        raw_space = data.get("cell_space", {})
        if not isinstance(raw_space, dict):
            raise SpecError("cell_space", "expected an object", raw_space)
        try:
            space = CellSpace.from_dict(raw_space)
        except (SpecError, TypeError) as err:
            raise (err.within("cell_space") if isinstance(err, SpecError)
                   else SpecError("cell_space", str(err))) from None
        raw_evo = data.get("evolution", {})
        constraint = raw_evo.get("constraint") if isinstance(raw_evo, dict) else None
        if isinstance(constraint, dict) and constraint.get("budget_madds") is not None \
                and "budget_ratio" not in constraint:  # an absolute budget replaces the default ratio
            raw_evo = {**raw_evo, "constraint": {**constraint, "budget_ratio": None}}
        evo = _section(raw_evo, EVOLUTION_DEFAULTS, "")
        _check_consistency(evo)
        return cls(seed, device, backbone_value, backbone, space, evo, asdict(settings))

    def to_dict(self) -> dict:
        return {"seed": self.seed, "device": self.device, "backbone": copy.deepcopy(self.backbone_value),
                "cell_space": self.cell_space.to_dict(), "evolution": copy.deepcopy(self.evolution)}

    def __getitem__(self, key: str):
        return self.evolution[key]

    @property
    def reference_cells(self) -> list[Cell]:
        return [parse_cell(s) for s in self.evolution["reference_cell"]]

    def budget_madds(self) -> int | None:
        """The constraint's target T in network MAdds (``None`` when the constraint is off)."""
        c = self.evolution["constraint"]
        if c["mode"] == "none":
            return None
        if c["budget_madds"] is not None:
            return c["budget_madds"]
        reference = network_cost(self.backbone.reference_network(self.reference_cells[0])).madds
        return max(1, int(round(c["budget_ratio"] * reference)))


def _check_consistency(evo: dict) -> None:
    p = evo["population_size"]
    for key in ("tournament_size", "sample_size", "export_top_k"):
        if evo[key] > p:
            raise SpecError(f"evolution.{key}", f"must not exceed population_size ({p})", evo[key])
    c = evo["constraint"]
    if c["mode"] != "none" and (c["budget_madds"] is None) == (c["budget_ratio"] is None):
        raise SpecError("evolution.constraint.budget_madds",
                        "give exactly one of budget_madds and budget_ratio (set the other to null)",
                        [c["budget_madds"], c["budget_ratio"]])
