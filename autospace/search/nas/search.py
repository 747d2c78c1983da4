"""NAS inside a layer-wise space under a MAdds budget: ProxylessNAS, DARTS (first order), random.

Weights are trained on ``search_train``, architecture logits on ``search_val``. The result is the
per-layer argmax, repaired to fit the budget (:func:`repair`).
"""

from __future__ import annotations

import functools
import math
import random
from pathlib import Path

import torch

from ...arch.backbone import get_backbone
from ...arch.counter import network_cost
from ...arch.space import SearchSpace, load_space
from ...arch.spec import Block, Skip
from ...arch.supernet import Supernet, choice_id, constraint_loss, expected_madds, fixed_madds, layer_costs
from ...data.datasets import Splits
from ...data.loader import GlobalBatches, make_loader
from ...engine import distributed as D
from ...engine.loop import Compute, Loop, StateFile, Stream, check_finite, fingerprint, loss_sum, run
from ...engine.train import lr_factor
from ...errors import SpecError
from ...files import write_json, write_text
from ...options import check_step_config
from ...outputs import ARCH, DATASET, NAS_REPORT, RESOLVED, SPLIT
from ...runtime import derived_seed, pick_device, seed_everything
from .config import NASConfig


def layer_choices(space: SearchSpace, include_zero: bool = True) -> list[list[Block]]:
    """Per searchable layer: the space's candidate cells, plus the zero op (``Skip``) where the
    layer can be skipped and ``include_zero`` is set."""
    return [[c.cell for c in cands] + ([Skip()] if include_zero and pos.can_skip else [])
            for cands, pos in zip(space.layers, space.backbone.layers)]


def check_feasible(space: SearchSpace, fixed: int, costs: list[list[int]], budget: int) -> None:
    """Raise if even the cheapest architecture of ``space`` exceeds ``budget``, saying by how much."""
    cheapest = fixed + sum(min(c) for c in costs)
    if cheapest > budget:
        raise SpecError("nas.budget", f"no architecture in space '{space.name}' fits the budget of {budget} "
                        f"MAdds: the cheapest needs {cheapest}, {cheapest - budget} MAdds "
                        f"({100 * (cheapest - budget) / budget:.1f}%) over", budget)


def repair(chosen: list[int], logprobs: list[list[float]], fixed: int, costs: list[list[int]],
           budget: int, floor: int = 0) -> tuple[list[int], list[dict]]:
    """Greedily swap layers to other choices until the MAdds lie in [``floor``, ``budget``].

    Above the budget, each swap is to a cheaper choice; below the floor, to a dearer one that
    keeps the total within the budget. Each swap is the one that loses the least log-probability
    of architecture weight (ties: the larger MAdds change, then the lower layer, then the lower
    choice index), so the result is deterministic. Call :func:`check_feasible` first. A floor
    no swap can reach is left short (the caller records it). Returns the choices and the swaps.
    """
    chosen = list(chosen)
    total = fixed + sum(c[j] for c, j in zip(costs, chosen))
    swaps = []
    while total > budget:
        options = [(logprobs[l][cur] - logprobs[l][j], costs[l][j] - costs[l][cur], l, j)
                   for l, cur in enumerate(chosen) for j in range(len(costs[l])) if costs[l][j] < costs[l][cur]]
        loss, delta, l, j = min(options)
        swaps.append({"layer": l, "from": chosen[l], "to": j, "logprob_loss": loss, "madds_saved": -delta})
        chosen[l] = j
        total += delta
    while total < floor:
        options = [(logprobs[l][cur] - logprobs[l][j], -(costs[l][j] - costs[l][cur]), l, j)
                   for l, cur in enumerate(chosen) for j in range(len(costs[l]))
                   if costs[l][cur] < costs[l][j] <= costs[l][cur] + budget - total]
        if not options:
            break
        loss, delta, l, j = min(options)
        swaps.append({"layer": l, "from": chosen[l], "to": j, "logprob_loss": loss, "madds_saved": delta})
        chosen[l] = j
        total -= delta
    return chosen, swaps


