"""Final training from scratch with a recipe, resumable mid-epoch from ``state_dir/last.pt``.

Recipe keys (``train`` section, or a YAML/JSON recipe file) and defaults follow the method doc
(SGD Nesterov, cosine schedule with linear warm-up, label smoothing 0.1); see ``OPTIONS``.
"""

from __future__ import annotations

import copy
import functools
import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from . import distributed as D
from .builder import build_network
from .data import Splits
from .errors import SpecError
from .options import Option, check_step_config, load_mapping, read_options
from .runtime import (load_checkpoint, pick_device, rng_state, save_checkpoint, seed_everything,
                      set_rng_state, write_json, write_text)
from .spec import ArchSpec, load_spec
from .tables import to_csv

OPTIONS = {
    "optimizer": Option("nesterov", str, choices=("sgd", "nesterov", "adamw")),
    "lr": Option(0.05, float, low=0, low_open=True),
    "momentum": Option(0.9, float, low=0, high=1),
    "weight_decay": Option(5e-5, float, low=0),
    "epochs": Option(10, int, low=1),
    "warmup_epochs": Option(1.0, float, low=0),
    "batch_size": Option(128, int, low=1),
    "label_smoothing": Option(0.1, float, low=0, high=0.99),
    "augmentation": Option("crop_flip", str, choices=("crop_flip", "none")),
    "crop_padding": Option(2, int, low=0, high=16),
    "ema_decay": Option(None, float, low=0, high=0.99999, low_open=True, nullable=True),
    "checkpoint_every_steps": Option(0, int, low=0),
    "amp": Option("bf16", str, choices=("bf16", "fp16", "none")),
    "channels_last": Option(True, bool),
    "val_size": Option(0, int, low=0),
}
LOG_FIELDS = ["epoch", "lr", "train_loss", "train_acc", "val_loss", "val_acc"]


@dataclass(frozen=True)
class TrainRecipe:
    """A final-training recipe. ``warmup_epochs`` of linear warm-up, then cosine decay to 0 (both
    per step). ``augmentation`` ``crop_flip``: random crop after ``crop_padding`` pixels of
    background padding, and horizontal flip. ``ema_decay``: keep an exponential moving average
    of the weights and save it as the final model (null: off). ``checkpoint_every_steps``: also
    write the resumable state every that many steps (0: at epoch ends only). ``amp`` and
    ``channels_last`` apply on CUDA only. ``val_size``: images of the train split held out for
    the per-epoch log (0: none)."""

    optimizer: str
    lr: float
    momentum: float
    weight_decay: float
    epochs: int
    warmup_epochs: float
    batch_size: int
    label_smoothing: float
    augmentation: str
    crop_padding: int
    ema_decay: float | None
    checkpoint_every_steps: int
    amp: str
    channels_last: bool
    val_size: int

    @classmethod
    def from_dict(cls, data) -> "TrainRecipe":
        return cls(**read_options(data, "train", OPTIONS))

    @classmethod
    def load(cls, value) -> "TrainRecipe":
        """From a ``train`` mapping or the path of a recipe file (errors then name the file)."""
        if isinstance(value, (str, Path)):
            try:
                return cls.from_dict(load_mapping(value, "train"))
            except SpecError as err:
                raise err.within(source=str(value)) from None
        return cls.from_dict(value)

    def to_dict(self) -> dict:
        return asdict(self)


