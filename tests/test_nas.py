"""NAS in a layer-wise space: budgets on the built module, repair, bad input."""

import json
import random

import pytest
import torch
from evolution_helpers import kill_after_state

from autospace.arch.backbone import get_backbone
from autospace.arch.builder import build_network
from autospace.arch.cells import CellSpace, random_cell
from autospace.arch.counter import madds_budget, network_cost
from autospace.errors import SpecError
from autospace.search.nas.config import NASConfig
from autospace.search.nas.search import random_architecture, repair, search
from autospace.arch.supernet import constraint_loss
from autospace.search.nas.search import proxyless_alpha_grad
from autospace.engine.profile import hook_cost
from autospace.arch.space import Candidate, SearchSpace, backbone_data, proxylessnas_space, reference_space
from autospace.arch.spec import load_spec


#: Cheap cells keep the supernet small; the wide cell space is covered by the counter's tests.
TEST_CELLS = CellSpace(nodes=4, edge_ops=("none", "conv1x1", "dw3x3", "dw5x5"), expansions=(1, 3),
                       activations=("relu6", "hswish"), attentions=("none", "se"), merges=("sum", "concat"))
NAS = {"epochs": 2, "warmup_epochs": 1, "batch_size": 32, "budget_ratio": 0.7}


def random_cells_test_space(seed: int = 0, per_layer: int = 3) -> SearchSpace:
    """Test fixture standing in for a learned space: random cells of the evolution's cell space."""
    rng = random.Random(seed)
    backbone = get_backbone("fmnist_small")
    layers = []
    for _ in backbone.layers:
        cells = {}
        while len(cells) < per_layer:
            cell = random_cell(TEST_CELLS, rng)
            cells[cell.id] = Candidate(cell, fitness=rng.random())
        layers.append(tuple(cells.values()))
    return SearchSpace("test_random_cells", backbone, backbone_data("fmnist_small"), tuple(layers))


SPACES = {"proxylessnas": lambda: proxylessnas_space("fmnist_small"),
          "reference": lambda: reference_space("fmnist_small"), "test_random_cells": random_cells_test_space}


