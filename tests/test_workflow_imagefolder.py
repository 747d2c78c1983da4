"""The whole DAG on an ImageNet-style ImageFolder of JPEGs the test makes (the ImageNet path)."""

import json

import pytest
import yaml

from test_foundations import make_imagefolder
from workflow_helpers import IMAGEFOLDER_BACKBONE as BACKBONE, project_copy, snakemake

pytestmark = [pytest.mark.workflow, pytest.mark.slow]


def test_imagefolder_experiment_runs_end_to_end(tmp_path):
    repo = project_copy(tmp_path / "repo")
    images = make_imagefolder(tmp_path / "imagenet", per_class=8, size=48)
    tiny = yaml.safe_load((repo / ".test/config/config.yaml").read_text())
    tiny.update({"experiment": "tinyimg", "backbone": BACKBONE, "spaces": ["learned", "reference"]})
    # no variants: the budget points are sized for fmnist_small, and the tiny DAG covers them
    tiny["variants"] = {**tiny["variants"], "budgets": [], "ablations": []}
    tiny["data"] = {"dataset": "imagefolder", "root": str(images), "download": False, "search_val_size": 6,
                    "search_train_size": None, "train_size": None, "test_size": None}
    config = tmp_path / "tinyimg.yaml"
    config.write_text(yaml.safe_dump(tiny))
    snakemake("--cores", "2", "--configfile", str(config), cwd=repo, timeout=300)
    split = json.loads((repo / "results/tinyimg/data/split.json").read_text())
    assert split["dataset"] == "imagefolder" and len(split["search_val"]) == 6 and len(split["test"]) == 6
    metrics = json.loads((repo / "results/tinyimg/train/learned/seed_0/metrics.json").read_text())
    assert metrics["test_images"] == 6 and 0 <= metrics["top1"] <= 1
    assert "| learned |" in (repo / "results/tinyimg/tables/comparison.md").read_text()
