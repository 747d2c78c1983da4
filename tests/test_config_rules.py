"""Validation by rule: configs with one value broken at random (wrong type, out of range, NaN or
infinity, a violated relation between keys, an unknown key) must each give one line naming the
key, through the same check Snakemake runs at start-up (``runconfig.config_error``), in-process."""

import copy
import math
import sys

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from autospace.options import Option, check_finite_numbers, lookup
from autospace.runconfig import config_error, option_tables
from autospace.errors import SpecError
from workflow_helpers import IMAGEFOLDER_BACKBONE, REPO, merged_config, tiny_config

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
BASES = {"tiny": tiny_config(), "default": merged_config("config/config.yaml"),
         "imagenet": merged_config("config/imagenet.yaml")}
SOURCE = "broken.yaml"
TABLES = option_tables()
NON_FINITE = (math.nan, math.inf, -math.inf)


def _leaves(table: dict, prefix: str):
    for key, opt in table.items():
        dotted = f"{prefix}.{key}" if prefix else key
        if isinstance(opt, dict):
            yield from _leaves(opt, dotted)
        else:
            yield dotted, opt


OPTIONS = [leaf for section, table in TABLES.items() for leaf in _leaves(table, section)]
SECTIONS = [s for s in TABLES if s] + ["evolution.constraint", "evolution.warmup"]


def _set(cfg: dict, dotted: str, value) -> dict:
    out = copy.deepcopy(cfg)
    *head, last = dotted.split(".")
    node = out
    for part in head:
        node = node[part]
    node[last] = value
    return out


def _wrong_type(opt: Option):
    values = {bool: ["yes", 1, 0.5, [True]], int: ["x", "10", [1], {"a": 1}, True, 2.5],
              float: ["x", "0.1", [0.1], True], str: [3, 0.5, ["a"], True], list: [5, 0.5, {"a": 1}]}[opt.kind]
    return st.sampled_from([v for v in values if v not in opt.words])


def _out_of_range(opt: Option):
    if opt.choices is not None:
        return st.sampled_from(["bogus", opt.choices[0].upper() + "_", ""])
    number = st.integers(1, 10**6) if opt.kind is int else st.floats(1e-6, 1e6)
    sides = []
    if opt.low is not None:
        sides.append(number.map(lambda d: opt.low - d))
        if opt.low_open:
            sides.append(st.just(opt.kind(opt.low)))
    if opt.high is not None:
        sides.append(number.map(lambda d: opt.high + d))
        if opt.high_open:
            sides.append(st.just(opt.kind(opt.high)))
    return st.one_of(sides)