@pytest.mark.parametrize("algorithm", ["proxyless", "darts", "random"])
@pytest.mark.parametrize("space_name", sorted(SPACES))
def test_derived_architecture_fits_the_budget_counted_on_the_built_module(tmp_path, tiny_data, algorithm, space_name):
    SPACES[space_name]().save(tmp_path / "space.json")
    config = {"seed": 1, "device": "cpu", "backbone": "fmnist_small", "nas": {**NAS, "algorithm": algorithm}}
    search(config, tmp_path / "space.json", tiny_data, tmp_path / "out")
    spec = load_spec(tmp_path / "out" / "arch.json")
    report = json.loads((tmp_path / "out" / "nas.json").read_text())
    measured = hook_cost(build_network(spec), (1, 28, 28))
    assert measured.madds == report["madds"] <= report["budget_madds"]
    # the band: at least 0.9 of the budget where some architecture of the space reaches it
    assert report["band_floor_madds"] == -(-9 * report["budget_madds"] // 10)
    assert report["in_band"] == (report["madds"] >= report["band_floor_madds"])
    assert report["budget_madds"] == int(0.7 * report["reference_madds"])
    assert measured.params == report["params"]
    assert len(report["layers"]) == 6
    for layer in report["layers"]:
        assert layer["chosen"] in layer["choices"] and abs(sum(layer["probs"]) - 1) < 1e-9
    resolved = json.loads((tmp_path / "out" / "config.json").read_text())
    assert resolved["nas"]["algorithm"] == algorithm and resolved["nas"]["arch_paths"] == 2


def test_repair_swaps_the_least_likely_loss_first_and_stops_within_budget():
    costs = [[10, 4, 0], [8, 2]]
    logprobs = [[-0.1, -3.0, -5.0], [-0.2, -0.4]]
    chosen, swaps = repair([0, 0], logprobs, fixed=1, costs=costs, budget=14)
    assert chosen == [0, 1]  # layer 1's swap loses 0.2 nats, layer 0's 2.9
    assert swaps == [{"layer": 1, "from": 0, "to": 1, "logprob_loss": pytest.approx(0.2), "madds_saved": 6}]
    chosen, swaps = repair([0, 0], logprobs, fixed=1, costs=costs, budget=5)
    assert chosen == [2, 1] and [(s["layer"], s["to"]) for s in swaps] == [(1, 1), (0, 1), (0, 2)]


def test_repair_lifts_a_network_below_the_band_without_leaving_the_budget():
    costs = [[10, 4, 0], [8, 2]]
    logprobs = [[-5.0, -0.1, -3.0], [-0.4, -0.2]]
    # argmax (4 + 2 + fixed 1 = 7) is under the floor 12: the cheapest-in-probability lift is layer 1 to 8
    chosen, swaps = repair([1, 1], logprobs, fixed=1, costs=costs, budget=14, floor=12)
    assert chosen == [1, 0] and 12 <= 1 + 4 + 8 <= 14
    assert swaps == [{"layer": 1, "from": 1, "to": 0, "logprob_loss": pytest.approx(0.2), "madds_saved": -6}]
    # a floor no swap reaches within the budget: never over the budget, and stopped only where no
    # single swap raises the MAdds without leaving it (greedy: 7 here, though 11 exists)
    chosen, _ = repair([2, 1], logprobs, fixed=1, costs=costs, budget=12, floor=12)
    total = 1 + sum(c[j] for c, j in zip(costs, chosen))
    assert total == 7 and not any(c[cur] < c[j] <= c[cur] + 12 - total
                                  for c, cur in zip(costs, chosen) for j in range(len(c)))
    # a draw of the random baseline lands in the band where one exists
    draws = [random_architecture(costs, 1, 14, 100, random.Random(seed), floor=12) for seed in range(20)]
    assert all(12 <= 1 + sum(c[j] for c, j in zip(costs, ch)) <= 14 for ch, _ in draws)


def test_the_band_penalty_is_zero_inside_the_band_and_grows_outside():
    budget = 100
    value = lambda e, band=0.9: float(constraint_loss(torch.tensor(float(e)), budget, "hinge", 1.0, band))  # noqa: E731
    assert value(90) == value(95) == value(100) == 0.0
    assert value(110) == pytest.approx(0.1) and value(50) == pytest.approx(0.4)
    assert value(50, band=0.0) == 0.0  # band 0: the plain hinge of a hard budget
    e = torch.tensor(50.0, requires_grad=True)
    constraint_loss(e, budget, "hinge", 1.0, 0.9).backward()
    assert e.grad < 0  # the gradient pushes a too-small network up


def test_impossible_budget_names_the_shortfall_and_writes_nothing(tmp_path, tiny_data):
    proxylessnas_space("fmnist_small").save(tmp_path / "space.json")
    config = {"seed": 0, "device": "cpu", "backbone": "fmnist_small", "nas": {"budget_madds": 1_000_000}}
    with pytest.raises(SpecError) as info:
        search(config, tmp_path / "space.json", tiny_data, tmp_path / "out")
    message = str(info.value)
    cheapest = int(message.split("the cheapest needs ")[1].split(",")[0])
    assert message.startswith("nas.budget: no architecture in space 'proxylessnas' fits the budget of 1000000")
    assert f"{cheapest - 1_000_000} MAdds" in message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("nas, field", [
    ({"bogus": 1}, "nas.bogus"), ({"epochs": "3"}, "nas.epochs"), ({"budget_ratio": 0}, "nas.budget_ratio"),
    ({"budget_ratio": 0.5, "budget_madds": 10}, "nas.budget_ratio"), ({"algorithm": "enas"}, "nas.algorithm"),
    ({"include_zero": 1}, "nas.include_zero"), ({"epochs": 2, "warmup_epochs": 2}, "nas.warmup_epochs")])
def test_bad_nas_config_names_the_key(nas, field):
    with pytest.raises(SpecError) as info:
        NASConfig.from_dict(nas)
    assert info.value.field == field


def test_nas_config_resolves_defaults():
    backbone = get_backbone("fmnist_small")
    reference = network_cost(backbone.reference_network()).madds
    cfg = NASConfig.from_dict({"budget_madds": 5_000_000})
    assert cfg.to_dict()["algorithm"] == "proxyless" and cfg.budget(backbone) == 5_000_000
    assert NASConfig.from_dict({}).budget(backbone) == reference
    assert NASConfig.from_dict({"budget_ratio": 0.5}).budget(backbone) == round(0.5 * reference)


def test_one_budget_resolver_for_search_nas_workflow_and_audit():
    """Evolution's target T and the NAS budget are the same function of the same keys."""
    from autospace.audit import _nas_budget
    from autospace.search.evolution.config import SearchConfig

    backbone = get_backbone("fmnist_small")
    reference = network_cost(backbone.reference_network()).madds
    for ratio in (0.3, 0.7, 1.0):
        want = madds_budget(backbone.reference_network(), None, ratio)
        assert want == max(1, round(ratio * reference))
        assert NASConfig.from_dict({"budget_ratio": ratio}).budget(backbone) == want
        search = SearchConfig.from_dict({"backbone": "fmnist_small",
                                         "evolution": {"constraint": {"mode": "hinge", "budget_ratio": ratio}}})
        assert search.budget_madds() == want
        assert _nas_budget({"backbone": "fmnist_small", "nas.budget_madds": None, "nas.budget_ratio": ratio}) == want
    assert madds_budget(backbone.reference_network(), 1234, None) == 1234


def test_space_for_another_backbone_names_the_file_and_overwrites_nothing(tmp_path, tiny_data):
    proxylessnas_space("proxylessnas_skeleton").save(tmp_path / "space.json")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "arch.json").write_text("old")
    config = {"seed": 0, "device": "cpu", "backbone": "fmnist_small", "nas": NAS}
    with pytest.raises(SpecError, match=f"^{tmp_path / 'space.json'}: backbone: the space is for another"):
        search(config, tmp_path / "space.json", tiny_data, tmp_path / "out")
    assert (tmp_path / "out" / "arch.json").read_text() == "old"


