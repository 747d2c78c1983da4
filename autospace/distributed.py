"""Data-parallel training on N local processes (one per GPU, or N CPU processes with gloo).

A training step that is configured for ``distributed.processes`` > 1 relaunches itself with
:func:`launch`: torch's elastic launcher (the engine of ``torchrun``) starts N fresh Python
processes (``python -m autospace.distributed``) on this node, each joins one process group and
runs the same step. Every rank is seeded identically, draws the same global batches in the same
order and takes its own contiguous shard (:func:`shard`); losses are sums over the shard divided
by the global batch size, and gradients are summed over the ranks (:func:`sync_grads`), so one
step equals the single-process step on the global batch up to float rounding. BatchNorm layers
become :class:`GlobalBatchNorm2d`, whose batch statistics are over the global batch (as one
process computes them). Only rank 0 writes outputs and checkpoints (:func:`is_main`).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import uuid
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from .options import Option, read_options

OPTIONS = {
    "processes": Option(1, int, low=1),
    "backend": Option("auto", str, choices=("auto", "nccl", "gloo")),
}


@dataclass(frozen=True)
class Settings:
    """``processes``: data-parallel processes of one training step (one per GPU on CUDA);
    ``backend``: ``auto`` (nccl on CUDA, gloo on CPU), ``nccl`` or ``gloo``."""

    processes: int
    backend: str

    @classmethod
    def from_config(cls, config: dict) -> "Settings":
        return cls(**read_options(config.get("distributed"), "distributed", OPTIONS))


def world_size() -> int:
    return dist.get_world_size() if dist.is_initialized() else 1


def rank() -> int:
    return dist.get_rank() if dist.is_initialized() else 0


def is_main() -> bool:
    return rank() == 0


def must_launch(config: dict) -> bool:
    """Whether a step called with ``config`` must start its worker processes first."""
    return Settings.from_config(config).processes > 1 and not dist.is_initialized()


def device_for(device: torch.device) -> torch.device:
    """On CUDA, rank r of a node uses GPU ``LOCAL_RANK``; otherwise ``device`` as it is."""
    if device.type == "cuda" and dist.is_initialized():
        index = int(os.environ.get("LOCAL_RANK", 0))
        torch.cuda.set_device(index)
        return torch.device("cuda", index)
    return device


def shard(*tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """This rank's contiguous part of each global-batch tensor (ranks in order give the batch)."""
    n, r = world_size(), rank()
    return tuple(t.tensor_split(n)[r] for t in tensors) if n > 1 else tensors


def sync_grads(params) -> None:
    """Sum the gradients of ``params`` over the ranks (one flat all-reduce). Every rank runs the
    same paths, so the same parameters have a gradient everywhere."""
    if world_size() == 1:
        return
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def sum_over_ranks(values: list[float]) -> list[float]:
    """Element-wise sum of a list of numbers over the ranks (float64)."""
    if world_size() == 1:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64,
                     device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return t.tolist()


