"""Training the supernet: warm-up (weights only) and one generation's updates (Eqn. 4).

Both loops count global steps (``epochs x batches``), can start at any step (resume) and call
``save(step)`` every ``every`` steps. Under several processes every rank draws the same global
batch and trains on its shard (:mod:`..distributed`); on CUDA the forward passes run under bf16
autocast (``amp``) with channels-last inputs.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from .. import distributed as D
from ..distributed import Compute, loss_sum
from .supernet import Supernet, constraint_loss, derived_seed, expected_madds, mixing_weights


class Batches:
    """Shuffled batches of ``(images, labels)``: epoch e's order is a permutation seeded by
    ``seed`` and e alone, so any step's batch can be drawn again after a restart."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int):
        self.images, self.labels, self.batch_size, self.seed = images, labels, batch_size, seed
        self._epoch, self._order = None, None

    def __len__(self) -> int:
        return math.ceil(len(self.labels) / self.batch_size)

    def get(self, epoch: int, step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The global batch ``step`` of ``epoch``."""
        if epoch != self._epoch:
            gen = torch.Generator().manual_seed(derived_seed(self.seed, "epoch", epoch))
            self._epoch, self._order = epoch, torch.randperm(len(self.labels), generator=gen)
        idx = self._order[step * self.batch_size:(step + 1) * self.batch_size]
        return self.images[idx], self.labels[idx]

    def in_order(self):
        """Every batch once, unshuffled (evaluation)."""
        for k in range(0, len(self.labels), self.batch_size):
            yield self.images[k:k + self.batch_size], self.labels[k:k + self.batch_size]


def make_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int) -> Batches:
    return Batches(images, labels, batch_size, seed)


@dataclass
class Running:
    """Sums for mean loss and accuracy over batches (summed over the ranks in :meth:`result`)."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0

    def add(self, logits: torch.Tensor, labels: torch.Tensor, loss_sum: torch.Tensor) -> None:
        self.loss += float(loss_sum.detach())
        self.correct += int((logits.detach().argmax(1) == labels).sum())
        self.seen += labels.shape[0]

    def result(self) -> dict:
        loss, correct, seen = D.sum_over_ranks([self.loss, self.correct, self.seen])
        return {"loss": loss / max(1, seen), "accuracy": correct / max(1, seen), "images": int(seen)}


@dataclass
class Objective:
    """What Eqn. 4 needs besides the data: mixing mode and the compute constraint."""

    mixing: str
    costs: list[torch.Tensor]  # per layer, each cell's MAdds at the layer's position
    fixed_madds: int
    budget: int | None
    constraint_mode: str
    lam: float

    def weights(self, alphas: list[torch.Tensor]) -> list[torch.Tensor]:
        return [mixing_weights(a, self.mixing) for a in alphas]

    def penalty(self, weights: list[torch.Tensor]) -> torch.Tensor:
        """The constraint term, divided by the number of ranks (their gradients are summed)."""
        return constraint_loss(self.fixed_madds + expected_madds(weights, self.costs), self.budget,
                               self.constraint_mode, self.lam).float() / D.world_size()


def search_step(model: Supernet, alphas: list[torch.Tensor], objective: Objective, train_batch, val_batch,
                weight_opt: torch.optim.Optimizer, alpha_opt: torch.optim.Optimizer, update: str,
                stats: Running, compute: Compute) -> None:
    """One update of Eqn. 4 (first order). ``alternating``: alphas take an Adam step on the
    search-val batch (cross-entropy + constraint), then weights an SGD step on the search-train
    batch with the alphas fixed. ``joint``: one loss on the train batch (cross-entropy +
    constraint), both optimizers step. Batches are global; losses are means over them."""
    x, y, n = compute.inputs(*train_batch)
    if update == "alternating":
        xv, yv, nv = compute.inputs(*val_batch)
        alpha_opt.zero_grad(set_to_none=True)
        weights = objective.weights(alphas)
        with compute.autocast():
            loss = loss_sum(model(xv, weights), yv) / nv + objective.penalty(weights)
        loss.backward(inputs=alphas)
        D.sync_grads(alphas)
        alpha_opt.step()
        weight_opt.zero_grad(set_to_none=True)
        with compute.autocast():
            logits = model(x, [w.detach() for w in objective.weights(alphas)])
            total = loss_sum(logits, y)
        (total / n).backward()
        D.sync_grads(model.parameters())
        weight_opt.step()
    else:
        weight_opt.zero_grad(set_to_none=True)
        alpha_opt.zero_grad(set_to_none=True)
        weights = objective.weights(alphas)
        with compute.autocast():
            logits = model(x, weights)
            total = loss_sum(logits, y)
        (total / n + objective.penalty(weights)).backward()
        D.sync_grads([*model.parameters(), *alphas])
        weight_opt.step()
        alpha_opt.step()
    stats.add(logits, y, total)


def _steps(total: int, start: int, every: int, save: Callable[[int], None] | None):
    """Global steps ``start .. total - 1``; ``save(step + 1)`` after every ``every``-th one (not
    after the last: the step's outputs follow)."""
    for step in range(start, total):
        yield step
        if save is not None and every and (step + 1) % every == 0 and step + 1 < total:
            save(step + 1)


def train_generation(model: Supernet, alphas: list[torch.Tensor], objective: Objective, train: Batches,
                     val: Batches, epochs: int, weight_opt, alpha_opt, update: str, compute: Compute,
                     stats: Running, start: int = 0, every: int = 0, save=None) -> dict:
    """``epochs`` passes over search-train, one :func:`search_step` per batch; search-val batches
    are drawn cyclically. Returns the mean train loss and accuracy."""
    model.train()
    per_epoch = len(train)
    for step in _steps(epochs * per_epoch, start, every, save):
        search_step(model, alphas, objective, train.get(*divmod(step, per_epoch)),
                    val.get(*divmod(step, len(val))), weight_opt, alpha_opt, update, stats, compute)
    return stats.result()


def train_warmup(model: Supernet, train: Batches, epochs: int, weight_opt, mode: str, seed: int,
                 compute: Compute, stats: Running, start: int = 0, every: int = 0, save=None) -> dict:
    """Warm-up of the weights before alphas are learned. ``population``: each step runs one
    uniformly drawn cell per layer (single path, drawn from a generator seeded by ``seed`` and
    the step), so every member's weights get trained; ``reference``: the layers hold the
    reference cells only, mixed with equal weights."""
    model.train()
    uniform = [torch.full((len(layer),), 1.0 / len(layer), device=compute.device) for layer in model.layers]
    per_epoch = len(train)
    for step in _steps(epochs * per_epoch, start, every, save):
        x, y, n = compute.inputs(*train.get(*divmod(step, per_epoch)))
        weight_opt.zero_grad(set_to_none=True)
        with compute.autocast():
            if mode == "population":
                rng = random.Random(derived_seed(seed, "warmup", step))
                logits = model(x, active=[rng.randrange(len(layer)) for layer in model.layers])
            else:
                logits = model(x, uniform)
            total = loss_sum(logits, y)
        (total / n).backward()
        D.sync_grads(model.parameters())
        weight_opt.step()
        stats.add(logits, y, total)
    return stats.result()


@torch.no_grad()
def evaluate(model: Supernet, weights: list[torch.Tensor] | None, data: Batches, compute: Compute,
             uniform: bool = False) -> dict:
    """Mean loss and accuracy in eval mode, the layers mixed by ``weights`` (or equally); each
    rank evaluates its shard of every batch."""
    model.eval()
    stats = Running()
    if uniform:
        weights = [torch.full((len(layer),), 1.0 / len(layer), device=compute.device) for layer in model.layers]
    for x, y in data.in_order():
        x, y, _ = compute.inputs(x, y)
        with compute.autocast():
            logits = model(x, weights)
        stats.add(logits, y, loss_sum(logits, y))
    return stats.result()