@st.composite
def broken_configs(draw):
    """(config, the key its error must name): one value of a valid config broken."""
    base = BASES[draw(st.sampled_from(sorted(BASES)))]
    kind = draw(st.sampled_from(["type", "range", "non_finite", "relation", "unknown", "section", "list",
                                 "variant"]))
    if kind == "type":
        key, opt = draw(st.sampled_from(OPTIONS))
        return _set(base, key, draw(_wrong_type(opt))), key
    if kind == "range":
        key, opt = draw(st.sampled_from([o for o in OPTIONS if o[1].choices or o[1].low is not None
                                         or o[1].high is not None]))
        return _set(base, key, draw(_out_of_range(opt))), key
    if kind == "non_finite":
        key, _ = draw(st.sampled_from([o for o in OPTIONS if o[1].kind in (int, float)]))
        return _set(base, key, draw(st.sampled_from(NON_FINITE))), key
    if kind == "relation":
        key, opt = draw(st.sampled_from([o for o in OPTIONS if o[1].at_most or o[1].below or o[1].needs]))
        if opt.needs:
            own, other, required = draw(st.sampled_from(opt.needs))
            assume(lookup(base, other) != required)
            return _set(base, key, own), key
        assume(opt.unless is None or lookup(base, opt.unless[0]) != opt.unless[1])
        limit = lookup(base, draw(st.sampled_from(_keys(opt.at_most or opt.below))))
        assume(limit is not None)
        low = 0 if opt.below else 1 if opt.kind is int else 1e-3
        excess = draw(st.integers(low, 1000) if opt.kind is int else st.floats(low, 1e3))
        return _set(base, key, opt.kind(limit + excess)), key
    if kind == "unknown":
        section = draw(st.sampled_from(SECTIONS))
        name = draw(st.sampled_from(["bogus", "populaton_size", "lr_", "Epochs"]))
        return _set(base, f"{section}.{name}", 1), f"{section}.{name}"
    if kind == "section":
        section = draw(st.sampled_from(SECTIONS))
        return _set(base, section, draw(st.sampled_from([[1], "x", 3]))), section
    if kind == "list":  # a number inside a list, where no option describes it
        key = draw(st.sampled_from(["cell_space.expansions", "variants.budgets"]))
        values = list(lookup(base, key))
        assume(values)
        k = draw(st.integers(0, len(values) - 1))
        values[k] = draw(st.sampled_from(NON_FINITE))
        return _set(base, key, values), f"{key}[{k}]"
    # a variant's override: a NaN, or a relation the override breaks
    name = draw(st.sampled_from(["k_9", "lr_nan"]))
    if name == "lr_nan":
        value = draw(st.sampled_from(NON_FINITE))
        return _set(base, "variants.ablations", [{name: {"train.lr": value}}]), f"variants.ablations[0].{name}.train.lr"
    too_many = base["evolution"]["population_size"] + draw(st.integers(1, 100))
    return (_set(base, "variants.ablations", [{name: {"evolution.sample_size": too_many}}]),
            f"variants.ablations.{name}.evolution.sample_size")


GENERATED = []


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(broken_configs())
def test_a_broken_value_gives_one_line_naming_its_key(case):
    cfg, key = case
    GENERATED.append(key)
    line = config_error(cfg, SCHEMA, SOURCE)
    assert line is not None, key
    assert "\n" not in line and line.startswith(f"{SOURCE}: {key}: "), (key, line)


def test_at_least_200_broken_configs_were_tried():
    # runs after the property test (file order); alone, it runs that test's examples itself
    if not GENERATED:
        test_a_broken_value_gives_one_line_naming_its_key()
    assert len(GENERATED) >= 200 and len(set(GENERATED)) >= 50, (len(GENERATED), len(set(GENERATED)))


def _keys(others) -> tuple:
    """An ``at_most``/``below`` value as a tuple of dotted keys."""
    return (others,) if isinstance(others, str) else tuple(others or ())


def _relations():
    out = set()
    for key, opt in OPTIONS:
        out |= {(key, "<=", other) for other in _keys(opt.at_most)}
        out |= {(key, "<", other) for other in _keys(opt.below)}
        out |= {(key, "needs", other) for _, other, _ in opt.needs}
    return out


def test_the_relations_of_the_config_are_declared_next_to_their_keys():
    assert {("evolution.tournament_size", "<=", "evolution.population_size"),
            ("evolution.sample_size", "<=", "evolution.population_size"),
            ("evolution.export_top_k", "<=", "evolution.population_size"),
            ("nas.warmup_epochs", "<", "nas.epochs"),
            ("train.warmup_epochs", "<=", "train.epochs"),
            ("train.val_size", "<", "data.train_size"),
            ("train.augmentation", "needs", "data.dataset"),
            ("paper_comparison", "needs", "data.dataset"),
            ("distributed.processes", "<=", "train.batch_size"),
            ("distributed.processes", "<=", "nas.batch_size"),
            ("distributed.processes", "<=", "evolution.batch_size")} <= _relations()


