"""Config sections as typed options: unknown keys, wrong types and out-of-range values are a
:class:`SpecError` naming ``<section>.<key>``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import SpecError


@dataclass(frozen=True)
class Option:
    """One key: its default, type (``int``, ``float``, ``str``, ``bool``) and allowed values."""

    default: object
    kind: type
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    nullable: bool = False
    low_open: bool = False  # ``low`` itself is excluded
    words: tuple = ()  # strings allowed besides values of ``kind`` (e.g. ``auto``)

    def check(self, value, field: str):
        if value is None and self.nullable:
            return None
        if isinstance(value, str) and value in self.words:
            return value
        if self.kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if isinstance(value, bool) != (self.kind is bool) or not isinstance(value, self.kind):
            raise SpecError(field, f"expected {self.kind.__name__}{' or null' if self.nullable else ''}", value)
        if self.choices is not None and value not in self.choices:
            raise SpecError(field, f"expected one of {list(self.choices)}", value)
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            raise SpecError(field, f"must be {'>' if self.low_open else '>='} {self.low}", value)
        if self.high is not None and value > self.high:
            raise SpecError(field, f"must be <= {self.high}", value)
        return value


def read_options(data, section: str, options: dict[str, Option]) -> dict:
    """Every option of ``section``: the value in ``data`` (checked) or its default."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise SpecError(section, "expected a mapping", type(data).__name__)
    for key in data:
        if key not in options:
            raise SpecError(f"{section}.{key}", f"unknown key, expected some of {sorted(options)}", key)
    return {key: opt.check(data[key], f"{section}.{key}") if key in data else opt.default
            for key, opt in options.items()}


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
