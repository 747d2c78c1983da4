"""Units of search-space evolution: config, tournament, mutation, aging, fitness, Eqns. 3 and 4."""

import random

import pytest
import torch

from autospace.arch.backbone import get_backbone
from autospace.arch.cells import CellSpace, mutation_options, reference_cell
from autospace.errors import SpecError
from autospace.search.evolution.config import OPTIONS, SearchConfig
from autospace.search.evolution.fitness import fitness_weights, update_fitness
from autospace.search.evolution.population import (Member, init_population, population_from_json, population_to_json,
                                            sample_layer, tournament, update_population)
from autospace.arch.supernet import (Supernet, constraint_loss, expected_madds, fixed_madds, layer_costs, mixed_output,
                                mixing_weights)
from autospace.arch.counter import network_cost

from evolution_helpers import STRONG, TWO_LAYERS, WEAK

SPACE = CellSpace()


def test_config_defaults_are_the_method_doc_defaults_and_round_trip():
    resolved = SearchConfig.from_dict({}).to_dict()
    evo = resolved["evolution"]
    # config/config.yaml's P (the library's defaults are its values); the method doc's P = 32 is
    # written in config/imagenet.yaml
    assert (evo["population_size"], evo["tournament_size"], evo["sample_size"]) == (16, 4, 4)
    assert (evo["population_update"], evo["mixing"], evo["update"], evo["fitness_rule"], evo["ema_beta"]) == \
        ("aging", "softmax", "alternating", "ema_debiased", 0.5)
    assert evo["fitness_weight"] == "raw"
    assert evo["reference"] == "candidate" and evo["reference_cell"] == [str(reference_cell())]
    assert evo["constraint"]["mode"] == "hinge" and evo["export_top_k"] == 6
    assert set(evo) == set(OPTIONS)
    assert SearchConfig.from_dict(resolved).to_dict() == resolved
    absolute = SearchConfig.from_dict({"evolution": {"constraint": {"budget_madds": 1000}}})
    assert absolute.budget_madds() == 1000 and absolute["constraint"]["budget_ratio"] is None


@pytest.mark.parametrize("config,field", [
    ({"evolution": {"populaton_size": 8}}, "evolution.populaton_size"),
    ({"evolution": {"population_size": "8"}}, "evolution.population_size"),
    ({"evolution": {"population_size": 0}}, "evolution.population_size"),
    ({"evolution": {"mutation_prob": 1.5}}, "evolution.mutation_prob"),
    ({"evolution": {"ema_beta": 1.0}}, "evolution.ema_beta"),
    ({"evolution": {"mixing": "max"}}, "evolution.mixing"),
    ({"evolution": {"fitness_rule": True}}, "evolution.fitness_rule"),
    ({"evolution": {"sample_size": 40}}, "evolution.sample_size"),
    ({"evolution": {"warmup": {"cells": "all"}}}, "evolution.warmup.cells"),
    ({"evolution": {"warmup": {"epoch": 1}}}, "evolution.warmup.epoch"),
    ({"evolution": {"constraint": {"budget_madds": 10, "budget_ratio": 0.5}}}, "evolution.constraint.budget_madds"),
    ({"evolution": {"constraint": {"lambda": -1}}}, "evolution.constraint.lambda"),
    ({"evolution": {"reference_cell": "n=4 e=6"}}, "evolution.reference_cell[0].x"),
    ({"evolution": {"weight_lr": 0}}, "evolution.weight_lr"),
    ({"device": "tpu"}, "device"),
    ({"seed": -1}, "seed"),
    ({"cell_space": {"nodes": 2}}, "cell_space.nodes"),
    ({"backbone": "nope"}, "backbone"),
    ({"extra": 1}, "extra"),
])
def test_bad_config_names_the_key(config, field):
    with pytest.raises(SpecError) as info:
        SearchConfig.from_dict(config)
    assert info.value.field == field


def _members(fitness):
    return [Member(reference_cell(kernel=k), k, -1, f) for k, f in zip((3, 5, 7), fitness)]


def test_tournament_returns_the_fittest_of_the_drawn():
    members = _members([0.1, 0.9, 0.5])
    assert tournament(members, 3, random.Random(0)) is members[1]
    rng = random.Random(1)
    for _ in range(20):  # a tournament of 2 never returns the worst
        assert tournament(members, 2, rng) is not members[0]


