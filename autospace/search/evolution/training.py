"""Training the supernet: warm-up (weights only) and one generation's updates (Eqn. 4), as step
functions of the one engine (:mod:`autospace.engine.loop`).

Both count global steps (``epochs x batches``), resume at any step from the stage's state file
and save it every ``checkpoint_every_steps`` steps. Under several processes every rank draws the
same global batch and trains on its shard; on CUDA the forward passes run under bf16 autocast
(``amp``) with channels-last inputs.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

from ...arch.supernet import Supernet, constraint_loss, expected_madds, mixing_weights
from ...engine import distributed as D
from ...engine.loop import Compute, Loop, Stream, check_finite, loss_sum, run
from ...engine.loop import evaluate as evaluate_forward
from ...runtime import derived_seed


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
        return constraint_loss(expected_madds(weights, self.costs, self.fixed_madds), self.budget,
                               self.constraint_mode, self.lam).float() / D.world_size()


def search_step(model: Supernet, alphas: list[torch.Tensor], objective: Objective, x, y, n: int, val,
                weight_opt: torch.optim.Optimizer, alpha_opt: torch.optim.Optimizer, update: str,
                compute: Compute):
    """One update of Eqn. 4 (first order). ``alternating``: alphas take an Adam step on the
    search-val batch ``val`` (cross-entropy + constraint), then weights an SGD step on the
    search-train batch with the alphas fixed. ``joint``: one loss on the train batch
    (cross-entropy + constraint), both optimizers step. Batches are global; losses are means
    over them. Returns (logits, labels, loss sum) of the train batch."""
    if update == "alternating":
        xv, yv, nv = val
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
    return logits, y, total


def train_generation(loop: Loop, model: Supernet, alphas: list[torch.Tensor], objective: Objective, val: Stream,
                     weight_opt, alpha_opt, update: str) -> dict:
    """``loop.epochs`` passes over search-train, one :func:`search_step` per batch; search-val
    batches are drawn alongside (draw s at step s, only when ``update`` is alternating).
    Returns the mean train loss and accuracy."""
    model.train()

    def step(gstep, x, y, n):
        batch = val.get(gstep, loop.compute) if update == "alternating" else None
        return search_step(model, alphas, objective, x, y, n, batch, weight_opt, alpha_opt, update, loop.compute)

    stats = run(loop, step)
    check_finite(model, loop.stage, "evolution.weight_lr")
    return stats.result()


def train_warmup(loop: Loop, model: Supernet, weight_opt, mode: str, seed: int) -> dict:
    """Warm-up of the weights before alphas are learned. ``population``: each step runs one
    uniformly drawn cell per layer (single path, drawn from a generator seeded by ``seed`` and
    the step), so every member's weights get trained; ``reference``: the layers hold the
    reference cells only, mixed with equal weights."""
    model.train()
    uniform = [torch.full((len(m.ops),), 1.0 / len(m.ops), device=loop.compute.device) for m in model.mixed]

    def step(gstep, x, y, n):
        weight_opt.zero_grad(set_to_none=True)
        with loop.compute.autocast():
            if mode == "population":
                rng = random.Random(derived_seed(seed, "warmup", gstep))
                logits = model(x, active=[rng.randrange(len(m.ops)) for m in model.mixed])
            else:
                logits = model(x, uniform)
            total = loss_sum(logits, y)
        (total / n).backward()
        D.sync_grads(model.parameters())
        weight_opt.step()
        return logits, y, total

    stats = run(loop, step)
    check_finite(model, loop.stage, "evolution.weight_lr")
    return stats.result()


def evaluate(model: Supernet, weights: list[torch.Tensor] | None, loader, batches, compute: Compute,
             uniform: bool = False) -> dict:
    """Mean loss and accuracy in eval mode, the layers mixed by ``weights`` (or equally); each
    rank evaluates its shard of every batch."""
    model.eval()
    if uniform:
        weights = [torch.full((len(m.ops),), 1.0 / len(m.ops), device=compute.device) for m in model.mixed]
    return evaluate_forward(lambda x: model(x, weights), loader, batches, compute)