def proxyless_alpha_grad(alpha: torch.Tensor, active: list[int], gate_grad: torch.Tensor) -> torch.Tensor:
    """ProxylessNAS' estimate of dL/dalpha on the sampled paths ``active``:
    ``sum_j dL/dg_j p_j (delta_ij - p_i)`` with p the softmax of ``alpha[active]``."""
    p = torch.softmax(alpha.detach()[torch.tensor(active, device=alpha.device)], 0)
    return p * (gate_grad - (gate_grad * p).sum())


def _arch_step_proxyless(net: Supernet, x, y, n: int, penalty, a_opt, paths: int, gen: torch.Generator,
                         compute: Compute) -> None:
    """One ProxylessNAS architecture update: per layer sample ``paths`` candidate paths from the
    softmax, binarise one of them (gates), back-propagate to the gates and map dL/dg to the
    logits: dL/dalpha_i = sum_j dL/dg_j p_j (delta_ij - p_i) over the sampled paths. When fewer
    paths than choices are sampled, the sampled logits are shifted afterwards so that the
    unsampled paths keep their probabilities (ProxylessNAS' rescaling)."""
    for m in net.mixed:
        k = len(m.ops)
        logits = m.alpha.detach().cpu()  # sampling on the CPU generator, on any device
        active = torch.multinomial(torch.softmax(logits, 0), min(paths, k), replacement=False,
                                   generator=gen).sort().values
        pick = torch.multinomial(torch.softmax(logits[active], 0), 1, generator=gen).item()
        gates = torch.zeros(len(active), device=m.alpha.device)
        gates[pick] = 1.0
        m.active, m.gates = active.tolist(), gates.requires_grad_()
    a_opt.zero_grad(set_to_none=False)
    with compute.autocast():
        loss = loss_sum(net(x), y) / n + penalty()
    loss.backward()
    D.sync_grads([*net.arch_parameters(), *(m.gates for m in net.mixed)])
    before = []
    for m in net.mixed:
        idx = torch.tensor(m.active, device=m.alpha.device)
        m.alpha.grad[idx] += proxyless_alpha_grad(m.alpha, m.active, m.gates.grad)
        before.append(torch.logsumexp(m.alpha.detach()[idx], 0))
    a_opt.step()
    with torch.no_grad():
        for m, old in zip(net.mixed, before):
            if len(m.active) < len(m.ops):
                idx = torch.tensor(m.active, device=m.alpha.device)
                m.alpha[idx] -= torch.logsumexp(m.alpha[idx], 0) - old
            m.gates = None