def test_sampling_gives_k_distinct_cells_and_records_lineage():
    rng = random.Random(0)
    pop = init_population(SPACE, 8, rng, [reference_cell()], "candidate")
    assert len({m.cell.id for m in pop.members}) == 8 and reference_cell().id not in {m.cell.id for m in pop.members}
    sampled, mutants = sample_layer(pop, 4, 3, 1.0, SPACE, rng, generation=0)
    assert len({m.cell.id for m in sampled}) == 5 and sampled[-1].reference  # K + the reference cell
    assert mutants and all(m in pop.members and m.birth == 0 for m in mutants)
    for child in mutants:
        parent = pop.find(child.parent)
        assert child.cell in mutation_options(parent.cell, SPACE)[child.gene]  # one gene changed
    frozen = init_population(SPACE, 8, random.Random(1), [], "none")
    sampled, mutants = sample_layer(frozen, 8, 2, 0.0, SPACE, random.Random(2), generation=0)
    assert not mutants and {m.cell.id for m in sampled} == {m.cell.id for m in frozen.members}


def test_seed_mode_puts_the_reference_cell_into_the_population():
    pop = init_population(SPACE, 4, random.Random(0), [reference_cell()], "seed")
    assert pop.members[0].cell == reference_cell() and pop.members[0].reference and not pop.references


def test_aging_removes_the_oldest_and_remove_worst_the_least_fit():
    pop = init_population(SPACE, 4, random.Random(0), [], "none")
    for k, m in enumerate(pop.members):
        m.fitness = [0.4, 0.1, 0.3, 0.2][k]
    young = pop.add(STRONG, birth=0)
    aged = update_population(pop, 4, "aging")
    assert [m.serial for m in aged] == [0] and young in pop.members
    pop.add(WEAK, birth=1)
    worst = update_population(pop, 4, "remove_worst")
    assert worst[0].fitness == 0.0 and worst[0].birth == 0  # the young cell, never scored, goes


def test_fitness_rules_eqn5():
    m = Member(STRONG, 0, -1)
    update_fitness(m, 0.6, "ema", 0.5, random.Random(0))
    update_fitness(m, 0.2, "ema", 0.5, random.Random(0))
    assert m.fitness == pytest.approx(0.5 * 0.3 + 0.5 * 0.2) and m.times_sampled == 2
    assert m.fitness_history == pytest.approx([0.3, 0.25])
    c = Member(STRONG, 0, -1, fitness=0.9)
    update_fitness(c, 0.2, "copy", 0.5, random.Random(0))
    assert c.fitness == 0.2
    avg = Member(STRONG, 0, -1)
    for w in (0.2, 0.4, 0.9):
        update_fitness(avg, w, "mean", 0.5, random.Random(0))
    assert avg.fitness == pytest.approx(0.5)
    r = Member(STRONG, 0, -1)
    update_fitness(r, 0.99, "random", 0.5, random.Random(3))
    assert r.fitness == random.Random(3).random()
    d = Member(STRONG, 0, -1)
    for w in (0.6, 0.2):
        update_fitness(d, w, "ema_debiased", 0.5, random.Random(0))
    # the uncorrected m: 0.3, then 0.5 * 0.3 + 0.5 * 0.2 = 0.25; divided by 1 - 0.5^n: 0.6, then 1/3
    assert d.fitness_history == pytest.approx([0.6, 0.25 / 0.75])