@dataclass(frozen=True)
class Compute:
    """Device, and on CUDA bf16 autocast (``amp``) and channels-last inputs."""

    device: torch.device
    amp: str = "none"

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        if self.cuda and self.amp == "bf16":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def inputs(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """This rank's shard of a global batch on the device, and the global batch size."""
        n = y.shape[0]
        x, y = shard(x, y)
        x, y = x.to(self.device), y.to(self.device)
        if self.cuda:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y, n


def loss_sum(logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
    """Cross-entropy summed over this rank's shard (divide by the global batch size)."""
    return nn.functional.cross_entropy(logits.float(), labels, reduction="sum", **kwargs)


class _SumOverRanks(torch.autograd.Function):
    """All-reduce (sum) whose gradient is the all-reduced gradient."""

    @staticmethod
    def forward(ctx, t: torch.Tensor) -> torch.Tensor:
        t = t.clone()
        dist.all_reduce(t)
        return t

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm whose training statistics are over the global batch of all ranks (two-pass mean
    and variance in float64, differentiable all-reduces); with one process or in eval mode it is
    ``nn.BatchNorm2d`` itself. Same parameters and buffers, so checkpoints do not change."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and world_size() > 1):
            return super().forward(x)
        count = torch.tensor([float(x.shape[0] * x.shape[2] * x.shape[3])], dtype=torch.float64,
                             device=x.device)
        dist.all_reduce(count)
        n = count.item()
        wide = x.double()  # statistics accumulated in float64, as torch's CPU BatchNorm does
        mean = _SumOverRanks.apply(wide.sum((0, 2, 3))) / n
        centred = wide - mean[None, :, None, None]
        var = _SumOverRanks.apply(centred.square().sum((0, 2, 3))) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = 1.0 / self.num_batches_tracked.item() if self.momentum is None else self.momentum
                self.running_mean.mul_(1 - m).add_(mean.detach().to(x.dtype), alpha=m)
                self.running_var.mul_(1 - m).add_((var.detach() * (n / max(1.0, n - 1))).to(x.dtype), alpha=m)
        y = (centred * torch.rsqrt(var + self.eps)[None, :, None, None]).to(x.dtype)
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


class GlobalDropout(nn.Dropout):
    """Dropout whose mask is drawn for the global batch (every rank draws the same, as one
    process would) and cut to this rank's shard; on the CPU the masks are those of one process
    bit for bit. With one process or in eval mode it is ``nn.Dropout`` itself."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and self.p > 0 and world_size() > 1):
            return super().forward(x)
        sizes = torch.tensor([0] * world_size(), device=x.device)
        sizes[rank()] = x.shape[0]
        dist.all_reduce(sizes)
        offset = int(sizes[:rank()].sum())
        noise = torch.empty((int(sizes.sum()), *x.shape[1:]), dtype=x.dtype, device=x.device)
        noise.bernoulli_(1 - self.p).div_(1 - self.p)
        return x * noise[offset:offset + x.shape[0]]


def global_batch_layers(model: nn.Module) -> nn.Module:
    """Under several processes, turn every ``nn.BatchNorm2d`` of ``model`` into a
    :class:`GlobalBatchNorm2d` and every ``nn.Dropout`` into a :class:`GlobalDropout`, in place
    (same parameters and buffers); one process keeps its modules untouched."""
    if world_size() > 1:
        for module in model.modules():
            if type(module) is nn.BatchNorm2d:
                module.__class__ = GlobalBatchNorm2d
            elif type(module) is nn.Dropout:
                module.__class__ = GlobalDropout
    return model


def barrier() -> None:
    if world_size() > 1:
        dist.barrier()


def launch(target: str, config: dict, *args) -> None:
    """Run ``target`` (``module:function``) as ``function(config, *args)`` in
    ``distributed.processes`` local processes under torch's elastic launcher, and wait for all.
    ``args`` must be JSON values (paths as strings). A failing rank fails the launch."""
    from torch.distributed.launcher.api import LaunchConfig, elastic_launch

    settings = Settings.from_config(config)
    backend = settings.backend
    if backend == "auto":
        backend = "nccl" if torch.cuda.is_available() and config.get("device", "auto") != "cpu" else "gloo"
    root = str(Path(__file__).resolve().parent.parent)  # the workers import this very package
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="autospace-dist-") as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"target": target, "config": config, "args": [str(a) if isinstance(a, Path)
                                                                                   else a for a in args],
                                   "backend": backend, "threads": torch.get_num_threads()}))
        launch_config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=settings.processes,
                                     run_id=f"autospace-{uuid.uuid4().hex[:12]}", rdzv_backend="c10d",
                                     rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5)
        elastic_launch(launch_config, sys.executable)("-m", "autospace.distributed", str(job))


def _worker(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    torch.set_num_threads(max(1, job["threads"] // int(os.environ["WORLD_SIZE"])))
    dist.init_process_group(job["backend"])
    try:
        module, name = job["target"].split(":")
        getattr(import_module(module), name)(job["config"], *job["args"])
        barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _worker(sys.argv[1])
