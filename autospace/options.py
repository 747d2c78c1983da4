"""Config sections as typed options: unknown keys, wrong types, non-finite numbers, out-of-range
values and broken relations between keys are a :class:`SpecError` naming ``<section>.<key>``.

A relation between two keys is declared once, on the :class:`Option` of one of them
(``at_most``, ``below``, ``needs``), naming the other by its dotted key in the run's config
(``evolution.population_size``); :func:`read_options` checks it where both values are known:
always inside the section, across sections when it is given the whole config."""

from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from pathlib import Path

from .errors import SpecError


@dataclass(frozen=True)
class Option:
    """One key: its default, type (``int``, ``float``, ``str``, ``bool``, ``list``), allowed values
    and relations to other keys.

    ``at_most`` / ``below``: the dotted key (or a tuple of them) of a number this value must not
    exceed / must stay under (skipped while that key is null); ``unless``: a (dotted key, value) pair under which
    those two do not apply; ``needs``: (value, dotted key, required value) triples: this key
    may take ``value`` only where the other key has the required value. ``finite=False``
    documents a number that may be NaN or infinite (every other number must be finite);
    ``parse``: a function ``(value, field) -> value`` checking a value no type above describes,
    and ``schema`` the JSON schema of its shape (autospace/schema.py derives the others')."""

    default: object
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    nullable: bool = False
    low_open: bool = False  # ``low`` itself is excluded
    high_open: bool = False  # ``high`` itself is excluded
    words: tuple = ()  # strings allowed besides values of ``kind`` (e.g. ``auto``)
    at_most: str | tuple | None = None
    below: str | tuple | None = None
    unless: tuple | None = None
    needs: tuple = ()
    finite: bool = True
    parse: object = None
    schema: dict | None = None

    def check(self, value, field: str):
        if value is None and self.nullable:
            return None
        if isinstance(value, str) and value in self.words:
            return value
        if self.parse is not None:
            return self.parse(value, field)
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) != (self.kind is bool) or not isinstance(value, self.kind):
            raise SpecError(field, f"expected {self.kind.__name__}{' or null' if self.nullable else ''}", value)
        if self.finite and isinstance(value, float) and not math.isfinite(value):
            raise SpecError(field, NOT_FINITE, value)
        if self.choices is not None and value not in self.choices:
            raise SpecError(field, f"expected one of {list(self.choices)}", value)
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise SpecError(field, f"must be {'>' if self.low_open else '>='} {self.low}", value)
        if self.high is not None and (value > self.high or (self.high_open and value == self.high)):
            raise SpecError(field, f"must be {'<' if self.high_open else '<='} {self.high}", value)
        return value


#: The reason given for a NaN or an infinity.
NOT_FINITE = "must be a finite number"
#: A table of options: key -> Option, or key -> a nested table (a sub-section).
Table = dict


def _join(section: str, key: str) -> str:
    return f"{section}.{key}" if section else key


def lookup(config, key: str):
    """A config value by dotted key (``nas.algorithm``); KeyError if a part is missing."""
    value = config
    for part in key.split("."):
        if not isinstance(value, dict) or part not in value:
            raise KeyError(key)
        value = value[part]
    return value


def _read(data, section: str, options: Table) -> dict:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(section or "config", "expected a mapping", type(data).__name__)
    for key in data:
        if key not in options:
            raise SpecError(_join(section, key), f"unknown key, expected some of {sorted(options)}", key)
    return {key: _read(data.get(key), _join(section, key), opt) if isinstance(opt, dict)
            else opt.check(data[key], _join(section, key)) if key in data else copy.deepcopy(opt.default)
            for key, opt in options.items()}


#: What ``known`` gives for a key outside the values at hand.
UNKNOWN = object()


