"""Experiment variants: the run's config with a few keys overridden, for the paper's budget table
(T3) and the ablations (T4). Each variant searches its own space and runs NAS, training and
evaluation in it, on the experiment's data (only keys that leave the data unchanged may vary).

``variants.budgets`` are the paper's ImageNet MAdds points in millions; each becomes a variant
``madds_<point>`` that sets the evolution's constraint target and the NAS budget alike:

* ``budget_scale: absolute``: the budget is the point itself;
* ``budget_scale: relative``: this experiment's own budgets stand for the paper's point
  ``budget_anchor`` (340M, the released network), and a point p scales each of them (ratio or
  absolute) by p / anchor, so the variants learn spaces at the same fractions of this run's budget
  as the paper's points are of its main one.

A point whose config is the experiment's own (the anchor) is not a separate variant: T3 takes
the experiment's own learned space and runs for it.

``variants.ablations`` is a list of ``{name: overrides}``, the overrides dotted keys
(``evolution.fitness_rule: copy``); a list so that a config file merged over another replaces it.
"""

from __future__ import annotations

import copy
import re

from .errors import SpecError

#: The config sections a variant may override: none of them changes the prepared data.
SECTIONS = ("cell_space", "evolution", "nas", "train")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def budget_name(point_m: float) -> str:
    return f"madds_{point_m:g}".replace(".", "p")


def budget_overrides(point_m: float, config: dict) -> dict:
    """The dotted-key overrides of one budget point (millions of MAdds)."""
    section = config["variants"]
    out = {}
    for dotted, node in (("evolution.constraint", config["evolution"]["constraint"]), ("nas", config["nas"])):
        if section["budget_scale"] == "absolute":
            madds, ratio = int(round(point_m * 1e6)), None
        elif node["budget_madds"] is not None:
            madds, ratio = int(round(node["budget_madds"] * point_m / section["budget_anchor"])), None
        else:
            madds, ratio = None, round(node["budget_ratio"] * point_m / section["budget_anchor"], 6)
        out[f"{dotted}.budget_madds"] = madds
        out[f"{dotted}.budget_ratio"] = ratio
    return out


def budget_points(config: dict) -> dict[float, str | None]:
    """Each budget point -> its variant's name, or None where it is the experiment's own config
    (with ``budget_scale: relative`` the anchor point always is, listed or not)."""
    out = {}
    for point in config["variants"]["budgets"]:
        same = apply(config, budget_overrides(point, config), "variants.budgets") == apply(config, {}, "")
        out[point] = None if same else budget_name(point)
    if config["variants"]["budget_scale"] == "relative":
        out.setdefault(config["variants"]["budget_anchor"], None)
    return out


def overrides(config: dict) -> dict[str, dict]:
    """Every variant's name -> its dotted-key overrides: budgets first, then ablations."""
    section = config["variants"]
    out = {name: budget_overrides(p, config) for p, name in budget_points(config).items() if name}
    for item in section["ablations"]:
        for name, changes in item.items():
            if name in out:
                raise SpecError(f"variants.ablations.{name}", "a variant of this name exists already", name)
            out[name] = changes
    return out


def ablation_names(config: dict) -> list[str]:
    return [name for item in config["variants"]["ablations"] for name in item]


def _set(config: dict, dotted: str, value, where: str) -> None:
    parts = dotted.split(".")
    if parts[0] not in SECTIONS:
        raise SpecError(where, f"only keys of {', '.join(SECTIONS)} may vary (the data is shared)")
    node = config
    for part in parts[:-1]:
        if not isinstance(node.get(part), dict):
            raise SpecError(where, "unknown key")
        node = node[part]
    if parts[-1] not in node:
        raise SpecError(where, "unknown key")
    node[parts[-1]] = copy.deepcopy(value)


def apply(config: dict, changes: dict, where: str) -> dict:
    """A copy of ``config`` with the dotted-key ``changes`` made, without its variants."""
    out = copy.deepcopy(config)
    out["variants"] = {**out["variants"], "budgets": [], "ablations": []}
    if not isinstance(changes, dict):
        raise SpecError(where, "expected a mapping of dotted keys to values", changes)
    for dotted, value in changes.items():
        _set(out, str(dotted), value, f"{where}.{dotted}")
    return out


def variant_configs(config: dict) -> dict[str, dict]:
    """Every variant's name -> its full config. Raises SpecError naming ``variants...`` keys."""
    out = {}
    for name, changes in overrides(config).items():
        where = f"variants.ablations.{name}" if name in ablation_names(config) else "variants.budgets"
        if not NAME.match(name):
            raise SpecError(where, "a variant name is lower-case letters, digits and '_'", name)
        out[name] = apply(config, changes, where)
    return out


def check_variants(config: dict, check) -> None:
    """Build every variant's config and run ``check`` (a whole-config validator raising SpecError
    at a key path) on it; an error is reported under the variant's key."""
    for name, cfg in variant_configs(config).items():
        where = f"variants.ablations.{name}" if name in ablation_names(config) else f"variants.budgets.{name}"
        try:
            check(cfg)
        except SpecError as err:
            if err.field.startswith("variants"):
                raise
            raise err.within(where) from None
