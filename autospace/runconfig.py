"""A run's config: validated against the workflow's JSON schema, then by each library section.

Every error is one line that names the config file(s) and the key.
"""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import yaml

from .errors import SpecError
from .files import write_text
from .options import Option, check_finite_numbers, read_options


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    if error.validator == "required":
        missing = re.findall(r"'([^']+)' is a required property", error.message)
        parts += missing[:1]
    elif error.validator == "additionalProperties":
        extra = re.findall(r"'([^']+)' was unexpected", error.message)
        parts += extra[:1]
    return ".".join(parts).replace(".[", "[") or "config"


def _reason(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return "unknown key"
    if error.validator == "required":
        return "missing key"
    if error.validator in ("pattern", "maxLength") and "description" in error.schema:
        return f"expected {error.schema['description']}"
    return error.message.split("\n")[0]


#: Top-level keys with an option of their own (the other top-level keys are sections, lists or
#: the backbone, checked by their own code).
RUN_OPTIONS = {
    # Set this run against the paper's ImageNet numbers (tables T1-T3); only an ImageNet run may.
    "paper_comparison": Option("none", str, choices=("imagenet", "none"),
                               needs=(("imagenet", "data.dataset", "imagefolder"),)),
}


def option_tables() -> dict:
    """Every option table of a run's config: section -> table (``""``: the top level)."""
    from .search.evolution.config import OPTIONS as EVOLUTION
    from .search.nas.config import OPTIONS as NAS
    from .sections import DATA, DISTRIBUTED, EVALUATE, TRAIN

    return {"": RUN_OPTIONS, "data": DATA, "distributed": DISTRIBUTED, "evolution": EVOLUTION, "nas": NAS,
            "train": TRAIN, "evaluate": EVALUATE}


def check_run_config(config: dict) -> None:
    """The library's own checks of each section (types, ranges, relations between keys)."""
    from .arch.backbone import get_backbone
    from .arch.cells import CellSpace
    from .arch.space import HAND_DESIGNED
    from .arch.spec import data_fields
    from .sections import check_backbone_data

    try:
        backbone = get_backbone(config["backbone"])
    except SpecError as err:
        raise err if err.field.startswith("backbone") else err.within("backbone") from None
    check_backbone_data(data_fields(backbone.skeleton), config["data"])
    try:
        CellSpace.from_dict(config["cell_space"])
    except SpecError as err:
        raise err.within("cell_space") from None
    for space in config["spaces"]:
        if space != "learned" and space not in HAND_DESIGNED:
            raise SpecError("spaces", f"unknown space, expected learned or one of {list(HAND_DESIGNED)}", space)
    for check in _section_checks():
        check(config)


def _section_checks():
    """Validators of each section with an option table, given the whole config for the relations
    across sections (each raises SpecError naming the key)."""
    from .search.evolution.config import SearchConfig
    from .search.nas.config import NASConfig
    from .sections import TrainRecipe

    tables = option_tables()
    return [lambda c: read_options({k: c[k] for k in RUN_OPTIONS}, "", RUN_OPTIONS, c),
            lambda c: read_options(c["data"], "data", tables["data"], c),
            lambda c: SearchConfig.from_dict({k: c[k] for k in ("seed", "device", "backbone", "cell_space",
                                                                  "evolution")}),
            lambda c: NASConfig.from_dict(c["nas"]),
            lambda c: TrainRecipe.from_dict(c["train"], c),
            lambda c: read_options(c["evaluate"], "evaluate", tables["evaluate"]),
            lambda c: read_options(c["distributed"], "distributed", tables["distributed"], c)]


def validation_error(config: dict, schema: dict) -> SpecError | None:
    """The first problem of ``config`` (a NaN or infinity, the schema, then the library's
    checks), or None."""
    try:
        check_finite_numbers(config, option_tables())
    except SpecError as err:
        return err
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(config), key=lambda e: (len(list(e.absolute_path)), e.path))
    if errors:
        err = errors[0]
        value = None if err.validator in ("required", "additionalProperties") else err.instance
        return SpecError(_key_path(err), _reason(err), value)
    try:
        check_run_config(config)
    except SpecError as err:
        return err
    return None


def config_error(config: dict, schema: dict, source: str) -> str | None:
    """None if ``config`` and each of its variants are valid, else one line:
    ``<source>: <key>: <reason> (got <value>)``."""
    from .variants import check_variants

    def check(cfg: dict) -> None:
        err = validation_error(cfg, schema)
        if err is not None:
            raise err

    err = validation_error(config, schema)
    if err is None:
        try:
            check_variants(config, check)
        except SpecError as problem:
            err = problem
    return None if err is None else str(err.within(source=source))


def write_resolved_config(config: dict, path: str | Path) -> None:
    """The fully resolved config of a run (defaults included), as YAML."""
    write_text(path, yaml.safe_dump(config, sort_keys=True, default_flow_style=False))
