"""Final training from scratch with a recipe, on the one engine (:mod:`autospace.engine.loop`),
resumable mid-epoch from ``state_dir/last.pt``.

Recipe keys (``train`` section, or a YAML/JSON recipe file) and defaults follow the method doc
(SGD Nesterov, cosine schedule with linear warm-up, label smoothing 0.1); see :data:`autospace.sections.TRAIN`.
"""

from __future__ import annotations

import copy
import functools
import math
from pathlib import Path

import torch

from ..arch.builder import build_network
from ..arch.spec import load_spec
from ..data.datasets import Splits
from ..data.loader import GlobalBatches, make_loader
from ..errors import SpecError
from ..files import to_csv, write_json, write_text
from ..options import check_step_config
from ..outputs import DATASET, LOG, MODEL, RESOLVED, SPLIT
from ..runtime import pick_device, save_checkpoint, seed_everything
from ..sections import TrainRecipe
from . import distributed as D
from .loop import Compute, Loop, Rows, StateFile, check_finite, evaluate, fingerprint, loss_sum, run

LOG_FIELDS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc"]


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up to 1 over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))


def make_optimizer(model: torch.nn.Module, recipe: TrainRecipe) -> torch.optim.Optimizer:
    """SGD / Nesterov SGD / AdamW; no weight decay on BatchNorm parameters and biases."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr)
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.optimizer == "nesterov")


def train(config: dict, arch_path, data_dir, out_dir, state_dir, on_step=None) -> None:
    """Train the architecture in ``arch_path`` from scratch on the ``train`` split.

    ``config``: ``seed``, ``device``, ``train`` (a mapping or a recipe file), ``distributed``.
    Writes ``out_dir/model.pt`` (``{"arch": spec JSON, "model": state dict}``, EMA weights when
    EMA is on), ``out_dir/log.csv`` (per epoch) and ``out_dir/config.json``. The full training
    state goes to ``state_dir/last.pt`` every ``checkpoint_every_steps`` steps and at each epoch
    end, and is resumed when it was written for the same architecture, data and recipe
    (otherwise discarded); it is removed once the outputs are written. ``on_step(epoch, step)``
    is called after every step (and its checkpoint). Under ``distributed.processes`` > 1 the
    network is wrapped in ``DistributedDataParallel`` on that many processes, each training on
    its shard of every global batch; rank 0 writes.
    """
    seed = check_step_config(config, ("seed", "device", "train", "distributed"))
    settings = D.Settings.from_config(config)
    recipe = TrainRecipe.load(config.get("train"))
    spec = load_spec(arch_path)
    splits = Splits(data_dir)
    splits.check_fits(spec, source=str(arch_path))
    if recipe.augmentation == "random_resized_crop" and splits.in_memory:
        raise SpecError("train.augmentation", "random_resized_crop needs an image folder (data.dataset: "
                        "imagefolder); use crop_flip for in-memory images", recipe.augmentation)
    n_train = splits.size("train")
    if recipe.val_size >= n_train:
        raise SpecError("train.val_size", f"must be below the {n_train} training images", recipe.val_size)
    device = pick_device(config.get("device", "auto"))
    resolved_device = str(device)
    arch_text = spec.dumps()
    state = StateFile(Path(state_dir) / "last.pt", fingerprint(
        {"arch": arch_text, "recipe": {k: v for k, v in recipe.to_dict().items()
                                        if k not in ("checkpoint_every_steps", "log_every_steps")},
         "seed": seed, "processes": settings.processes},
        [Path(data_dir) / f for f in (SPLIT, DATASET)]))
    if D.must_launch(config):
        return D.launch(f"{__name__}:train", config, str(arch_path), str(data_dir), str(out_dir), str(state_dir))

    device = D.device_for(device)
    cuda = device.type == "cuda"
    compute = Compute(device, recipe.amp if recipe.amp == "bf16" else "none", recipe.channels_last)
    held = torch.randperm(n_train, generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = held[:recipe.val_size].sort().values, held[recipe.val_size:].sort().values
    train_set = splits.dataset("train", recipe.augmentation, padding=recipe.crop_padding,
                               randaugment=recipe.randaugment, color_jitter=recipe.color_jitter,
                               indices=train_idx.tolist(), decode=settings.jpeg_decode)
    workers = settings.workers(splits.in_memory, torch.get_num_threads())
    batches = GlobalBatches(len(train_set), recipe.batch_size, seed, rank=D.rank(), world=D.world_size())
    loader = make_loader(train_set, batches, workers, pin_memory=cuda)
    if recipe.val_size:
        val_batches = GlobalBatches(recipe.val_size, 500, seed, shuffle=False, rank=D.rank(), world=D.world_size())
        val_loader = make_loader(splits.dataset("train", "none", indices=val_idx.tolist(),
                                                 decode=settings.jpeg_decode), val_batches, workers,
                                 pin_memory=cuda)

    seed_everything(seed)
    net = compute.prepare(build_network(spec))
    model = torch.nn.parallel.DistributedDataParallel(net, broadcast_buffers=False, gradient_as_bucket_view=True) \
        if D.world_size() > 1 else net
    optimizer = make_optimizer(net, recipe)
    steps = len(batches)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(
        lr_factor, warmup_steps=round(recipe.warmup_epochs * steps), total_steps=recipe.epochs * steps))
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(recipe.amp) if cuda else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    ema = copy.deepcopy(net) if recipe.ema_decay else None
    log = Rows()
    modules = {"model": net, "optimizer": optimizer, "scheduler": scheduler, "scaler": scaler, "log": log}
    if ema is not None:
        modules["ema"] = ema
    final = ema if ema is not None else net

    def step(gstep: int, x: torch.Tensor, y: torch.Tensor, n: int):
        with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
            logits = model(x)
            loss = loss_sum(logits, y, label_smoothing=recipe.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        # a sum over the shard / the global batch; DDP averages over the ranks, hence x world
        scaler.scale(loss * (D.world_size() / n)).backward()
        scaler.step(optimizer)
        scaler.update()
        scheduler.step()
        if ema is not None:
            with torch.no_grad():
                for e, w in zip(ema.state_dict().values(), net.state_dict().values()):
                    e.lerp_(w, 1 - recipe.ema_decay) if e.is_floating_point() else e.copy_(w)
        return logits, y, loss

    def end_of_epoch(epoch: int, running) -> None:
        sums = running.total()
        running.reset()
        final.eval()
        val = evaluate(final, val_loader, val_batches, compute) if recipe.val_size else None
        final.train()
        log.rows.append({"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"],
                         "train_loss": sums[0] / sums[2], "train_acc": sums[1] / sums[2],
                         "val_loss": val["loss"] if val else "", "val_acc": val["accuracy"] if val else ""})
        if D.is_main():
            write_text(Path(out_dir) / LOG, to_csv(log.rows, LOG_FIELDS))

    loop = Loop("train", loader, batches, recipe.epochs, compute, state, modules, recipe.checkpoint_every_steps,
                recipe.log_every_steps, epoch_checkpoints=True, on_epoch_end=end_of_epoch, on_step=on_step,
                lr_key="train.lr")
    net.train()
    run(loop, step)
    check_finite(final, "train", "train.lr")
    if not D.is_main():
        return
    out_dir = Path(out_dir)
    save_checkpoint(out_dir / MODEL, {"arch": arch_text, "model": {
        k: v.contiguous() for k, v in final.state_dict().items()}})
    write_text(out_dir / LOG, to_csv(log.rows, LOG_FIELDS))
    write_json(out_dir / RESOLVED, {"seed": seed, "device": resolved_device, "arch_path": str(arch_path),
                                         "train": recipe.to_dict()})
    state.remove()
