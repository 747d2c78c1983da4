"""Figures' data (diversity, Pareto front, cell drawings) and the variants' configs."""

import copy
import json

import pytest
import yaml

from autospace.report import figures
from autospace import variants
from autospace.arch.cells import parse_cell
from autospace.runconfig import config_error
from workflow_helpers import REPO

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
DEFAULT = yaml.safe_load((REPO / "config/config.yaml").read_text())
# the default run with the complete T3/T4 grid (config/full-grid.yaml replaces its variant lists)
CONFIG = copy.deepcopy(DEFAULT)
CONFIG["variants"].update(yaml.safe_load((REPO / "config/full-grid.yaml").read_text())["variants"])
A = "n=4 e=6 x=1 act=relu6 att=none merge=sum,sum edges=0>1:conv1x1,1>2:dw3x3,2>3:conv1x1"
B = "n=4 e=3 x=1 act=hswish att=none merge=sum,sum edges=0>1:conv1x1,1>2:dw5x5,2>3:conv1x1"


def test_gene_distance_counts_differing_genes():
    a, b = figures.genes(parse_cell(A)), figures.genes(parse_cell(B))
    assert figures.gene_distance(a, a) == 0 and figures.gene_distance(a, b) == 3


def test_diversity_rows(tmp_path):
    doc = {"generation": 2, "layers": [{"layer": 0, "members": [{"cell": A}, {"cell": A}, {"cell": B}]}]}
    (tmp_path / "p.json").write_text(json.dumps(doc))
    (row,) = figures.diversity_rows([tmp_path / "p.json"])
    assert row == {"generation": 2, "layer": 0, "members": 3, "distinct": 2, "mean_gene_distance": 2.0}
    figures.plot_diversity([row], tmp_path / "d.png")
    assert (tmp_path / "d.png").stat().st_size and (tmp_path / "d.pdf").stat().st_size


def test_pareto_front(tmp_path):
    runs = []
    for k, (madds, top1) in enumerate(((1e6, 0.5), (2e6, 0.7), (3e6, 0.6), (2e6, 0.7), (4e6, 0.8))):
        path = tmp_path / f"{k}.json"
        path.write_text(json.dumps({"madds": madds, "top1": top1}))
        runs.append({"file": path, "group": "g", "run": str(k)})
    rows = figures.pareto_rows(runs)
    assert [r["pareto"] for r in rows] == [True, True, False, True, True]
    figures.plot_pareto(rows, tmp_path / "p.png")
    assert (tmp_path / "p.pdf").stat().st_size


def test_cells_are_drawn_from_the_exported_space(tmp_path):
    space = {"layers": [{"layer": 0, "candidates": [{"cell": A, "reference": True},
                                                    {"cell": B, "reference": False, "fitness": 0.4}]}]}
    (tmp_path / "s.json").write_text(json.dumps(space))
    assert figures.top_cells(tmp_path / "s.json") == [(0, B, 0.4)]
    figures.plot_cells(tmp_path / "s.json", tmp_path / "c.png")
    assert (tmp_path / "c.png").stat().st_size


def test_budget_variants_set_both_budgets():
    configs = variants.variant_configs(CONFIG)
    points = variants.budget_points(CONFIG)
    # the anchor point is the experiment's own config: not a variant
    assert points == {175: "madds_175", 340: None, 430: "madds_430", 570: "madds_570", 650: "madds_650"}
    assert [n for n in configs][:4] == ["madds_175", "madds_430", "madds_570", "madds_650"]
    for section in (configs["madds_175"]["evolution"]["constraint"], configs["madds_175"]["nas"]):
        assert section["budget_ratio"] == round(175 / 340, 6) and section["budget_madds"] is None
    absolute = copy.deepcopy(CONFIG)
    absolute["variants"]["budget_scale"] = "absolute"
    assert variants.variant_configs(absolute)["madds_340"]["nas"]["budget_madds"] == 340_000_000
    absolute["nas"]["budget_madds"] = 340_000_000
    absolute["evolution"]["constraint"]["budget_madds"] = 340_000_000
    absolute["nas"]["budget_ratio"] = absolute["evolution"]["constraint"]["budget_ratio"] = None
    assert variants.budget_points(absolute)[340] is None
    assert configs["no_reference"]["evolution"]["reference"] == "none"
    assert configs["no_reference"]["data"] == CONFIG["data"] and not configs["no_reference"]["variants"]["budgets"]


def test_the_default_runs_one_point_of_each_table_and_the_full_grid_all():
    assert list(variants.variant_configs(DEFAULT)) == ["madds_175", "fitness_random"]
    assert len(variants.variant_configs(CONFIG)) == 14  # 4 budget points + 10 ablations (4 of them the issue-16 switches)
    assert config_error(CONFIG, SCHEMA, "config/full-grid.yaml") is None


@pytest.mark.parametrize("changes,key", [
    ({"evolution.fitness_rule": "best"}, "variants.ablations.foo.evolution.fitness_rule"),
    ({"evolution.fitnes_rule": "copy"}, "variants.ablations.foo.evolution.fitnes_rule"),
    ({"evolution.population_size": "x"}, "variants.ablations.foo.evolution.population_size"),
    ({"data.train_size": 10}, "variants.ablations.foo.data.train_size"),
    ({"seed": 3}, "variants.ablations.foo.seed"),
    ({"evolution.sample_size": 40}, "variants.ablations.foo.evolution.sample_size"),
])
def test_bad_variant_names_the_file_and_key(changes, key):
    config = copy.deepcopy(CONFIG)
    config["variants"]["ablations"].append({"foo": changes})
    message = config_error(config, SCHEMA, "config/config.yaml")
    assert message is not None and message.startswith(f"config/config.yaml: {key}: "), message
    assert "\n" not in message


def test_duplicate_variant_names_are_an_error():
    config = copy.deepcopy(CONFIG)
    config["variants"]["ablations"].append({"k_2": {"evolution.sample_size": 3}})
    assert config_error(config, SCHEMA, "c.yaml").startswith("c.yaml: variants.ablations.k_2: ")