@pytest.mark.parametrize("changes", [
    {"evolution.tournament_size": 6, "evolution.sample_size": 6, "evolution.export_top_k": 6},  # = population
    {"nas.algorithm": "random", "nas.warmup_epochs": 5},  # random has no warm-up to bound
    {"train.warmup_epochs": 2.0},  # = epochs
    {"data.train_size": None, "train.val_size": 10_000},  # all of the training set: checked by the step
    {"data.dataset": "imagefolder", "train.augmentation": "random_resized_crop", "paper_comparison": "imagenet",
     "backbone": IMAGEFOLDER_BACKBONE},  # classes not counted: root/train is missing (the data step names it)
])
def test_a_relation_at_its_limit_or_switched_off_is_accepted(changes):
    cfg = BASES["tiny"]
    for key, value in changes.items():
        cfg = _set(cfg, key, value)
    assert config_error(cfg, SCHEMA, SOURCE) is None


@pytest.mark.parametrize("key, value, reason", [
    ("train.lr", math.nan, "must be a finite number (got nan)"),
    ("evolution.weight_lr", math.inf, "must be a finite number (got inf)"),
    ("evolution.ema_beta", math.nan, "must be a finite number (got nan)"),
    ("nas.budget_ratio", math.nan, "must be a finite number (got nan)"),
    ("train.warmup_epochs", 5, "must be <= train.epochs (4) (got 5.0)"),
    ("evolution.tournament_size", 7, "must be <= evolution.population_size (6) (got 7)"),
    ("nas.warmup_epochs", 2, "must be < nas.epochs (2) unless nas.algorithm is random (got 2)"),
    ("train.val_size", 400, "must be < data.train_size (400) (got 400)"),
    ("train.augmentation", "random_resized_crop",
     "random_resized_crop needs data.dataset: imagefolder (data.dataset is fashion_mnist)"),
    ("paper_comparison", "imagenet", "imagenet needs data.dataset: imagefolder (data.dataset is fashion_mnist)"),
])
def test_the_issues_examples_read_as_one_line(key, value, reason):
    line = config_error(_set(BASES["tiny"], key, value), SCHEMA, SOURCE)
    assert line.startswith(f"{SOURCE}: {key}: {reason}"), line


@pytest.mark.parametrize("name, ok", [
    ("a" * 300, False), ("x" * 64, False), ("run_" + "ab" * 20, False), ("exp" + "123" * 20, False),
    ("r" + "a" * 18, True), ("fmnist-" + "0123456789" * 5, True), ("a" * 19, True)])
def test_the_experiment_name_is_short_and_not_periodic(name, ok):
    """Snakemake takes a wildcard value ending in a part repeated 20 times or more for a cyclic
    dependency (a PeriodicWildcardError traceback): such a name is refused by name."""
    from snakemake.io import PeriodicityDetector

    assert (PeriodicityDetector().is_periodic(name) is None and len(name) <= 64) == ok
    line = config_error(_set(BASES["tiny"], "experiment", name), SCHEMA, SOURCE)
    assert (line is None) == ok, line
    assert ok or line.startswith(f"{SOURCE}: experiment: expected letters, digits, '-' and '_'")
    ablation = config_error(_set(BASES["tiny"], "variants.ablations", [{name.lower().replace("-", "_"): {
        "evolution.fitness_rule": "copy"}}]), SCHEMA, SOURCE)
    assert (ablation is None) == ok, ablation


def test_a_key_may_document_that_it_takes_non_finite_numbers():
    tables = {"s": {"limit": Option(math.inf, float, finite=False), "lr": Option(0.1, float)}}
    check_finite_numbers({"s": {"limit": math.inf, "lr": 0.1}}, tables)
    with pytest.raises(SpecError, match=r"^s\.lr: must be a finite number \(got nan\)$"):
        check_finite_numbers({"s": {"limit": math.inf, "lr": math.nan}}, tables)
    assert Option(math.inf, float, finite=False).check(math.inf, "s.limit") == math.inf
    with pytest.raises(SpecError, match="finite"):
        Option(0.1, float).check(math.inf, "s.lr")



