"""Experiment variants: the run's config with a few keys overridden, for the paper's budget table
(T3) and the ablations (T4). Each variant searches its own space and runs NAS, training and
evaluation in it, on the experiment's data (only keys that leave the data unchanged may vary).

``variants.budgets`` are the paper's ImageNet MAdds points in millions; each becomes a variant
``madds_<point>`` that sets the evolution's constraint target and the NAS budget alike:

* ``budget_scale: absolute``: the budget is the point itself;
* ``budget_scale: ratio``: the budget is ``point / R`` times this backbone's reference network's
  MAdds, where R is the MAdds of the ImageNet reference network (the ``proxylessnas_skeleton``
  with the reference cell in every searchable layer, 224x224), so a small backbone learns spaces
  at the same fractions of its reference network as the paper's points are of ImageNet's.

``variants.ablations`` is a list of ``{name: overrides}``, the overrides dotted keys
(``evolution.fitness_rule: copy``); a list so that a config file merged over another replaces it.
"""

from __future__ import annotations

import copy
import re
from functools import lru_cache

from .errors import SpecError

#: The config sections a variant may override: none of them changes the prepared data.
SECTIONS = ("cell_space", "evolution", "nas", "train")
BUDGET_KEYS = ("evolution.constraint", "nas")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@lru_cache(maxsize=1)
def imagenet_reference_madds() -> int:
    """MAdds of the ImageNet reference network (``proxylessnas_skeleton``, reference cells)."""
    from .backbone import get_backbone
    from .counter import network_cost

    return network_cost(get_backbone("proxylessnas_skeleton").reference_network()).madds


def budget_name(point_m: float) -> str:
    return f"madds_{point_m:g}".replace(".", "p")


def budget_overrides(point_m: float, scale: str) -> dict:
    """The dotted-key overrides of one budget point (millions of MAdds)."""
    if scale == "absolute":
        madds, ratio = int(round(point_m * 1e6)), None
    else:
        madds, ratio = None, round(point_m * 1e6 / imagenet_reference_madds(), 6)
    out = {}
    for section in BUDGET_KEYS:
        out[f"{section}.budget_madds"] = madds
        out[f"{section}.budget_ratio"] = ratio
    return out


def overrides(config: dict) -> dict[str, dict]:
    """Every variant's name -> its dotted-key overrides: budgets first, then ablations."""
    section = config["variants"]
    out = {budget_name(p): budget_overrides(p, section["budget_scale"]) for p in section["budgets"]}
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
    if not isinstance(changes, dict) or not changes:
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
