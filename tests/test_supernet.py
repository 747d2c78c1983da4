"""The one supernet (autospace/arch/supernet.py): one mixed layer in the network the builder makes,
serving evolution (external mixing weights, single path) and NAS (own logits, binary gates); one
expected-MAdds function and one constraint term; initialisation seeded by parts."""

import pytest
import torch

from autospace.arch.backbone import get_backbone
from autospace.arch.builder import Network
from autospace.arch.counter import network_cost
from autospace.search.nas.search import layer_choices
from autospace.arch.space import proxylessnas_space
from autospace.arch.spec import Skip
from autospace.arch.supernet import MixedLayer, Supernet, choice_id, expected_madds, fixed_madds, layer_costs

from evolution_helpers import STRONG, TWO_LAYERS, WEAK


def test_the_supernet_is_the_builders_network_with_a_mixed_layer_per_searchable_layer():
    backbone = get_backbone(TWO_LAYERS)
    net = Supernet(backbone, [[STRONG, WEAK], [WEAK]], seed=0)
    assert isinstance(net, Network)
    assert [net.blocks[i] for i in backbone.searchable] == net.mixed
    assert all(isinstance(m, MixedLayer) and m.alpha is None for m in net.mixed)
    assert [len(m.ops) for m in net.mixed] == [2, 1]
    assert net.arch_parameters() == []
    # the shared parts are everything outside the mixed layers
    mixed = {id(p) for m in net.mixed for p in m.parameters()}
    assert {id(p) for p in net.shared_parameters().values()} == {id(p) for p in net.parameters()} - mixed


def test_initialisation_is_seeded_by_parts_not_by_the_global_rng():
    backbone = get_backbone(TWO_LAYERS)
    torch.manual_seed(1)
    a = Supernet(backbone, [[STRONG, WEAK], [STRONG, WEAK]], seed=3)
    torch.manual_seed(2)
    b = Supernet(backbone, [[WEAK, STRONG], [WEAK]], seed=3)
    # same seed: equal shared parts, and a cell's weights depend on (seed, layer, cell id) only,
    # not on its slot, on the other cells or on the global RNG
    shared = b.shared_state()
    assert shared and all(torch.equal(t, shared[n]) for n, t in a.shared_state().items())
    for ma, mb, layer_b in zip(a.mixed, b.mixed, b.choices):
        for cell, path in zip(layer_b, mb.ops):
            twin = ma.ops[[STRONG.id, WEAK.id].index(cell.id)].state_dict()
            assert all(torch.equal(t, twin[n]) for n, t in path.state_dict().items())
    c = Supernet(backbone, [[STRONG, WEAK], [STRONG, WEAK]], seed=4)
    assert not torch.equal(a.stem[0][0].weight, c.stem[0][0].weight)


def test_one_mixed_layer_serves_both_algorithms_modes():
    torch.manual_seed(0)
    backbone = get_backbone(TWO_LAYERS)
    net = Supernet(backbone, [[STRONG, WEAK], [STRONG, WEAK]], seed=0, logits=True).eval()
    x = torch.randn(3, 1, 28, 28)
    assert len(net.arch_parameters()) == 2
    with torch.no_grad():
        for m in net.mixed:
            m.alpha.copy_(torch.tensor([0.4, -0.3]))
        softmax = net(x)  # NAS, DARTS: each layer mixed by the softmax of its own logits
        external = net(x, [torch.softmax(torch.tensor([0.4, -0.3]), 0)] * 2)  # evolution: weights from outside
        assert torch.allclose(softmax, external, atol=1e-6)
        single = net(x, active=[1, 0])  # evolution's warm-up: one path per layer
        for m, j in zip(net.mixed, [1, 0]):
            m.weights, m.active, m.gates = None, [0, 1], torch.eye(2)[j]
        gated = net(x)  # ProxylessNAS: binary gates over the sampled paths
    assert torch.allclose(single, gated, atol=1e-6)
    # the gates carry the gradient ProxylessNAS needs
    for m in net.mixed:
        m.gates = torch.tensor([0.0, 1.0], requires_grad=True)
    net(x).sum().backward()
    assert all(m.gates.grad is not None and m.gates.grad.abs().sum() > 0 for m in net.mixed)


def test_one_cost_function_for_both_algorithms():
    """fixed + the chosen layers' costs is the network's MAdds for every choice, the zero op
    included; the expected MAdds at one-hot weights is that network's MAdds."""
    space = proxylessnas_space("fmnist_small")
    choices = layer_choices(space, include_zero=True)
    assert any(isinstance(b, Skip) for layer in choices for b in layer)
    fixed, costs = fixed_madds(space.backbone), layer_costs(space.backbone, choices)
    for pick in (0, -1):
        chosen = [layer[pick] for layer in choices]
        total = fixed + sum(c[pick] for c in costs)
        assert total == network_cost(space.backbone.fill(chosen)).madds
        one_hot = [torch.nn.functional.one_hot(torch.tensor(len(c) - 1 if pick else 0), len(c)).double()
                   for c in costs]
        assert float(expected_madds(one_hot, [torch.tensor(c, dtype=torch.float64) for c in costs], fixed)) == total
    assert {choice_id(b) for layer in choices for b in layer if isinstance(b, Skip)} == {"zero"}


def test_a_zero_op_path_runs_as_identity():
    space = proxylessnas_space("fmnist_small")
    choices = layer_choices(space, include_zero=True)
    net = Supernet(space.backbone, choices, seed=0, logits=True).eval()
    l, m = next((l, m) for l, m in enumerate(net.mixed) if isinstance(choices[l][-1], Skip))
    h = torch.randn(2, space.backbone.layers[l].cin, 4, 4)
    m.active, m.gates = [len(m.ops) - 1], None
    assert torch.equal(m(h), h)


@pytest.mark.parametrize("logits", [False, True])
def test_parameters_split_into_weights_and_architecture(logits):
    net = Supernet(get_backbone(TWO_LAYERS), [[STRONG, WEAK], [STRONG]], seed=0, logits=logits)
    arch = {id(p) for p in net.arch_parameters()}
    weights = {id(p) for p in net.weight_parameters()}
    assert not arch & weights and arch | weights == {id(p) for p in net.parameters()}
    assert len(arch) == (2 if logits else 0)
