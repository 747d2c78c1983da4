"""The differentiable fitness score (Eqn. 5)."""

from __future__ import annotations

import random

from .population import Member


def fitness_weights(weights: list[float], references: list[bool], mode: str) -> list[float]:
    """The per-cell values Eqn. 5 scores, from one layer's final mixing weights (Eqn. 3):
    ``raw``: the weights; ``relative``: each weight divided by the mean weight of the layer's
    reference cells in the same mixture (1.0: as good as the reference), so the score does not
    depend on how many cells shared the mixture or how far the alphas moved in that generation."""
    if mode == "raw":
        return list(weights)
    ref = [w for w, is_ref in zip(weights, references) if is_ref]
    if not ref:
        raise ValueError("evolution.fitness_weight: relative needs the reference cells in every mixture "
                         "(evolution.reference: candidate)")
    scale = sum(ref) / len(ref)
    return [w / scale for w in weights]


def update_fitness(member: Member, weight: float, rule: str, beta: float, rng: random.Random) -> None:
    """Eqn. 5, applied to a cell sampled this generation, ``w`` its score this generation (its
    final mixing weight, Eqn. 3, or that weight relative to the reference's, :func:`fitness_weights`):

    - ``ema_debiased`` (default): the exponential moving average ``m <- beta * m + (1 - beta) * w``
      from ``m = 0``, divided by ``1 - beta^n`` after the cell's n-th sampling (Adam's bias
      correction), so a cell's fitness is a weighted mean of its own scores whatever n is;
    - ``ema``: ``f <- beta * f + (1 - beta) * w`` from ``f = 0``, uncorrected: after n samplings
      ``f ~ (1 - beta^n) * w``, so it ranks cells by how often they were sampled (the first
      default, kept for the ablation);
    - ``copy``: ``f <- w``;
    - ``mean``: the running mean of ``w`` over the generations the cell was sampled in;
    - ``random``: a uniform draw in [0, 1) (an ablation control: fitness carries no signal).

    Counts the sampling and appends the new fitness to the history. Cells not sampled in a
    generation are not passed here and keep their fitness.
    """
    member.times_sampled += 1
    n = member.times_sampled
    if rule == "ema_debiased":
        previous = member.fitness * (1 - beta ** (n - 1))  # the uncorrected average before this sampling
        member.fitness = (beta * previous + (1 - beta) * weight) / (1 - beta ** n)
    elif rule == "ema":
        member.fitness = beta * member.fitness + (1 - beta) * weight
    elif rule == "copy":
        member.fitness = weight
    elif rule == "mean":
        member.fitness += (weight - member.fitness) / n
    else:
        member.fitness = rng.random()
    member.fitness_history.append(member.fitness)