def train_supernet(net: Supernet, cfg: NASConfig, budget: int, fixed: int, costs: list[list[int]], splits: Splits,
                   compute: Compute, seed: int, state: StateFile, settings: D.Settings) -> None:
    """Alternate weight steps (search_train, SGD with cosine decay) and, after the warm-up epochs,
    architecture steps (search_val, Adam) with the expected-MAdds constraint (the hinge with
    ``madds_band``'s floor, :func:`autospace.arch.supernet.constraint_loss`; ``fixed`` and ``costs``:
    the MAdds outside the searchable layers and of every choice), on the engine
    (:func:`autospace.engine.loop.run`): resumable mid-epoch from ``state``. Each step's path
    sampling draws from a generator seeded by (seed, step), so a resumed run samples what an
    uninterrupted one would. Batches are global: each rank trains on its shard and the
    gradients are summed over the ranks."""
    workers = settings.workers(splits.in_memory, torch.get_num_threads())
    train_set = splits.dataset("search_train", decode=settings.jpeg_decode)
    batches = GlobalBatches(len(train_set), cfg.batch_size, derived_seed(seed, "nas", "train"), rank=D.rank(),
                            world=D.world_size())
    val_set = splits.dataset("search_val", decode=settings.jpeg_decode)
    val_workers = workers // 2  # search-val is read beside search-train: the workers are shared
    workers -= val_workers
    val = Stream(val_set, GlobalBatches(len(val_set), cfg.batch_size, derived_seed(seed, "nas", "val"),
                                        rank=D.rank(), world=D.world_size()), val_workers, compute.cuda)
    steps = len(batches)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=cfg.weight_lr, momentum=cfg.weight_momentum,
                            nesterov=cfg.weight_momentum > 0, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(w_opt, functools.partial(lr_factor, warmup_steps=0,
                                                                       total_steps=cfg.epochs * steps))
    a_opt = torch.optim.Adam(net.arch_parameters(), lr=cfg.arch_lr, betas=(0.0, 0.999),
                             weight_decay=cfg.arch_weight_decay)
    arch_from = cfg.warmup_epochs * steps  # the first global step with an architecture update

    choice_madds = [torch.tensor(c, dtype=torch.float64, device=compute.device) for c in costs]

    def penalty() -> torch.Tensor:  # divided by the ranks, whose gradients are summed
        expected = expected_madds([m.probs() for m in net.mixed], choice_madds, fixed)
        return constraint_loss(expected, budget, "hinge", cfg.penalty_weight, cfg.madds_band).float() / D.world_size()

    def step(gstep: int, x: torch.Tensor, y: torch.Tensor, n: int):
        gen = torch.Generator().manual_seed(derived_seed(seed, "nas", "step", gstep))
        for m in net.mixed:
            m.gates = None
            m.active = None if cfg.algorithm == "darts" else \
                [torch.multinomial(m.probs().detach().cpu(), 1, generator=gen).item()]
        w_opt.zero_grad(set_to_none=True)
        with compute.autocast():
            logits = net(x)
            total = loss_sum(logits, y)
        (total / n).backward()
        D.sync_grads(net.weight_parameters())
        w_opt.step()
        sched.step()
        if gstep >= arch_from:
            xv, yv, nv = val.get(gstep - arch_from, compute)
            if cfg.algorithm == "proxyless":
                _arch_step_proxyless(net, xv, yv, nv, penalty, a_opt, cfg.arch_paths, gen, compute)
            else:
                for m in net.mixed:
                    m.active = None
                a_opt.zero_grad(set_to_none=True)
                with compute.autocast():
                    loss = loss_sum(net(xv), yv) / nv + penalty()
                loss.backward()
                D.sync_grads(net.arch_parameters())
                a_opt.step()
        return logits, y, total

    loader = make_loader(train_set, batches, workers, pin_memory=compute.cuda)
    loop = Loop(f"nas {cfg.algorithm}", loader, batches, cfg.epochs, compute, state,
                {"net": net, "weight_optimizer": w_opt, "schedule": sched, "arch_optimizer": a_opt},
                cfg.checkpoint_every_steps, cfg.log_every_steps, lr_key="nas.weight_lr")
    net.train()
    run(loop, step)
    check_finite(net, "nas", "nas.weight_lr")


def random_architecture(costs: list[list[int]], fixed: int, budget: int, trials: int,
                        rng: random.Random, floor: int = 0) -> tuple[list[int], int]:
    """Uniform choices per layer, redrawn up to ``trials`` times until the MAdds lie in
    [``floor``, ``budget``] (the last draw is repaired if none does). Returns the choices and the
    number of draws."""
    for trial in range(1, trials + 1):
        chosen = [rng.randrange(len(c)) for c in costs]
        if floor <= fixed + sum(c[j] for c, j in zip(costs, chosen)) <= budget:
            return chosen, trial
    return chosen, trials


