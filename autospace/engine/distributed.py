"""Data-parallel training on N local processes (one per GPU, or N CPU processes with gloo).

A training step that is configured for ``distributed.processes`` > 1 relaunches itself with
:func:`launch`: torch's elastic launcher (the engine of ``torchrun``) starts N fresh Python
processes (``python -m autospace.engine.distributed``) on this node, each joins one process group and
runs the same step. Every rank is seeded identically, draws the same global batches in the same
order and takes its own contiguous shard (the sampler of :mod:`autospace.data.loader`); losses are
sums over the shard divided by the global batch size. Final training wraps its fixed network in
``DistributedDataParallel`` (gradients all-reduced in buckets while backward runs); the
supernets, whose active paths change from step to step, all-reduce their weight and
architecture gradients in one flat collective per update (:func:`sync_grads`). So one step
equals the single-process step on the global batch up to float rounding. BatchNorm statistics
are over the global batch: torch's ``SyncBatchNorm`` on CUDA, :class:`GlobalBatchNorm2d` on the
CPU (gloo; ``SyncBatchNorm`` is GPU-only), neither with a host sync. Only rank 0 writes outputs
and checkpoints (:func:`is_main`).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import uuid
from importlib import import_module
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

from ..errors import SpecError
from ..sections import Settings


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
    and variance in float64, differentiable all-reduces, no host sync); with one process or in
    eval mode it is ``nn.BatchNorm2d`` itself. Same parameters and buffers, so checkpoints do
    not change. Used on the CPU, where torch's ``SyncBatchNorm`` does not run."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and world_size() > 1):
            return super().forward(x)
        count = torch.tensor([float(x.shape[0] * x.shape[2] * x.shape[3])], dtype=torch.float64,
                             device=x.device)
        dist.all_reduce(count)
        wide = x.double()  # statistics accumulated in float64, as torch's CPU BatchNorm does
        mean = _SumOverRanks.apply(wide.sum((0, 2, 3))) / count
        centred = wide - mean[None, :, None, None]
        var = _SumOverRanks.apply(centred.square().sum((0, 2, 3))) / count
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = (1.0 / self.num_batches_tracked.double()) if self.momentum is None else self.momentum
                unbiased = var.detach() * (count / (count - 1).clamp(min=1.0))
                self.running_mean.mul_(1 - m).add_(mean.detach().to(x.dtype) * m)
                self.running_var.mul_(1 - m).add_(unbiased.to(x.dtype) * m)
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


def global_batch_layers(model: nn.Module, cuda: bool = False) -> nn.Module:
    """Under several processes, make the batch statistics of ``model`` global: every
    ``nn.BatchNorm2d`` becomes torch's ``SyncBatchNorm`` on CUDA or a :class:`GlobalBatchNorm2d`
    on the CPU, every ``nn.Dropout`` a :class:`GlobalDropout` (same parameters and buffers); one
    process keeps its modules untouched."""
    if world_size() == 1:
        return model
    for module in model.modules():
        if type(module) is nn.Dropout:
            module.__class__ = GlobalDropout
        elif type(module) is nn.BatchNorm2d and not cuda:
            module.__class__ = GlobalBatchNorm2d
    return nn.SyncBatchNorm.convert_sync_batchnorm(model) if cuda else model


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
    elif backend == "nccl" and (not torch.cuda.is_available() or config.get("device", "auto") == "cpu"):
        raise SpecError("distributed.backend", "nccl needs CUDA devices, and this job runs on the CPU "
                        f"(device {config.get('device', 'auto')}, CUDA available: {torch.cuda.is_available()}):"
                        " use auto or gloo", backend)
    root = str(Path(__file__).resolve().parents[2])  # the workers import this very package
    os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)
    with tempfile.TemporaryDirectory(prefix="autospace-dist-") as tmp:
        job = Path(tmp) / "job.json"
        job.write_text(json.dumps({"target": target, "config": config, "args": [str(a) if isinstance(a, Path)
                                                                                   else a for a in args],
                                   "backend": backend, "threads": torch.get_num_threads()}))
        launch_config = LaunchConfig(min_nodes=1, max_nodes=1, nproc_per_node=settings.processes,
                                     run_id=f"autospace-{uuid.uuid4().hex[:12]}", rdzv_backend="c10d",
                                     rdzv_endpoint="localhost:0", max_restarts=0, monitor_interval=0.5)
        elastic_launch(launch_config, sys.executable)("-m", "autospace.engine.distributed", str(job))


def _worker(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    torch.set_num_threads(max(1, job["threads"] // int(os.environ["WORLD_SIZE"])))
    dist.init_process_group(job["backend"])
    from ..runtime import progress_to_stderr

    try:
        module, name = job["target"].split(":")
        with progress_to_stderr():
            getattr(import_module(module), name)(job["config"], *job["args"])
        barrier()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    _worker(sys.argv[1])