def _relations(values: dict, section: str, options: Table, known) -> None:
    """Check the relations declared in ``options`` on the read ``values``; ``known(key)``: another
    key's value, or :data:`UNKNOWN` where it is not known here (checked where it is)."""
    for key, opt in options.items():
        field, value = _join(section, key), values[key]
        if isinstance(opt, dict):
            _relations(value, field, opt, known)
            continue
        for own, other, required in opt.needs:
            if value == own and known(other) not in (required, UNKNOWN):
                raise SpecError(field, f"{own} needs {other}: {required} ({other} is {known(other)})", value)
        if value is None or (opt.unless is not None and known(opt.unless[0]) in (opt.unless[1], UNKNOWN)):
            continue
        for others, strict in ((opt.at_most, False), (opt.below, True)):
            for other in (others,) if isinstance(others, str) else others or ():
                limit = known(other)
                if limit in (None, UNKNOWN) or not (value >= limit if strict else value > limit):
                    continue
                but = f" unless {opt.unless[0]} is {opt.unless[1]}" if opt.unless else ""
                raise SpecError(field, f"must be {'<' if strict else '<='} {other} ({limit}){but}", value)


def read_options(data, section: str, options: Table, config: dict | None = None) -> dict:
    """Every option of ``section`` (``""``: the top level): the value in ``data`` (checked) or its
    default; then the relations, to keys of this section and, given the whole run ``config``,
    to keys of other sections."""
    values = _read(data, section, options)

    def known(key: str):
        try:
            if section and key.startswith(section + "."):
                return lookup(values, key[len(section) + 1:])
            return UNKNOWN if config is None else lookup(config, key)
        except KeyError:
            return UNKNOWN

    _relations(values, section, options, known)
    return values


def defaults(options: Table) -> dict:
    """The default of every option of a table (nested tables as mappings)."""
    return {key: defaults(opt) if isinstance(opt, dict) else opt.default for key, opt in options.items()}


def check_finite_numbers(config, tables: dict[str, Table], path: str = "") -> None:
    """Refuse NaN and infinity anywhere in ``config`` (mappings and lists walked, variants'
    overrides included), except at keys whose :class:`Option` in ``tables`` (section -> table,
    ``""`` for the top level) says ``finite=False``."""
    if isinstance(config, dict):
        for key, value in config.items():
            check_finite_numbers(value, tables, _join(path, str(key)))
    elif isinstance(config, list):
        for k, value in enumerate(config):
            check_finite_numbers(value, tables, f"{path}[{k}]")
    elif isinstance(config, float) and not math.isfinite(config):
        opt = _option_at(tables, path)
        if opt is None or opt.finite:
            raise SpecError(path, NOT_FINITE, config)


def _option_at(tables: dict[str, Table], path: str) -> Option | None:
    section, _, rest = path.partition(".")
    for table, key in ((tables.get(section), rest), (tables.get(""), path)):
        node = table
        for part in key.split(".") if key else ():
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, Option):
            return node
    return None


def load_mapping(path: str | Path, what: str) -> dict:
    """A YAML or JSON file holding one mapping (errors name the file)."""
    import yaml

    path = Path(path)
    try:
        text = path.read_text()
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except FileNotFoundError:
        raise SpecError(what, "file not found", source=str(path)) from None
    except (ValueError, yaml.YAMLError) as err:
        raise SpecError(what, f"cannot be parsed ({err.__class__.__name__})", source=str(path)) from None
    if not isinstance(data, dict):
        raise SpecError(what, "expected a mapping", type(data).__name__, source=str(path))
    return data


def check_step_config(config, keys: tuple[str, ...]) -> int:
    """The top level of a step's config: only ``keys`` allowed; returns the validated ``seed``."""
    if not isinstance(config, dict):
        raise SpecError("config", "expected an object", type(config).__name__)
    for key in config:
        if key not in keys:
            raise SpecError(key, f"unknown config key, expected some of {list(keys)}", key)
    seed = config.get("seed", 0)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SpecError("seed", "expected an integer >= 0", seed)
    return seed
