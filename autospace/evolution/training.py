"""Training the supernet: warm-up (weights only) and one generation's updates (Eqn. 4)."""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from .supernet import Supernet, constraint_loss, expected_madds, mixing_weights


def make_loader(images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int) -> DataLoader:
    """A shuffling loader driven only by ``seed`` (a seeded generator, no worker processes)."""
    return DataLoader(TensorDataset(images, labels), batch_size=batch_size, shuffle=True, num_workers=0,
                      generator=torch.Generator().manual_seed(seed))


def cycle(loader: DataLoader):
    while True:
        yield from loader


@dataclass
class Running:
    """Sums for mean loss and accuracy over batches."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0

    def add(self, logits: torch.Tensor, labels: torch.Tensor, loss: torch.Tensor) -> None:
        n = labels.shape[0]
        self.loss += float(loss.detach()) * n
        self.correct += int((logits.detach().argmax(1) == labels).sum())
        self.seen += n

    def result(self) -> dict:
        return {"loss": self.loss / max(1, self.seen), "accuracy": self.correct / max(1, self.seen),
                "images": self.seen}


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
        return constraint_loss(self.fixed_madds + expected_madds(weights, self.costs), self.budget,
                               self.constraint_mode, self.lam).float()


def search_step(model: Supernet, alphas: list[torch.Tensor], objective: Objective, train_batch, val_batch,
                weight_opt: torch.optim.Optimizer, alpha_opt: torch.optim.Optimizer, update: str,
                stats: Running) -> None:
    """One update of Eqn. 4 (first order). ``alternating``: alphas take an Adam step on the
    search-val batch (cross-entropy + constraint), then weights an SGD step on the search-train
    batch with the alphas fixed. ``joint``: one loss on the train batch (cross-entropy +
    constraint), both optimizers step."""
    criterion = nn.functional.cross_entropy
    x, y = train_batch
    if update == "alternating":
        xv, yv = val_batch
        alpha_opt.zero_grad(set_to_none=True)
        weights = objective.weights(alphas)
        loss = criterion(model(xv, weights), yv) + objective.penalty(weights)
        loss.backward(inputs=alphas)
        alpha_opt.step()
        weight_opt.zero_grad(set_to_none=True)
        logits = model(x, [w.detach() for w in objective.weights(alphas)])
        loss = criterion(logits, y)
        loss.backward()
        weight_opt.step()
    else:
        weight_opt.zero_grad(set_to_none=True)
        alpha_opt.zero_grad(set_to_none=True)
        weights = objective.weights(alphas)
        logits = model(x, weights)
        loss = criterion(logits, y)
        (loss + objective.penalty(weights)).backward()
        weight_opt.step()
        alpha_opt.step()
    stats.add(logits, y, loss)


def train_generation(model: Supernet, alphas: list[torch.Tensor], objective: Objective, train: DataLoader,
                     val: DataLoader, epochs: int, weight_opt, alpha_opt, update: str,
                     device: torch.device) -> dict:
    """``epochs`` passes over search-train, one :func:`search_step` per batch; search-val batches
    are drawn cyclically. Returns the mean train loss and accuracy."""
    model.train()
    stats = Running()
    val_batches = cycle(val)
    for _ in range(epochs):
        for x, y in train:
            xv, yv = next(val_batches)
            search_step(model, alphas, objective, (x.to(device), y.to(device)), (xv.to(device), yv.to(device)),
                        weight_opt, alpha_opt, update, stats)
    return stats.result()


def train_warmup(model: Supernet, train: DataLoader, epochs: int, weight_opt, mode: str, rng: random.Random,
                 device: torch.device) -> dict:
    """Warm-up of the weights before alphas are learned. ``population``: each step runs one
    uniformly drawn cell per layer (single path), so every member's weights get trained;
    ``reference``: the layers hold the reference cells only, mixed with equal weights."""
    model.train()
    stats = Running()
    uniform = [torch.full((len(layer),), 1.0 / len(layer), device=device) for layer in model.layers]
    for _ in range(epochs):
        for x, y in train:
            x, y = x.to(device), y.to(device)
            weight_opt.zero_grad(set_to_none=True)
            if mode == "population":
                logits = model(x, active=[rng.randrange(len(layer)) for layer in model.layers])
            else:
                logits = model(x, uniform)
            loss = nn.functional.cross_entropy(logits, y)
            loss.backward()
            weight_opt.step()
            stats.add(logits, y, loss)
    return stats.result()


@torch.no_grad()
def evaluate(model: Supernet, weights: list[torch.Tensor] | None, loader: DataLoader, device: torch.device,
             uniform: bool = False) -> dict:
    """Mean loss and accuracy in eval mode, the layers mixed by ``weights`` (or equally)."""
    model.eval()
    stats = Running()
    if uniform:
        weights = [torch.full((len(layer),), 1.0 / len(layer), device=device) for layer in model.layers]
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        logits = model(x, weights)
        stats.add(logits, y, nn.functional.cross_entropy(logits, y))
    return stats.result()