def _rank_correlation(xs, ys) -> float:
    """Spearman's rho (average ranks for ties)."""
    def ranks(values):
        order = sorted(range(len(values)), key=lambda i: values[i])
        out = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                out[order[k]] = (i + j) / 2
            i = j + 1
        return out
    rx, ry = ranks(xs), ranks(ys)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    return cov / (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5


@pytest.mark.parametrize("rule, biased", [("ema", True), ("ema_debiased", False), ("mean", False), ("copy", False)])
def test_an_unbiased_fitness_does_not_rank_a_cell_by_how_often_it_was_sampled(rule, biased):
    """Issue 16: cells of equal true quality (every sampling scores a draw from one distribution)
    sampled 1 to 6 times. The first default, an EMA from f = 0, gives f ~ (1 - beta^n) * w, so
    its ranking follows the sampling count; the bias-corrected EMA, the mean and copy do not."""
    rng = random.Random(0)
    cells = [Member(STRONG, k, -1) for k in range(300)]
    counts = [rng.randint(1, 6) for _ in cells]
    for member, n in zip(cells, counts):
        for _ in range(n):
            update_fitness(member, rng.gauss(0.25, 0.03), rule, 0.5, rng)
    rho = _rank_correlation([m.fitness for m in cells], counts)
    assert (rho > 0.5) if biased else (abs(rho) < 0.15), rho


def test_relative_fitness_scores_a_weight_against_the_reference_in_the_same_mixture():
    assert fitness_weights([0.2, 0.5, 0.3], [False, False, True], "relative") == pytest.approx([2 / 3, 5 / 3, 1.0])
    assert fitness_weights([0.2, 0.5, 0.3], [False, False, True], "raw") == [0.2, 0.5, 0.3]
    with pytest.raises(ValueError, match="reference: candidate"):
        fitness_weights([0.5, 0.5], [False, False], "relative")


def test_population_json_round_trip():
    backbone = get_backbone(TWO_LAYERS)
    pops = [init_population(SPACE, 3, random.Random(l), [reference_cell()], "candidate") for l in range(2)]
    sample_layer(pops[0], 2, 2, 1.0, SPACE, random.Random(0), 0)
    doc = population_to_json(pops, 0, backbone)
    generation, again = population_from_json(doc, backbone, SPACE)
    assert generation == 0 and population_to_json(again, 0, backbone) == doc


def test_mixed_layer_is_the_weighted_sum_of_its_cells_eqn3():
    torch.manual_seed(0)
    backbone = get_backbone(TWO_LAYERS)
    net = Supernet(backbone, [[STRONG, WEAK], [STRONG, WEAK]], seed=0).eval()
    x = torch.randn(2, 1, 28, 28)
    h = net.stem(x)
    w = mixing_weights(torch.tensor([0.3, -0.2]), "softmax")
    paths = net.mixed[0].ops
    mixed = w[0] * paths[0](h) + w[1] * paths[1](h)
    assert torch.allclose(mixed_output(h, paths, w), mixed)
    assert torch.allclose(mixing_weights(torch.tensor([0.0, 2.0]), "sigmoid"), torch.sigmoid(torch.tensor([0.0, 2.0])))
    # one-hot weights: the supernet is the single-cell network (same weights)
    one_hot = [torch.tensor([1.0, 0.0])] * 2
    assert torch.allclose(net(x, one_hot), net(x, active=[0, 0]), atol=1e-6)


def test_expected_madds_and_constraint():
    backbone = get_backbone(TWO_LAYERS)
    cells = [[STRONG, WEAK], [STRONG, WEAK]]
    costs = [torch.tensor(layer, dtype=torch.float64) for layer in layer_costs(backbone, cells)]
    weights = [torch.tensor([0.25, 0.75], dtype=torch.float64)] * 2
    e = expected_madds(weights, costs)
    assert float(e) == pytest.approx(sum(0.25 * c[0] + 0.75 * c[1] for c in costs))
    full = network_cost(backbone.fill([STRONG, STRONG])).madds
    assert fixed_madds(backbone) + float(costs[0][0] + costs[1][0]) == full
    total = torch.tensor(2000.0)
    assert float(constraint_loss(total, 1000, "hinge", 3.0)) == pytest.approx(3.0)
    assert float(constraint_loss(torch.tensor(500.0), 1000, "hinge", 3.0)) == 0
    assert float(constraint_loss(total, 1000, "log", 1.0)) == pytest.approx(torch.log(torch.tensor(2.0)).item())
    assert float(constraint_loss(total, 1000, "none", 1.0)) == 0
    alpha = torch.zeros(2, requires_grad=True)
    e = expected_madds([mixing_weights(alpha, "softmax")] * 2, costs, fixed_madds(backbone))
    constraint_loss(e, 1, "hinge", 1.0).backward()
    cheaper = int(costs[0][1] < costs[0][0])
    assert alpha.grad[cheaper] < 0 < alpha.grad[1 - cheaper]  # pushes towards the cheaper cell
