"""Evaluation of a trained network on the test split: top-1, top-5, params, MAdds, CPU latency."""

from __future__ import annotations

import statistics
import time

import torch

from ..arch.builder import build_network
from ..arch.counter import network_cost
from ..arch.spec import load_spec
from ..data.datasets import Splits
from ..data.loader import GlobalBatches, make_loader
from ..errors import SpecError
from ..files import write_json
from ..options import read_options
from ..runtime import load_checkpoint
from ..sections import EVALUATE, Settings
from .profile import hook_cost


def cpu_latency_ms(model: torch.nn.Module, input_shape: tuple[int, ...], warmup: int, repeats: int) -> float:
    """Median wall time (ms) of one forward pass at batch 1 on the CPU, in eval mode."""
    model = model.cpu().eval()
    x = torch.zeros(1, *input_shape)
    times = []
    with torch.no_grad():
        for k in range(warmup + repeats):
            start = time.perf_counter()
            model(x)
            if k >= warmup:
                times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


@torch.no_grad()
def topk_accuracy(model: torch.nn.Module, loader) -> tuple[float, float, int]:
    """(top-1, top-5, images) of ``model`` in eval mode over one pass of ``loader``."""
    model.eval()
    top1 = top5 = seen = 0
    for x, y in loader:
        logits = model(x)
        best = logits.topk(min(5, logits.shape[1]), 1).indices
        yb = y[:, None]
        top1 += (best[:, :1] == yb).any(1).sum().item()
        top5 += (best == yb).any(1).sum().item()
        seen += len(y)
    return top1 / seen, top5 / seen, seen


def evaluate(arch_path, model_path, data_dir, out_path, config: dict | None = None,
             labels: dict | None = None) -> dict:
    """The test set is streamed (decoded by loader workers for an image folder, torch's threads
    less one). Write (and return) ``{"top1", "top5", "params", "madds", "latency_ms", "test_images", ...}``
    for the weights in ``model_path`` (from :func:`autospace.engine.train.train`) of the architecture in
    ``arch_path``. ``config``: ``batch_size``, ``latency_warmup``, ``latency_repeats``. MAdds are
    analytic and checked against the forward-hook count of the built module. ``labels`` (e.g.
    space, algorithm, seed) are written into the result as given."""
    opts = read_options(config, "evaluate", EVALUATE)
    spec = load_spec(arch_path)
    splits = Splits(data_dir)
    splits.check_fits(spec, source=str(arch_path))
    state = load_checkpoint(model_path)
    if state.get("arch") != spec.dumps():
        raise SpecError("arch", f"the weights are for another architecture than {arch_path}", source=str(model_path))
    model = build_network(spec)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as err:
        raise SpecError("model", f"weights do not fit the architecture ({err.__class__.__name__})",
                        source=str(model_path)) from None
    shape = (spec.in_channels, spec.resolution, spec.resolution)
    cost = network_cost(spec)
    measured = hook_cost(model, shape)
    assert measured == cost, f"analytic {cost} != measured {measured}"
    test = splits.dataset("test", "none")
    workers = Settings.from_config({}).workers(splits.in_memory, torch.get_num_threads())  # the "auto" rule
    top1, top5, images = topk_accuracy(model, make_loader(test, GlobalBatches(len(test), opts["batch_size"], 0,
                                                                              shuffle=False), workers))
    result = {"arch": str(arch_path), "model": str(model_path), "top1": top1, "top5": top5,
              "params": cost.params, "madds": cost.madds, "test_images": images,
              "latency_ms": cpu_latency_ms(model, shape, opts["latency_warmup"], opts["latency_repeats"]),
              "latency_threads": torch.get_num_threads(), **opts, **(labels or {})}
    write_json(out_path, result)
    return result