def lr_factor(step: int, warmup_steps: int, total_steps: int) -> float:
    """Linear warm-up to 1 over ``warmup_steps``, then cosine decay to 0 at ``total_steps``."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))


def augment(x: torch.Tensor, padding: int, gen: torch.Generator, background: float) -> torch.Tensor:
    """Random crop (padding with ``background``) and horizontal flip of a batch, driven by ``gen``."""
    n, _, h, w = x.shape
    if padding:
        padded = F.pad(x, (padding,) * 4, value=background)
        oy = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
        ox = torch.randint(0, 2 * padding + 1, (n,), generator=gen).to(x.device)
        rows = (oy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (ox[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                   torch.arange(x.shape[1], device=x.device)[None, :, None, None], rows, cols]
    flip = (torch.rand(n, generator=gen) < 0.5).to(x.device)[:, None, None, None]
    return torch.where(flip, x.flip(3), x)


def make_optimizer(model: torch.nn.Module, recipe: TrainRecipe) -> torch.optim.Optimizer:
    """SGD / Nesterov SGD / AdamW; no weight decay on BatchNorm parameters and biases."""
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    if recipe.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=recipe.lr)
    return torch.optim.SGD(groups, lr=recipe.lr, momentum=recipe.momentum, nesterov=recipe.optimizer == "nesterov")


def check_arch_data(spec: ArchSpec, splits: Splits, arch_path) -> None:
    for key in ("in_channels", "resolution", "num_classes"):
        if getattr(spec, key) != getattr(splits, key):
            raise SpecError(key, f"does not match the data ({getattr(splits, key)})", getattr(spec, key),
                            source=str(arch_path))


@torch.no_grad()
def accuracy_loss(model, x, y, device, batch_size: int = 500, channels_last: bool = False) -> tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy) of ``model`` in eval mode."""
    model.eval()
    loss, correct = 0.0, 0
    for k in range(0, len(x), batch_size):
        xb = x[k:k + batch_size].to(device)
        xb = xb.contiguous(memory_format=torch.channels_last) if channels_last else xb
        logits = model(xb).float()
        yb = y[k:k + batch_size].to(device)
        loss += F.cross_entropy(logits, yb, reduction="sum").item()
        correct += (logits.argmax(1) == yb).sum().item()
    model.train()
    return loss / len(x), correct / len(x)