def test_bad_cell_in_a_space_names_the_file_and_field(tmp_path, tiny_data):
    doc = reference_space("fmnist_small").to_json()
    doc["layers"][2]["candidates"][0]["cell"] = "n=4 e=6 x=1 act=relu6 att=none merge=sum,sum edges=0>1:dw4x4"
    (tmp_path / "space.json").write_text(json.dumps(doc))
    with pytest.raises(SpecError) as info:
        search({"nas": NAS}, tmp_path / "space.json", tiny_data, tmp_path / "out")
    assert info.value.source == str(tmp_path / "space.json")
    assert info.value.field.startswith("layers[2].candidates[0].cell")


def test_proxyless_estimate_is_the_chain_rule_through_the_softmax_gates():
    torch.manual_seed(0)
    alpha, outputs, target = torch.randn(4, requires_grad=True), torch.randn(4, 5), torch.randn(5)
    def loss(gates):
        return ((gates @ outputs - target) ** 2).sum()
    loss(torch.softmax(alpha, 0)).backward()
    gates = torch.softmax(alpha.detach(), 0).requires_grad_()
    loss(gates).backward()
    assert torch.allclose(proxyless_alpha_grad(alpha, [0, 1, 2, 3], gates.grad), alpha.grad, atol=1e-6)


@pytest.mark.parametrize("algorithm", ["proxyless"])  # darts shares the loop and its state; proxyless adds the gates
def test_killed_nas_resumes_from_its_step_and_gives_identical_outputs(tmp_path, tiny_data, capfd, algorithm):
    """64 search-train images in batches of 16: 4 steps an epoch, a state every step."""
    proxylessnas_space("fmnist_small").save(tmp_path / "space.json")
    config = {"seed": 1, "device": "cpu", "backbone": "fmnist_small",
              "nas": {**NAS, "algorithm": algorithm, "batch_size": 16, "checkpoint_every_steps": 1}}
    search(config, tmp_path / "space.json", tiny_data, tmp_path / "straight", tmp_path / "state_straight")
    assert not (tmp_path / "state_straight" / "state.pt").exists()  # removed after the outputs
    # 4 steps an epoch: killed after the state of global step 5, in the architecture epoch
    kill_after_state("autospace.search.nas.search:search", (1, 1), config, tmp_path / "space.json", tiny_data, tmp_path / "out",
                     tmp_path / "state")
    assert (tmp_path / "state" / "state.pt").is_file()
    assert not (tmp_path / "out" / "arch.json").exists()
    capfd.readouterr()
    search(config, tmp_path / "space.json", tiny_data, tmp_path / "out", tmp_path / "state")
    assert "resumed from step 5" in capfd.readouterr().out
    for name in ("arch.json", "nas.json"):
        a, b = ((tmp_path / d / name).read_text() for d in ("straight", "out"))
        assert a.replace(str(tmp_path / "straight"), "") == b.replace(str(tmp_path / "out"), ""), name
