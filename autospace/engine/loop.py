"""The one training loop of every stage: warm-up, each generation, NAS and final training.

A stage builds its model, optimizers and datasets, then hands :func:`run` a *step function*
``step(batch) -> (logits, labels, loss_sum)`` that does the algorithm's update (evolution's
alpha/weight alternation, ProxylessNAS' binarised paths, a plain SGD step). The loop owns
everything else, once:

- the seeded, resumable batch order (:class:`autospace.data.loader.GlobalBatches` through a
  ``DataLoader`` with workers), sharded across ranks;
- moving batches to the device (pinned, non-blocking), channels-last inputs (every device) and bf16 autocast on
  CUDA (:class:`Compute`);
- the full training state, saved every ``checkpoint_every`` steps (and at epoch ends where the
  stage asks) to one state file whose *fingerprint* (config and input bytes) must match to be
  resumed -- otherwise it is discarded with a log line -- and removed when the stage succeeds
  (:class:`StateFile`);
- running loss and accuracy kept on the device (no host sync per step), summed over ranks;
- progress: every ``log_every`` steps one line (stage, epoch/step, loss, accuracy, images/s,
  ETA) through Python ``logging`` to the job's log; a tqdm bar only on a TTY.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..errors import SpecError
from ..files import file_digest
from ..runtime import load_checkpoint, rng_state, save_checkpoint, set_rng_state
from . import distributed as D

log = logging.getLogger("autospace")


@dataclass(frozen=True)
class Compute:
    """Device, channels-last model and inputs (every device: on CPU too, where depthwise
    convolutions run 2-3x faster in NHWC), and on CUDA bf16 autocast (``amp``)."""

    device: torch.device
    amp: str = "none"
    channels_last: bool = True

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def autocast(self):
        if self.cuda and self.amp == "bf16":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` for this process: global-batch BatchNorm/Dropout under several processes
        (:func:`autospace.engine.distributed.global_batch_layers`), on the device, channels-last when ``channels_last``."""
        model = D.global_batch_layers(model, cuda=self.cuda).to(self.device)
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    def inputs(self, x, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """A batch on the device; still-encoded images (:class:`autospace.data.loader.EncodedBatch`)
        are decoded there."""
        x = x.decode(self.device) if hasattr(x, "decode") else x.to(self.device, non_blocking=True)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(self.device, non_blocking=True)


def loss_sum(logits: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
    """Cross-entropy summed over this rank's shard (divide by the global batch size)."""
    return torch.nn.functional.cross_entropy(logits.float(), labels, reduction="sum", **kwargs)


class Running:
    """Sums of loss, correct predictions and images, kept on the device (read at log time)."""

    def __init__(self, device: torch.device, sums=(0.0, 0, 0)):
        self.sums = torch.tensor([float(v) for v in sums], dtype=torch.float64, device=device)
        #: how many times :meth:`reset` ran (the progress lines difference the sums between resets)
        self.resets = 0

    def reset(self) -> None:
        """Start the sums again from zero (e.g. per epoch)."""
        self.sums.zero_()
        self.resets += 1

    def add(self, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor) -> None:
        with torch.no_grad():
            correct = (logits.detach().argmax(1) == labels).sum()
            self.sums += torch.stack([loss.detach().double(), correct.double(),
                                      torch.tensor(labels.shape[0], dtype=torch.float64, device=labels.device)])

    def local(self) -> list[float]:
        return self.sums.tolist()

    def total(self) -> list[float]:
        """The sums over every rank."""
        return D.sum_over_ranks(self.local())

    def result(self) -> dict:
        loss, correct, seen = self.total()
        return {"loss": loss / max(1, seen), "accuracy": correct / max(1, seen), "images": int(seen)}


def fingerprint(values, files) -> str:
    """SHA-256 of ``values`` (canonical JSON) and the bytes of ``files``: what a state file must
    have been written for to be resumed."""
    h = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode())
    for path in files:
        h.update(file_digest(path).encode())
    return h.hexdigest()


class StateFile:
    """The resumable state of one stage: ``path``, valid only for ``fingerprint``."""

    def __init__(self, path: str | Path | None, fingerprint: str):
        self.path = None if path is None else Path(path)
        self.fingerprint = fingerprint

    def load(self) -> dict | None:
        """The saved state if it was written for this fingerprint; otherwise ``None`` (a state
        of other work is discarded, with a log line)."""
        if self.path is None or not self.path.exists():
            return None
        try:
            state = load_checkpoint(self.path)
        except SpecError as err:
            state, why = None, str(err)
        else:
            why = "it was written for another config or input"
        if state is None or state.get("fingerprint") != self.fingerprint:
            if D.is_main():
                print(f"discarding the saved state {self.path}: {why}", flush=True)
            return None
        return state

    def save(self, state: dict) -> None:
        if self.path is not None and D.is_main():
            save_checkpoint(self.path, {"fingerprint": self.fingerprint, **state})

    def remove(self) -> None:
        if self.path is not None and D.is_main():
            self.path.unlink(missing_ok=True)


def _state_of(obj):
    if isinstance(obj, list):  # a list of tensors (architecture parameters)
        return [t.detach().cpu().clone() for t in obj]
    if isinstance(obj, torch.nn.parallel.DistributedDataParallel):
        obj = obj.module
    return obj.state_dict()


def _load_into(obj, saved) -> None:
    if isinstance(obj, list):
        with torch.no_grad():
            for t, s in zip(obj, saved):
                t.copy_(s)
        return
    if isinstance(obj, torch.nn.parallel.DistributedDataParallel):
        obj = obj.module
    obj.load_state_dict(saved)


class Rows:
    """A list of plain records (a training log) that is part of the resumable state."""

    def __init__(self):
        self.rows: list = []

    def state_dict(self) -> dict:
        return {"rows": list(self.rows)}

    def load_state_dict(self, state: dict) -> None:
        self.rows = list(state["rows"])


@dataclass
class Progress:
    """One log line every ``every`` steps; a tqdm bar when stderr is a terminal."""

    stage: str
    total: int
    every: int
    done: int = 0
    _first: int = 0
    _t0: float = field(default_factory=time.perf_counter)
    _images: float = 0.0
    _last: list = field(default_factory=lambda: [0.0, 0.0, 0.0])
    _resets: int = 0
    _bar: object = None

    def start(self, done: int) -> None:
        self.done, self._first, self._t0 = done, done, time.perf_counter()
        if D.is_main() and sys.stderr.isatty():
            from tqdm import tqdm

            self._bar = tqdm(total=self.total, initial=done, desc=self.stage, leave=False)

    def step(self, epoch: int, epochs: int, step: int, steps: int, stats: Running, images: int) -> bool:
        """Count one step; log a line when one is due (returns whether it was)."""
        self.done += 1
        self._images += images
        if self._bar is not None:
            self._bar.update(1)
        if not (self.every and (self.done % self.every == 0 or self.done == self.total)):
            return False
        if not D.is_main():
            return True
        sums = stats.local()
        if stats.resets != self._resets:  # the sums started again since the last line
            self._last, self._resets = [0.0, 0.0, 0.0], stats.resets
        loss, correct, seen = (a - b for a, b in zip(sums, self._last))
        self._last = sums
        elapsed = time.perf_counter() - self._t0
        rate = self._images * D.world_size() / max(elapsed, 1e-9)
        left = (self.total - self.done) * elapsed / max(1, self.done - self._first)
        log.info("%s epoch %d/%d step %d/%d loss %.4f acc %.4f %.1f img/s ETA %s", self.stage, epoch + 1, epochs,
                 step + 1, steps, loss / max(1, seen), correct / max(1, seen), rate, _clock(left))
        return True

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


def _clock(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class Loop:
    """What :func:`run` needs besides the step function.

    ``loader``/``batches``: the training part's DataLoader and its batch sampler; ``epochs``;
    ``state``: the state file; ``modules``: name -> object whose state is saved and resumed
    (modules, optimizers, schedulers, :class:`Rows`, lists of tensors); ``checkpoint_every``:
    steps between state saves (0: none); ``epoch_checkpoints``: also save at each epoch end;
    ``on_epoch_end(epoch)``: called after each epoch (e.g. a log row); ``on_step(epoch, step)``:
    called after each step and its checkpoint (tests use it to kill a run)."""

    stage: str
    loader: torch.utils.data.DataLoader
    batches: object
    epochs: int
    compute: Compute
    state: StateFile
    modules: dict
    checkpoint_every: int = 0
    log_every: int = 0
    epoch_checkpoints: bool = False
    on_epoch_end: Callable[[int, Running], None] | None = None
    on_step: Callable[[int, int], None] | None = None
    lr_key: str = "lr"


def resume(loop: Loop) -> tuple[int, int, Running]:
    """Load ``loop.state`` into the modules and the RNG if it is this work's; returns (epoch,
    step within the epoch, running sums) to start from."""
    saved = loop.state.load()
    if saved is None:
        return 0, 0, Running(loop.compute.device)
    for name, obj in loop.modules.items():
        _load_into(obj, saved[name])
    set_rng_state(saved["rng"])
    epoch, step = int(saved["epoch"]), int(saved["step"])
    if D.is_main():
        where = f"step {step} of epoch {epoch + 1}" if loop.epoch_checkpoints else \
            f"step {epoch * len(loop.batches) + step}"
        print(f"resumed from {where} ({loop.state.path})", flush=True)
    # the saved sums are over all ranks: rank 0 carries them on
    return epoch, step, Running(loop.compute.device, saved["stats"] if D.is_main() else (0.0, 0, 0))


def run(loop: Loop, step_fn: Callable[[int, torch.Tensor, torch.Tensor, int], tuple]) -> Running:
    """Train: for every remaining step of every epoch, draw this rank's shard of the global
    batch, move it to the device and call ``step_fn(global_step, x, y, n)`` (``n``: the global
    batch size), which returns ``(logits, labels, loss_sum)`` for the running statistics.
    Returns the running sums (:meth:`Running.result` sums them over the ranks)."""
    epoch0, step0, stats = resume(loop)
    per_epoch = len(loop.batches)
    total = loop.epochs * per_epoch
    progress = Progress(loop.stage, total, loop.log_every)
    progress.start(epoch0 * per_epoch + step0)

    def save(epoch: int, step: int) -> None:
        sums = stats.total()
        if D.is_main():
            loop.state.save({"epoch": epoch, "step": step, "stats": sums, "rng": rng_state(),
                             **{name: _state_of(obj) for name, obj in loop.modules.items()}})

    for epoch in range(epoch0, loop.epochs):
        start = step0 if epoch == epoch0 else 0
        loop.batches.set_position(epoch, start)
        for step, (x, y) in enumerate(loop.loader, start):
            gstep = epoch * per_epoch + step
            n = loop.batches.global_size(step)
            x, y = loop.compute.inputs(x, y)
            logits, labels, loss = step_fn(gstep, x, y, n)
            stats.add(logits, labels, loss)
            if progress.step(epoch, loop.epochs, step, per_epoch, stats, labels.shape[0]):
                check_loss(stats, loop, gstep)
            if loop.checkpoint_every and (gstep + 1) % loop.checkpoint_every == 0 and gstep + 1 < total \
                    and step + 1 < per_epoch:
                save(epoch, step + 1)
            if loop.on_step is not None:
                loop.on_step(epoch, step + 1)
        check_loss(stats, loop, (epoch + 1) * per_epoch - 1)
        if loop.on_epoch_end is not None:
            loop.on_epoch_end(epoch, stats)
        if epoch + 1 < loop.epochs and (loop.epoch_checkpoints or
                                        (loop.checkpoint_every and (epoch + 1) * per_epoch % loop.checkpoint_every == 0)):
            save(epoch + 1, 0)
    progress.close()
    return stats


def check_loss(stats: Running, loop: Loop, gstep: int) -> None:
    """Stop a diverged run: a non-finite running loss ends the stage with one line naming the
    stage, the step and the key most likely at fault (the learning rate). Every rank checks its
    own sums, so all stop together only if all diverged; a NaN spreads to every rank through the
    all-reduced gradients within a step."""
    if not bool(torch.isfinite(stats.sums).all()):
        raise SpecError(loop.lr_key, f"{loop.stage} diverged: the training loss is not finite at step {gstep + 1} "
                        "(lower the learning rate)")


def check_finite(model: torch.nn.Module, stage: str, key: str) -> None:
    """Raise (naming ``stage`` and ``key``) if any parameter or buffer of ``model`` is not finite."""
    for name, t in model.state_dict().items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise SpecError(key, f"{stage} diverged: {name} holds non-finite values (lower the learning rate)")


class Stream:
    """Batches of a second part drawn alongside training (search-val for the architecture and
    mixing weights): draw d is global batch d of its :class:`~autospace.data.loader.GlobalBatches`
    in cycle order (counting on through its epochs), through a DataLoader of its own. Draws
    are asked for by number, so a resumed run draws what an uninterrupted one would."""

    def __init__(self, dataset, batches, workers: int, pin_memory: bool):
        self.dataset, self.batches, self.workers, self.pin_memory = dataset, batches, workers, pin_memory
        self._next, self._it = None, None

    def get(self, draw: int, compute: Compute) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Draw ``draw`` on the device: (x, y, global batch size)."""
        from ..data.loader import Cycle, make_loader

        if draw != self._next:  # the first draw, or after a jump: start the loader there
            self._it = iter(make_loader(self.dataset, Cycle(self.batches, draw), self.workers, self.pin_memory))
        x, y = next(self._it)
        self._next = draw + 1
        return (*compute.inputs(x, y), self.batches.global_size(draw % len(self.batches)))


@torch.no_grad()
def evaluate(forward: Callable[[torch.Tensor], torch.Tensor], loader, batches, compute: Compute) -> dict:
    """Mean loss and top-1 accuracy of ``forward`` over one ordered pass of ``loader`` (each
    rank its shard of every batch), summed over the ranks."""
    stats = Running(compute.device)
    batches.set_position(0, 0)
    for x, y in loader:
        x, y = compute.inputs(x, y)
        with compute.autocast():
            logits = forward(x)
        stats.add(logits, y, loss_sum(logits, y))
    return stats.result()