def train(config: dict, arch_path, data_dir, out_dir, state_dir, on_step=None) -> None:
    """Train the architecture in ``arch_path`` from scratch on the ``train`` split.

    ``config``: ``seed``, ``device``, ``train`` (a mapping or a recipe file). Writes
    ``out_dir/model.pt`` (``{"arch": spec JSON, "model": state dict}``, EMA weights when EMA is
    on), ``out_dir/log.csv`` (per epoch) and ``out_dir/config.json``. The full training state
    goes to ``state_dir/last.pt`` every ``checkpoint_every_steps`` steps and at each epoch end;
    an existing one is resumed (it must be for the same architecture and recipe).
    ``on_step(epoch, step)`` is called after every step (and after its checkpoint, if any).
    Under ``distributed.processes`` > 1 the training runs on that many processes, each on its
    shard of every (augmented) global batch; rank 0 writes.
    """
    seed = check_step_config(config, ("seed", "device", "train", "distributed"))
    D.Settings.from_config(config)
    recipe = TrainRecipe.load(config.get("train"))
    spec = load_spec(arch_path)
    splits = Splits(data_dir)
    check_arch_data(spec, splits, arch_path)
    device = pick_device(config.get("device", "auto"))
    resolved_device = str(device)
    device = D.device_for(device)
    cuda = device.type == "cuda"
    state_path = Path(state_dir) / "last.pt"
    state = load_checkpoint(state_path) if state_path.exists() else None
    arch_text = spec.dumps()
    if state is not None:
        if state.get("arch") != arch_text:
            raise SpecError("arch", f"the checkpoint is for another architecture than {arch_path}",
                            source=str(state_path))
        saved = state.get("recipe", {})
        for key, value in recipe.to_dict().items():
            if saved.get(key) != value:
                raise SpecError(f"train.{key}", "the checkpoint was written with another value",
                                saved.get(key), source=str(state_path))
    if D.must_launch(config):
        return D.launch(f"{__name__}:train", config, str(arch_path), str(data_dir), str(out_dir), str(state_dir))

    x, y = splits.tensors("train")
    if recipe.val_size >= len(x):
        raise SpecError("train.val_size", f"must be below the {len(x)} training images", recipe.val_size)
    held = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))
    val_idx, train_idx = held[:recipe.val_size].sort().values, held[recipe.val_size:].sort().values
    xv, yv, x, y = x[val_idx], y[val_idx], x[train_idx].to(device), y[train_idx].to(device)

    seed_everything(seed)
    model = D.global_batch_layers(build_network(spec)).to(device)
    channels_last = cuda and recipe.channels_last
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, recipe)
    steps = math.ceil(len(x) / recipe.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, functools.partial(
        lr_factor, warmup_steps=round(recipe.warmup_epochs * steps), total_steps=recipe.epochs * steps))
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(recipe.amp) if cuda else None
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)
    ema = copy.deepcopy(model) if recipe.ema_decay else None
    aug_gen = torch.Generator().manual_seed(seed + 1)
    epoch, start, sums, log = 0, 0, [0.0, 0, 0], []
    order = None
    if state is not None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        scaler.load_state_dict(state["scaler"])
        if ema is not None:
            ema.load_state_dict(state["ema"])
        aug_gen.set_state(state["aug_rng"])
        set_rng_state(state["rng"])
        epoch, start, sums, log = state["epoch"], state["step"], list(state["sums"]), list(state["log"])
        sums = sums if D.is_main() else [0.0, 0, 0]  # the saved sums are over all ranks
        order = state["order"]
        if D.is_main():
            print(f"resumed from step {start} of epoch {epoch + 1} ({state_path})", flush=True)

    def checkpoint(next_epoch: int, next_step: int, sums: list) -> None:
        sums = D.sum_over_ranks(sums)
        if not D.is_main():
            return
        save_checkpoint(state_path, {
            "arch": arch_text, "recipe": recipe.to_dict(), "model": model.state_dict(),
            "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
            "scaler": scaler.state_dict(), "ema": ema.state_dict() if ema is not None else {},
            "rng": rng_state(), "aug_rng": aug_gen.get_state(), "epoch": next_epoch, "step": next_step,
            "sums": sums, "log": log, "order": order})

    from tqdm import tqdm

    model.train()
    for epoch in range(epoch, recipe.epochs):
        if order is None:
            order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed * 100003 + epoch))
        bar = tqdm(total=steps, initial=start, desc=f"epoch {epoch + 1}/{recipe.epochs}", leave=False,
                   disable=not sys.stderr.isatty())
        for step in range(start, steps):
            idx = order[step * recipe.batch_size:(step + 1) * recipe.batch_size].to(device)
            xb, yb = x[idx], y[idx]
            if recipe.augmentation == "crop_flip":
                xb = augment(xb, recipe.crop_padding, aug_gen, splits.background)
            xb, yb = D.shard(xb, yb)
            if channels_last:
                xb = xb.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                logits = model(xb)
                loss = D.loss_sum(logits, yb, label_smoothing=recipe.label_smoothing)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss / len(idx)).backward()
            D.sync_grads(model.parameters())
            scaler.step(optimizer)
            scaler.update()
            scheduler.step()
            if ema is not None:
                with torch.no_grad():
                    for e, w in zip(ema.state_dict().values(), model.state_dict().values()):
                        e.lerp_(w, 1 - recipe.ema_decay) if e.is_floating_point() else e.copy_(w)
            sums = [sums[0] + loss.item(), sums[1] + (logits.argmax(1) == yb).sum().item(), sums[2] + len(yb)]
            bar.update(1)
            if recipe.checkpoint_every_steps and (step + 1) % recipe.checkpoint_every_steps == 0 \
                    and step + 1 < steps:
                checkpoint(epoch, step + 1, sums)
            if on_step is not None:
                on_step(epoch, step + 1)
        bar.close()
        final = ema if ema is not None else model
        val_loss, val_acc = accuracy_loss(final, xv, yv, device, channels_last=channels_last) \
            if recipe.val_size else ("", "")
        loss_sum, correct, seen = D.sum_over_ranks(sums)
        log.append({"epoch": epoch + 1, "lr": optimizer.param_groups[0]["lr"], "train_loss": loss_sum / seen,
                    "train_acc": correct / seen, "val_loss": val_loss, "val_acc": val_acc})
        start, sums, order = 0, [0.0, 0, 0], None
        checkpoint(epoch + 1, 0, sums)
        if D.is_main():
            write_text(Path(out_dir) / "log.csv", to_csv(log, LOG_FIELDS))

    if not D.is_main():
        return
    final = ema if ema is not None else model
    out_dir = Path(out_dir)
    save_checkpoint(out_dir / "model.pt", {"arch": arch_text, "model": {
        k: v.contiguous() for k, v in final.state_dict().items()}})
    write_text(out_dir / "log.csv", to_csv(log, LOG_FIELDS))
    write_json(out_dir / "config.json", {"seed": seed, "device": resolved_device, "arch_path": str(arch_path),
                                         "train": recipe.to_dict()})
