"""Measured counts of a built module: forward hooks on Conv2d and Linear (the reference the
analytic counter is checked against)."""

from __future__ import annotations

import torch
from torch import nn

from ..arch.counter import Cost


def hook_cost(module: nn.Module, input_shape: tuple[int, ...]) -> Cost:
    """Params (``sum(p.numel())``) and MACs of every Conv2d and Linear in one forward pass of a
    single sample of ``input_shape`` (C, H, W)."""
    macs = 0

    def conv_hook(m: nn.Conv2d, _inp, out):
        nonlocal macs
        kh, kw = m.kernel_size
        macs += out[0].numel() * (m.in_channels // m.groups) * kh * kw

    def linear_hook(m: nn.Linear, _inp, out):
        nonlocal macs
        macs += out[0].numel() * m.in_features

    handles = []
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(conv_hook))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(linear_hook))
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            module(torch.zeros(1, *input_shape))
    finally:
        module.train(was_training)
        for h in handles:
            h.remove()
    return Cost(sum(p.numel() for p in module.parameters()), macs)
