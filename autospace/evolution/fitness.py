"""The differentiable fitness score (Eqn. 5)."""

from __future__ import annotations

import random

from .population import Member


def update_fitness(member: Member, weight: float, rule: str, beta: float, rng: random.Random) -> None:
    """Eqn. 5, applied to a cell sampled this generation, ``w`` its final mixing weight (Eqn. 3):

    - ``ema`` (default): ``f <- beta * f + (1 - beta) * w``;
    - ``copy``: ``f <- w``;
    - ``mean``: the running mean of ``w`` over the generations the cell was sampled in;
    - ``random``: a uniform draw in [0, 1) (an ablation control: fitness carries no signal).

    Counts the sampling and appends the new fitness to the history. Cells not sampled in a
    generation are not passed here and keep their fitness.
    """
    member.times_sampled += 1
    if rule == "ema":
        member.fitness = beta * member.fitness + (1 - beta) * weight
    elif rule == "copy":
        member.fitness = weight
    elif rule == "mean":
        member.fitness += (weight - member.fitness) / member.times_sampled
    else:
        member.fitness = rng.random()
    member.fitness_history.append(member.fitness)
