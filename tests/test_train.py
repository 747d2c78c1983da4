"""Final training (resume after a kill is bitwise identical), evaluation, comparison tables."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from autospace.arch.backbone import get_backbone
from autospace.arch.cells import reference_cell
from autospace.report.compare import run_comparison
from autospace.report.tables import comparison_markdown, comparison_rows
from autospace.errors import SpecError
from autospace.engine.evaluate import evaluate
from autospace.runtime import load_checkpoint
from autospace.arch.space import reference_space
from autospace.engine.train import TrainRecipe, lr_factor, train

ROOT = Path(__file__).resolve().parent.parent
RECIPE = {"epochs": 2, "batch_size": 32, "val_size": 32, "checkpoint_every_steps": 2, "ema_decay": 0.9,
          "warmup_epochs": 0.5}
KILL_AT = """
import json, os, signal, sys
import torch
torch.set_num_threads(1)
from autospace.engine.train import train
def on_step(epoch, step):
    if (epoch, step) == (1, 3):
        os.kill(os.getpid(), signal.SIGKILL)
train(json.loads(sys.argv[1]), *sys.argv[2:], on_step=on_step)
"""


@pytest.fixture
def arch(tmp_path):
    path = tmp_path / "arch.json"
    path.write_text(get_backbone("fmnist_small").reference_network().dumps())
    return path


def test_killed_mid_epoch_and_restarted_gives_bitwise_identical_weights(tmp_path, tiny_data, arch):
    config = {"seed": 3, "device": "cpu", "train": RECIPE}
    train(config, arch, tiny_data, tmp_path / "straight", tmp_path / "straight_state")
    args = [str(arch), str(tiny_data), str(tmp_path / "out"), str(tmp_path / "state")]
    killed = subprocess.run([sys.executable, "-c", KILL_AT, json.dumps(config), *args], cwd=ROOT)
    assert killed.returncode == -9
    state = load_checkpoint(tmp_path / "state" / "last.pt")
    assert (state["epoch"], state["step"]) == (1, 2)  # mid-epoch: 2 of 4 steps of the second epoch
    assert not (tmp_path / "out" / "model.pt").exists()
    train(config, *args)
    a = load_checkpoint(tmp_path / "straight" / "model.pt")["model"]
    b = load_checkpoint(tmp_path / "out" / "model.pt")["model"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "straight" / "log.csv").read_text() == (tmp_path / "out" / "log.csv").read_text()
    log = (tmp_path / "out" / "log.csv").read_text().splitlines()
    assert log[0] == "epoch,lr,train_loss,train_acc,val_loss,val_acc" and len(log) == 3
    assert json.loads((tmp_path / "out" / "config.json").read_text())["train"]["ema_decay"] == 0.9
    lr0 = TrainRecipe.from_dict(RECIPE).lr  # 4 steps an epoch, 2 of warm-up: the schedule at steps 4 and 8
    assert [float(row.split(",")[1]) for row in log[1:]] == pytest.approx(
        [lr0 * lr_factor(4, 2, 8), lr0 * lr_factor(8, 2, 8)], rel=1e-12, abs=1e-15)


class _Stop(Exception):
    pass


def _stop_at(when):
    def on_step(epoch, step):
        if (epoch, step) == when:
            raise _Stop
    return on_step


def test_state_of_another_architecture_or_recipe_is_discarded_and_training_succeeds(tmp_path, tiny_data, arch,
                                                                                      capfd):
    """A changed config reruns (issue 14): the saved state of unfinished work with another
    architecture, or another learning rate, is discarded with a log line, never an error."""
    config = {"seed": 0, "device": "cpu", "train": {"epochs": 2, "batch_size": 40, "checkpoint_every_steps": 1}}
    with pytest.raises(_Stop):
        train(config, arch, tiny_data, tmp_path / "out", tmp_path / "state", on_step=_stop_at((0, 2)))
    assert (tmp_path / "state" / "last.pt").is_file()
    other = tmp_path / "other.json"
    backbone = get_backbone("fmnist_small")
    other.write_text(backbone.fill([backbone.reference_network().stages[1].blocks[0]] * 6)
                     .replace(name="other").dumps())
    train(config, other, tiny_data, tmp_path / "out", tmp_path / "state")
    assert "discarding the saved state" in capfd.readouterr().out
    assert load_checkpoint(tmp_path / "out" / "model.pt")["arch"] == other.read_text()
    assert not (tmp_path / "state" / "last.pt").exists()  # removed once the outputs are written
    with pytest.raises(_Stop):
        train(config, arch, tiny_data, tmp_path / "out", tmp_path / "state", on_step=_stop_at((0, 2)))
    train({**config, "train": {**config["train"], "lr": 0.1}}, arch, tiny_data, tmp_path / "out", tmp_path / "state")
    assert "discarding the saved state" in capfd.readouterr().out


def test_diverging_training_stops_naming_the_learning_rate(tmp_path, tiny_data, arch):
    config = {"seed": 0, "device": "cpu", "train": {"epochs": 1, "batch_size": 40, "lr": 1e30, "warmup_epochs": 0}}
    with pytest.raises(SpecError, match="train.lr: train diverged"):
        train(config, arch, tiny_data, tmp_path / "out", tmp_path / "state")
    assert not (tmp_path / "out" / "model.pt").exists()


@pytest.mark.parametrize("recipe, field", [
    ({"lr": -1}, "train.lr"), ({"momentun": 0.9}, "train.momentun"), ({"epochs": 1.5}, "train.epochs"),
    ({"augmentation": "mixup"}, "train.augmentation"), ({"label_smoothing": 1.0}, "train.label_smoothing"),
    ({"ema_decay": 1.0}, "train.ema_decay"), ({"channels_last": "yes"}, "train.channels_last")])
def test_bad_recipe_names_the_key(recipe, field):
    with pytest.raises(SpecError) as info:
        TrainRecipe.from_dict(recipe)
    assert info.value.field == field


def test_recipe_file_errors_name_the_file_and_nothing_is_written(tmp_path, tiny_data, arch):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text("optimizer: nesterov\nwarmup_epochs: -1\n")
    with pytest.raises(SpecError, match=f"^{recipe}: train.warmup_epochs: must be >= 0"):
        train({"train": str(recipe)}, arch, tiny_data, tmp_path / "out", tmp_path / "state")
    assert not (tmp_path / "out").exists() and not (tmp_path / "state").exists()
    recipe.write_text("optimizer: adamw\nlr: 0.001\n")
    assert TrainRecipe.load(str(recipe)).optimizer == "adamw"
    assert TrainRecipe.from_dict({}).to_dict()["label_smoothing"] == 0.1


def test_bad_arch_document_names_the_file_and_key(tmp_path, tiny_data, arch):
    doc = json.loads(arch.read_text())
    doc["stages"][1]["blocks"][0]["kernal"] = 3
    arch.write_text(json.dumps(doc))
    with pytest.raises(SpecError, match=f"^{arch}: stages\\[1\\].blocks\\[0\\].kernal: unknown key"):
        train({}, arch, tiny_data, tmp_path / "out", tmp_path / "state")


def test_comparison_writes_evaluation_json_and_tables(tmp_path, tiny_data):
    reference_space("fmnist_small").save(tmp_path / "reference.json")
    config = {"data_dir": str(tiny_data), "device": "cpu", "algorithms": ["random"],
              "nas": {"budget_ratio": 0.9}, "train": {"epochs": 1, "batch_size": 80},
              "evaluate": {"latency_repeats": 3, "latency_warmup": 1}}
    rows = run_comparison(config, {"reference": tmp_path / "reference.json"}, [0, 1], tmp_path / "cmp")
    metrics = json.loads((tmp_path / "cmp/runs/reference/random/seed0/metrics.json").read_text())
    for key in ("top1", "top5", "params", "madds", "latency_ms", "test_images"):
        assert key in metrics
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 1 and metrics["test_images"] == 100
    assert metrics["madds"] <= int(0.9 * json.loads(
        (tmp_path / "cmp/runs/reference/random/seed0/nas/nas.json").read_text())["reference_madds"])
    assert rows[0]["seeds"] == 2 and (tmp_path / "cmp" / "comparison.csv").read_text().startswith("space,algorithm")
    assert "| reference | random | 2 |" in (tmp_path / "cmp" / "comparison.md").read_text()
    other = tmp_path / "other.json"
    other.write_text(get_backbone("fmnist_small").reference_network(reference_cell(3, 5)).dumps())
    model = tmp_path / "cmp/runs/reference/random/seed0/train/model.pt"
    with pytest.raises(SpecError, match=f"^{model}: arch: the weights are for another architecture"):
        evaluate(other, model, tiny_data, tmp_path / "e.json")
    assert not (tmp_path / "e.json").exists()


def test_comparison_rows_give_mean_and_sample_std():
    recs = [{"space": "s", "algorithm": "a", "seed": k, "top1": t, "top5": 1.0, "madds": 10, "params": 5,
             "latency_ms": 1.0} for k, t in enumerate([0.5, 0.7])]
    (row,) = comparison_rows(recs)
    assert row["top1_mean"] == pytest.approx(0.6) and row["top1_std"] == pytest.approx(0.1414213562)
    assert "60.00 ± 14.14" in comparison_markdown([row])


def test_progress_lines_report_the_interval_since_the_last_line(tmp_path, tiny_data, arch, caplog):
    """A line every log_every_steps steps: loss and accuracy over the steps since the previous
    line (or since the epoch's sums started again), so they stay a loss >= 0 and an accuracy in
    [0, 1] across epoch ends (they once went negative after the per-epoch reset)."""
    import logging
    import re

    recipe = {**RECIPE, "val_size": 0, "ema_decay": None, "log_every_steps": 3}  # 5 steps an epoch
    with caplog.at_level(logging.INFO, logger="autospace"):
        train({"seed": 0, "device": "cpu", "train": recipe}, arch, tiny_data, tmp_path / "out", tmp_path / "state")
    pattern = re.compile(r"^train epoch (\d)/2 step (\d+)/(\d+) loss (-?[\d.]+) acc (-?[\d.]+) [\d.]+ img/s ETA "
                         r"\d+:\d\d:\d\d$")
    lines = [m.groups() for m in map(pattern.match, caplog.messages) if m]
    # 160 images in batches of 32: lines after global steps 3, 6, 9 and the last (10)
    assert [(int(e), int(s), int(n)) for e, s, n, *_ in lines] == [(1, 3, 5), (2, 1, 5), (2, 4, 5), (2, 5, 5)]
    for epoch, step, _, loss, acc in lines:
        assert 0 <= float(loss) < 10 and 0 <= float(acc) <= 1, (epoch, step, loss, acc)
