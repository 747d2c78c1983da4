"""The analytic counter against forward hooks on the built module, and against torchvision."""

import random

import pytest
import torch
import torchvision.models as tvm

from autospace.arch.builder import build_cell, build_network
from autospace.arch.cells import random_cell, reference_cell
from autospace.arch.counter import cell_cost, mbconv_cost, network_cost
from autospace.engine.profile import hook_cost
from autospace.arch.spec import MBConv
from autospace.arch.zoo import BUILTIN
from randomspecs import WIDE_SPACE, random_network

# (params, MAdds) pinned at 224x224, 1000 classes; reference: torchvision's models (and
# pytorchcv's proxylessnas_mobile for params), Conv2d + Linear MACs counted with forward hooks.
# MnasNet-A1 and FBNet-C have no torchvision model: their published MAdds (312M, 375M) are the
# reference, within 1%.
PINNED = {
    "mobilenet_v2": (3_504_872, 300_774_272, 300.77e6, 0.005),
    "efficientnet_b0": (5_288_548, 385_814_752, 385.81e6, 0.005),
    "mnasnet_b1": (4_383_312, 314_415_872, 314.42e6, 0.005),
    "proxylessnas_mobile": (4_080_512, 320_427_584, 320e6, 0.005),
    "mnasnet_a1": (3_887_038, 311_579_072, 312e6, 0.01),
    "fbnet_c": (5_570_664, 378_136_224, 375e6, 0.01),
}


@pytest.mark.parametrize("name", sorted(PINNED))
def test_builtin_networks_match_published_counts(name):
    params, madds, published, tolerance = PINNED[name]
    cost = network_cost(BUILTIN[name]())
    assert cost.params == params
    assert cost.madds == madds
    assert abs(cost.madds - published) / published < tolerance
    assert hook_cost(build_network(BUILTIN[name]()), (3, 224, 224)) == cost


@pytest.mark.parametrize("ours,theirs", [("mobilenet_v2", "mobilenet_v2"),
                                         ("efficientnet_b0", "efficientnet_b0"),
                                         ("mnasnet_b1", "mnasnet1_0")])
def test_builtin_networks_equal_torchvision(ours, theirs):
    reference = hook_cost(getattr(tvm, theirs)(), (3, 224, 224))
    built = build_network(BUILTIN[ours]())
    assert network_cost(BUILTIN[ours]()) == reference
    assert hook_cost(built, (3, 224, 224)) == reference
    # same layer structure, not only the same totals
    shapes = lambda m: sorted(tuple(p.shape) for p in m.parameters())  # noqa: E731
    assert shapes(built) == shapes(getattr(tvm, theirs)())


@pytest.mark.parametrize("seed", range(200))
def test_cell_counter_equals_forward_hooks(seed):
    rng = random.Random(seed)
    cell = random_cell(WIDE_SPACE, rng)
    cin, cout = rng.choice([8, 16, 24]), rng.choice([8, 16, 24, 40])
    stride, res = rng.choice([1, 2]), rng.choice([7, 8, 14, 15, 28])
    measured = hook_cost(build_cell(cell, cin, cout, stride), (cin, res, res))
    assert cell_cost(cell, cin, cout, stride, res) == measured


@pytest.mark.parametrize("seed", range(50))
def test_network_counter_equals_forward_hooks(seed):
    spec = random_network(random.Random(seed))
    model = build_network(spec)
    assert network_cost(spec) == hook_cost(model, (spec.in_channels, spec.resolution, spec.resolution))


@pytest.mark.parametrize("stride", [1, 2])
@pytest.mark.parametrize("kernel,expansion,se", [(3, 6, False), (5, 3, True), (7, 6, False)])
def test_reference_cell_is_the_mbconv_block(kernel, expansion, se, stride):
    cell = reference_cell(expansion, kernel, "relu6", "se" if se else "none")
    block = MBConv(expansion, kernel, "relu6", se)
    for cin, cout, res in [(16, 24, 28), (24, 24, 14), (32, 16, 56)]:
        assert cell_cost(cell, cin, cout, stride, res) == mbconv_cost(block, cin, cout, stride, res)


def test_reference_cell_computes_what_mbconv_computes():
    from autospace.arch.builder import MBConvBody, CellBody
    torch.manual_seed(0)
    cell_body = CellBody(reference_cell(6, 5, "relu6", "se"), 16, 24, 2)
    mb_body = MBConvBody(MBConv(6, 5, "relu6", True), 16, 24, 2)
    mb_params = list(mb_body.parameters())
    cell_params = list(cell_body.parameters())
    # identical parameter shapes up to order; copy weights by matching layer order
    assert sorted(p.shape for p in mb_params) == sorted(p.shape for p in cell_params)
    order = ["edges.0_1", "edges.1_2", "se", "edges.2_3"]
    cell_named = dict(cell_body.named_parameters())
    cell_ordered = [cell_named[n] for prefix in order for n in cell_named if n.startswith(prefix)]
    with torch.no_grad():
        for src, dst in zip(mb_params, cell_ordered):
            dst.copy_(src)
    x = torch.randn(2, 16, 20, 20)
    cell_body.eval()
    mb_body.eval()
    torch.testing.assert_close(cell_body(x), mb_body(x))


@pytest.mark.parametrize("in_channels,res", [(1, 28), (3, 32), (3, 64), (1, 224), (3, 224)])
def test_builder_runs_for_every_input_size(in_channels, res):
    spec = BUILTIN["mobilenet_v2"](num_classes=10, in_channels=in_channels, resolution=res, width_mult=0.5)
    model = build_network(spec).eval()
    with torch.no_grad():
        out = model(torch.zeros(2, in_channels, res, res))
    assert out.shape == (2, 10)


def test_width_multiplier_matches_torchvision():
    for mult in (0.5, 1.4):
        spec = BUILTIN["mobilenet_v2"](width_mult=mult)
        assert network_cost(spec) == hook_cost(tvm.mobilenet_v2(width_mult=mult), (3, 224, 224))