def test_the_backbone_is_checked_against_the_data_at_start_up(tmp_path):
    """Channels and classes are known before the data step runs (Fashion-MNIST: 1 channel, 10
    classes; an ImageFolder: RGB, one class per folder of root/train), so a backbone that cannot
    take the data is refused at start-up by its key, not by torch hours later."""
    tiny = BASES["tiny"]
    line = config_error(_set(tiny, "backbone", IMAGEFOLDER_BACKBONE), SCHEMA, SOURCE)
    assert line == f"{SOURCE}: backbone.in_channels: does not match data.dataset fashion_mnist (1) (got 3)"
    for name in ("cat", "dog", "fox"):
        (tmp_path / "train" / name).mkdir(parents=True)
    folder = _set(tiny, "data", {**tiny["data"], "dataset": "imagefolder", "root": str(tmp_path)})
    assert config_error(_set(folder, "backbone", IMAGEFOLDER_BACKBONE), SCHEMA, SOURCE) is None
    line = config_error(_set(folder, "backbone", {**IMAGEFOLDER_BACKBONE, "num_classes": 2}), SCHEMA, SOURCE)
    assert line == f"{SOURCE}: backbone.num_classes: does not match data.dataset imagefolder at {tmp_path} (3) (got 2)"
    line = config_error(_set(folder, "backbone", "fmnist_small"), SCHEMA, SOURCE)
    assert line.startswith(f"{SOURCE}: backbone.in_channels: does not match data.dataset imagefolder"), line


def test_a_step_refuses_a_backbone_that_does_not_fit_its_data(tiny_data, tmp_path):
    """Past start-up (the library called directly), the steps that read the data check it too."""
    from autospace.search.evolution.steps import warmup

    tiny = tiny_config()
    config = {**{k: tiny[k] for k in ("seed", "cell_space", "evolution")}, "device": "cpu",
              "backbone": IMAGEFOLDER_BACKBONE}
    with pytest.raises(SpecError, match=r"^backbone\.in_channels: does not match the data in .* \(1\) \(got 3\)$"):
        warmup(config, tiny_data, tmp_path / "out", tmp_path / "state")
    assert not (tmp_path / "out").exists()


def test_the_library_defaults_are_config_yaml():
    """One set of defaults: every option a library table declares defaults to what
    config/config.yaml writes (a step called without a key behaves as the workflow's default
    run), and config.yaml writes every one of them."""
    written = yaml.safe_load((REPO / "config/config.yaml").read_text())
    # the one documented difference: null means "1.0 x the reference, unless nas.budget_madds is given"
    resolved = {"nas.budget_ratio": 1.0}
    for key, opt in OPTIONS:
        assert lookup(written, key) == resolved.get(key, opt.default), key
    from autospace.search.nas.config import NASConfig

    assert NASConfig.from_dict({}).budget_ratio == 1.0


def test_the_schema_is_generated_from_the_option_tables(monkeypatch):
    """workflow/schemas/config.schema.yaml is current, and a section with an option table takes
    its keys, types, ranges and choices from the table alone: a changed Option changes the
    schema, the hand-written sections.schema.yaml does not hold that section."""
    from dataclasses import replace

    sys.path.insert(0, str(REPO / "workflow"))
    import make_schema

    from autospace import schema
    from autospace.search.evolution import config as evolution_config

    assert make_schema.main(["--check"]) == 0
    hand = yaml.safe_load(make_schema.SECTIONS.read_text())
    for section in ("data", "distributed", "evolution", "nas", "train", "evaluate", "paper_comparison"):
        assert section not in hand["properties"] and section in hand["required"], section
    generated = schema.config_schema(hand)["properties"]["evolution"]["properties"]
    assert generated["population_size"] == {"type": "integer", "minimum": 1}
    assert generated["ema_beta"] == {"type": "number", "minimum": 0, "exclusiveMaximum": 1}
    table = dict(evolution_config.OPTIONS)
    table["fitness_rule"] = replace(table["fitness_rule"], choices=("ema", "mean"))
    monkeypatch.setattr(evolution_config, "OPTIONS", table)
    changed = schema.config_schema(hand)["properties"]["evolution"]["properties"]["fitness_rule"]
    assert changed == {"enum": ["ema", "mean"]}