def search(config: dict, space_path, data_dir, out_dir, state_dir=None) -> None:
    """Search ``space_path`` (an ``autospace-space/1`` document) and write ``out_dir/arch.json``
    (the architecture spec, within the budget), ``out_dir/nas.json`` (final architecture weights
    and probabilities per layer, chosen ids, repair swaps, MAdds, params, budget) and
    ``out_dir/config.json`` (the resolved config). ``config`` holds ``seed``, ``device``,
    ``backbone``, ``nas`` and ``distributed`` (the supernet training then runs on that many
    processes; rank 0 writes). Every input is checked before anything is written. The supernet
    training is resumable from ``state_dir/state.pt`` (removed once the outputs are written)."""
    seed = check_step_config(config, ("seed", "device", "backbone", "nas", "distributed"))
    settings = D.Settings.from_config(config)
    cfg = NASConfig.from_dict(config.get("nas"))
    backbone = get_backbone(config.get("backbone", "fmnist_small"))
    space = load_space(space_path, expected=backbone)
    device = pick_device(config.get("device", "auto"))
    reference_madds = network_cost(backbone.reference_network()).madds
    budget = cfg.budget(backbone)
    floor = math.ceil(cfg.madds_band * budget)
    choices = layer_choices(space, cfg.include_zero)
    fixed, costs = fixed_madds(space.backbone), layer_costs(space.backbone, choices)
    check_feasible(space, fixed, costs, budget)
    if cfg.algorithm != "random" and D.must_launch(config):
        return D.launch(f"{__name__}:search", config, str(space_path), str(data_dir), str(out_dir),
                        None if state_dir is None else str(state_dir))
    compute = Compute(D.device_for(device), cfg.amp, cfg.channels_last)
    resumable = {k: v for k, v in cfg.to_dict().items() if k not in ("checkpoint_every_steps", "log_every_steps")}
    state = StateFile(None if state_dir is None else Path(state_dir) / "state.pt", fingerprint(
        {"nas": resumable, "seed": seed, "backbone": config.get("backbone", "fmnist_small"),
         "processes": settings.processes},
        [Path(space_path), *(Path(data_dir) / f for f in (SPLIT, DATASET))]))

    seed_everything(seed)
    extra = {}
    if cfg.algorithm == "random":
        chosen, extra["random_draws"] = random_architecture(costs, fixed, budget, cfg.random_trials,
                                                            random.Random(seed), floor)
        alphas = [[0.0] * len(c) for c in choices]
    else:
        splits = Splits(data_dir)
        splits.check_fits(backbone.skeleton, "backbone.")
        net = compute.prepare(Supernet(space.backbone, choices, seed, logits=True))
        train_supernet(net, cfg, budget, fixed, costs, splits, compute, seed, state, settings)
        alphas = [m.alpha.detach().cpu().tolist() for m in net.mixed]
        chosen = [max(range(len(a)), key=lambda j, a=a: (a[j], -j)) for a in alphas]
    logprobs = [torch.log_softmax(torch.tensor(a, dtype=torch.float64), 0).tolist() for a in alphas]
    argmax = list(chosen)
    chosen, swaps = repair(chosen, logprobs, fixed, costs, budget, floor)

    spec = backbone.fill([layer[j] for layer, j in zip(choices, chosen)])
    cost = network_cost(spec)
    assert cost.madds <= budget
    layers = [{"layer": l, "choices": [choice_id(b) for b in layer], "alpha": a,
               "probs": [math.exp(v) for v in lp], "argmax": choice_id(layer[am]), "chosen": choice_id(layer[j])}
              for l, (layer, a, lp, am, j) in enumerate(zip(choices, alphas, logprobs, argmax, chosen))]
    report = {"space": space.name, "space_path": str(space_path), "algorithm": cfg.algorithm,
              "budget_madds": budget, "band_floor_madds": floor, "in_band": floor <= cost.madds,
              "reference_madds": reference_madds, "madds": cost.madds,
              "params": cost.params, "layers": layers, "repair_swaps": swaps, **extra}
    resolved = {"seed": seed, "device": str(device), "backbone": config.get("backbone", "fmnist_small"),
                "nas": cfg.to_dict()}
    if not D.is_main():
        return
    out_dir = Path(out_dir)
    write_text(out_dir / ARCH, spec.dumps())
    write_json(out_dir / NAS_REPORT, report)
    write_json(out_dir / RESOLVED, resolved)
    state.remove()
