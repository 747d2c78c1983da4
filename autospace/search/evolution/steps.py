"""The three steps the workflow calls: ``warmup``, ``run_generation``, ``export_space``.

Generations are numbered from 0. Warm-up writes generation -1 (the initial population and the
warmed-up weights); ``run_generation(..., generation=g)`` reads ``prev_dir`` (warm-up's folder
for g = 0, generation g - 1's otherwise) and writes generation g. Each step writes into its
folder ``config.json`` (the resolved config), ``population.json``, ``sampled.json``,
``metrics.json`` and ``checkpoint.pt``; every file is written atomically, and only after all
input has been read and checked, so bad input leaves existing outputs as they were.

Given a ``state_dir`` (``results/<exp>/.state/search/...``), warm-up and generations write their
full training state to ``state_dir/state.pt`` every ``evolution.checkpoint_every_steps`` steps
and resume from it after a crash, with outputs byte-identical to an uninterrupted run. The state
holds a fingerprint of the config and of the input files: state from another config or input is
discarded (and logged). It is deleted once the step's outputs are written. Under
``distributed.processes`` > 1 each step relaunches itself on that many processes
(:mod:`..distributed`); rank 0 alone writes.

The model is :class:`autospace.arch.supernet.Supernet` with each layer's sampled cells as its paths.
Weights persist across generations in a bank: ``shared`` (stem, fixed blocks, head,
classifier) and, per layer, one entry per cell id holding the cell's weights and SGD momentum.
A cell sampled again continues from its banked weights. A cell with no entry starts from the
supernet's seeded initialisation (seeded by the run seed, the layer and the cell id, so it does
not depend on the order of events); with ``mutant_init: parent`` a mutant then copies every
tensor of its parent's banked weights whose name and shape match its own.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

import torch

from ...arch.backbone import Backbone
from ...arch.cells import Cell
from ...arch.space import Candidate, SearchSpace, backbone_data
from ...arch.supernet import Supernet, expected_madds, fixed_madds, layer_costs, mixing_weights
from ...data.datasets import Splits
from ...data.loader import GlobalBatches, make_loader
from ...engine import distributed as D
from ...engine.loop import Compute, Loop, StateFile, Stream, fingerprint
from ...errors import SpecError
from ...files import write_json
from ...outputs import CHECKPOINT, DATASET, METRICS, POPULATION, RESOLVED, SAMPLED, SPLIT
from ...runtime import (
    derived_seed,
    load_checkpoint,
    pick_device,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from ...sections import Settings
from .config import SearchConfig
from .fitness import fitness_weights, update_fitness
from .population import (
    LayerPopulation,
    Member,
    init_population,
    load_population,
    population_to_json,
    sample_layer,
    update_population,
)
from .training import Objective, evaluate, train_generation, train_warmup

CHECKPOINT_FORMAT = "autospace-evolution-checkpoint/2"  # /2: shared weights named as in the built Network
Bank = list[dict[str, dict]]  # per layer: cell id -> {"weights": state dict, "momentum": {name: tensor}}


# -- weights in and out of the bank -----------------------------------------------------------

def _cpu(tensors: dict) -> dict:
    return {k: v.detach().cpu().contiguous().clone() for k, v in tensors.items()}


def _momentum(opt: torch.optim.Optimizer, params: dict) -> dict:
    return {n: opt.state[p]["momentum_buffer"].detach().cpu().contiguous().clone() for n, p in params.items()
            if opt.state.get(p, {}).get("momentum_buffer") is not None}


def _restore_momentum(opt: torch.optim.Optimizer, params: dict, saved: dict) -> None:
    for name, p in params.items():
        if name in saved:
            opt.state[p]["momentum_buffer"] = saved[name].to(p.device).clone()


def _load_module(module: torch.nn.Module, weights: dict, where: str, source: str) -> None:
    try:
        module.load_state_dict(weights)
    except (RuntimeError, TypeError, AttributeError) as err:
        raise SpecError(where, f"weights do not fit ({str(err).splitlines()[0]})", source=source) from None


def _copy_matching(module: torch.nn.Module, weights: dict) -> None:
    """Copy every tensor of ``weights`` whose name and shape match ``module``'s."""
    own = module.state_dict()
    own.update({k: v for k, v in weights.items() if k in own and own[k].shape == v.shape})
    module.load_state_dict(own)


def _populate(model: Supernet, ckpt: dict | None, pops: list[LayerPopulation], mutant_init: str,
              source: str) -> None:
    """Load the shared weights and each cell's banked weights (or its parent's, see the module
    docstring) into ``model``."""
    if ckpt is None:
        return
    shared = model.shared_state()
    missing = set(shared) ^ set(ckpt["shared"]["weights"])
    if missing:
        raise SpecError("shared", f"weights do not fit this backbone ({sorted(missing)[0]})", source=source)
    _load_module(model, {**model.state_dict(), **ckpt["shared"]["weights"]}, "shared", source)
    for l, (cells, mixed) in enumerate(zip(model.choices, model.mixed)):
        bank = ckpt["bank"][l]
        for cell, module in zip(cells, mixed.ops):
            if cell.id in bank:
                _load_module(module, bank[cell.id]["weights"], f"bank[{l}].{cell.id}", source)
            elif mutant_init == "parent":
                member = pops[l].find(cell.id)
                if member is not None and member.parent in bank:
                    _copy_matching(module, bank[member.parent]["weights"])


def _weight_optimizer(model: Supernet, cfg: SearchConfig, ckpt: dict | None) -> torch.optim.SGD:
    opt = torch.optim.SGD(model.parameters(), lr=cfg["weight_lr"], momentum=cfg["weight_momentum"],
                          weight_decay=cfg["weight_decay"])
    if ckpt is not None:
        _restore_momentum(opt, model.shared_parameters(), ckpt["shared"]["momentum"])
        for l, (cells, mixed) in enumerate(zip(model.choices, model.mixed)):
            for cell, module in zip(cells, mixed.ops):
                entry = ckpt["bank"][l].get(cell.id)
                if entry is not None:
                    _restore_momentum(opt, dict(module.named_parameters()), entry["momentum"])
    return opt


def _new_bank(model: Supernet, opt: torch.optim.Optimizer, old: Bank | None, pops: list[LayerPopulation]) -> Bank:
    """Trained cells' weights replace their entries; cells no longer in a population (or among
    the reference cells) leave the bank."""
    bank = []
    for l, (cells, mixed) in enumerate(zip(model.choices, model.mixed)):
        keep = {m.cell.id for m in pops[l].members + pops[l].references}
        layer = {k: v for k, v in (old[l] if old else {}).items() if k in keep}
        for cell, module in zip(cells, mixed.ops):
            if cell.id in keep:
                layer[cell.id] = {"weights": _cpu(module.state_dict()),
                                  "momentum": _momentum(opt, dict(module.named_parameters()))}
        bank.append(layer)
    return bank


# -- reading a previous step's folder -----------------------------------------------------------

def _load_checkpoint(path: Path, backbone: Backbone, generation: int) -> dict:
    ckpt = load_checkpoint(path)
    source = str(path)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise SpecError("format", f"expected {CHECKPOINT_FORMAT}", ckpt.get("format"), source=source)
    if ckpt.get("generation") != generation:
        raise SpecError("generation", f"expected generation {generation}", ckpt.get("generation"), source=source)
    for key in ("shared", "bank", "rng"):
        if key not in ckpt:
            raise SpecError(key, "missing", source=source)
    bank = ckpt["bank"]
    if not isinstance(bank, list) or len(bank) != len(backbone.layers):
        raise SpecError("bank", f"the backbone has {len(backbone.layers)} searchable layers",
                        len(bank) if isinstance(bank, list) else bank, source=source)
    for l, layer in enumerate(bank):
        if not isinstance(layer, dict) or not all(isinstance(e, dict) and {"weights", "momentum"} <= set(e)
                                                  for e in layer.values()):
            raise SpecError(f"bank[{l}]", "expected cell id -> {weights, momentum}", source=source)
    if not isinstance(ckpt["shared"], dict) or not {"weights", "momentum"} <= set(ckpt["shared"]):
        raise SpecError("shared", "expected {weights, momentum}", source=source)
    return ckpt


def _read_previous(cfg: SearchConfig, prev_dir, generation: int) -> tuple[list[LayerPopulation], dict]:
    prev_dir = Path(prev_dir)
    path = prev_dir / POPULATION
    found, pops = load_population(path, cfg.backbone, cfg.cell_space)
    if found != generation - 1:
        raise SpecError("generation", f"expected the population of generation {generation - 1}", found,
                        source=str(path))
    for l, pop in enumerate(pops):
        if len(pop.members) != cfg["population_size"]:
            raise SpecError(f"layers[{l}].members", f"expected population_size = {cfg['population_size']} cells",
                            len(pop.members), source=str(path))
    return pops, _load_checkpoint(prev_dir / CHECKPOINT, cfg.backbone, generation - 1)


# -- shared helpers -------------------------------------------------------------------------------

def _objective(cfg: SearchConfig, cells: list[list[Cell]]) -> Objective:
    c = cfg["constraint"]
    costs = [torch.tensor([float(c) for c in layer], dtype=torch.float64) for layer in layer_costs(cfg.backbone, cells)]
    return Objective(cfg["mixing"], costs, fixed_madds(cfg.backbone),
                     cfg.budget_madds(), c["mode"], c["lambda"])


def _sampled_doc(cells: list[list[Cell]], members: list[list[Member | None]], alphas, weights,
                 objective: Objective, generation: int) -> dict:
    layers = []
    for l, layer in enumerate(cells):
        costs = objective.costs[l]
        entries = [{"cell": str(c), "id": c.id, "madds": int(costs[k]),
                    "alpha": None if alphas is None else float(alphas[l][k]),
                    "weight": float(weights[l][k]),
                    "reference": bool(members[l][k] is not None and members[l][k].reference),
                    "mutant_of": None if members[l][k] is None or members[l][k].birth != generation
                    else members[l][k].parent}
                   for k, c in enumerate(layer)]
        layers.append({"layer": l, "cells": entries, "expected_madds": float((weights[l].double().cpu()
                                                                               * costs).sum())})
    total = float(expected_madds([w.cpu() for w in weights], objective.costs))
    return {"generation": generation, "layers": layers, "expected_madds": total,
            "expected_network_madds": total + objective.fixed_madds, "budget_madds": objective.budget}


def _write_outputs(out_dir, cfg: SearchConfig, checkpoint: dict, population: dict, sampled: dict,
                   metrics: dict, state: StateFile) -> None:
    if not D.is_main():
        return
    out_dir = Path(out_dir)
    save_checkpoint(out_dir / CHECKPOINT, checkpoint)
    write_json(out_dir / RESOLVED, cfg.to_dict())
    write_json(out_dir / SAMPLED, sampled)
    write_json(out_dir / METRICS, metrics)
    write_json(out_dir / POPULATION, population)
    state.remove()


class _Data:
    """Search-train and search-val of a step: datasets, samplers and loaders (this rank's
    shards), seeded per step (``label``: ``warmup`` or the generation)."""

    def __init__(self, data_dir, cfg: SearchConfig, label, compute: Compute):
        splits = Splits(data_dir)
        splits.check_fits(cfg.backbone.skeleton, "backbone.")
        batch = cfg["batch_size"]
        settings = Settings.from_config({"distributed": cfg.distributed})
        workers = settings.workers(splits.in_memory, torch.get_num_threads())
        # search-train and search-val are read side by side (one val batch per step): the
        # workers are split between them, so the process holds ``loader_workers`` in all
        val_workers = workers // 2
        workers -= val_workers
        self.train_set = splits.dataset("search_train", decode=settings.jpeg_decode)
        self.val_set = splits.dataset("search_val", decode=settings.jpeg_decode)
        rank, world = D.rank(), D.world_size()
        self.train = GlobalBatches(len(self.train_set), batch, derived_seed(cfg.seed, "train", label), rank=rank,
                                   world=world)
        self.train_loader = make_loader(self.train_set, self.train, workers, compute.cuda)
        self.val_stream = Stream(self.val_set, GlobalBatches(len(self.val_set), batch,
                                                             derived_seed(cfg.seed, "val", label), rank=rank,
                                                             world=world), val_workers, compute.cuda)
        self.val_order = GlobalBatches(len(self.val_set), batch, 0, shuffle=False, rank=rank, world=world)
        self.val_loader = make_loader(self.val_set, self.val_order, val_workers, compute.cuda)


STATE_FILE = "state.pt"


def _state(cfg: SearchConfig, step: str, files: list[Path], state_dir) -> StateFile:
    """The step's state file, valid for the config (less the checkpoint and log intervals), the
    step and the input files' bytes."""
    resolved = cfg.to_dict()
    resolved["evolution"].pop("checkpoint_every_steps")
    resolved["evolution"].pop("log_every_steps")
    resolved["processes"] = cfg.distributed["processes"]
    return StateFile(None if state_dir is None else Path(state_dir) / STATE_FILE,
                     fingerprint([resolved, step], files))


def _compute(cfg: SearchConfig) -> Compute:
    return Compute(D.device_for(pick_device(cfg.device)), cfg["amp"], cfg["channels_last"])


def _loop(stage: str, data: _Data, epochs: int, compute: Compute, state: StateFile, modules: dict,
          cfg: SearchConfig) -> Loop:
    return Loop(stage, data.train_loader, data.train, epochs, compute, state, modules,
                cfg["checkpoint_every_steps"], cfg["log_every_steps"], lr_key="evolution.weight_lr")


# -- the steps ----------------------------------------------------------------------------------

def warmup(config: dict, data_dir, out_dir, state_dir=None) -> None:
    """Create the initial populations (generation -1) and warm up the supernet weights with the
    alphas not yet learned (``evolution.warmup``: ``epochs``, and ``cells``: ``population`` or
    ``reference``; see :func:`.training.train_warmup`). Resumable from ``state_dir``."""
    start = time.perf_counter()
    cfg = SearchConfig.from_dict(config)
    if D.must_launch(config):
        return D.launch(f"{__name__}:warmup", config, str(data_dir), str(out_dir),
                        None if state_dir is None else str(state_dir))
    compute = _compute(cfg)
    device = compute.device
    seed_everything(cfg.seed)
    pops = [init_population(cfg.cell_space, cfg["population_size"],
                            random.Random(derived_seed(cfg.seed, "population", l)), cfg.reference_cells,
                            cfg["reference"]) for l in range(len(cfg.backbone.layers))]
    mode = cfg["warmup"]["cells"]
    if mode == "population":
        members = [pop.members + pop.references for pop in pops]
        cells = [[m.cell for m in layer] for layer in members]
    else:
        cells = [cfg.reference_cells for _ in pops]
        members = [[pop.find(c.id) for c in cfg.reference_cells] for pop in pops]
    data = _Data(data_dir, cfg, -1, compute)
    model = compute.prepare(Supernet(cfg.backbone, cells, cfg.seed))
    opt = _weight_optimizer(model, cfg, None)
    state = _state(cfg, "warmup", [Path(data_dir) / f for f in (SPLIT, DATASET)], state_dir)
    loop = _loop("warmup", data, cfg["warmup"]["epochs"], compute, state, {"model": model, "optimizer": opt}, cfg)
    train_stats = train_warmup(loop, model, opt, mode, derived_seed(cfg.seed, "warmup"))
    val_stats = evaluate(model, None, data.val_loader, data.val_order, compute, uniform=True)
    weights = [torch.full((len(layer),), 1.0 / len(layer)) for layer in cells]
    objective = _objective(cfg, cells)
    sampled = _sampled_doc(cells, members, None, weights, objective, -1)
    checkpoint = {"format": CHECKPOINT_FORMAT, "generation": -1,
                  "shared": {"weights": _cpu(model.shared_state()), "momentum": _momentum(opt, model.shared_parameters())},
                  "bank": _new_bank(model, opt, None, pops), "alphas": [], "alpha_optimizer": {},
                  "rng": rng_state()}
    metrics = {"generation": -1, "step": "warmup", "train": train_stats, "val": val_stats,
               "expected_madds": sampled["expected_madds"],
               "expected_network_madds": sampled["expected_network_madds"],
               "budget_madds": objective.budget, "device": str(device),
               "wall_time_s": time.perf_counter() - start}
    _write_outputs(out_dir, cfg, checkpoint, population_to_json(pops, -1, cfg.backbone), sampled, metrics, state)


def run_generation(config: dict, data_dir, prev_dir, out_dir, generation: int, state_dir=None) -> None:
    """One generation (0-based): per layer sample K cells (tournament + mutation, plus reference
    cells in mode ``candidate``), train weights and alphas (Eqn. 4), update the sampled cells'
    fitness (Eqn. 5), shrink each population back to P (aging or remove-worst). Resumable from
    ``state_dir``."""
    start = time.perf_counter()
    cfg = SearchConfig.from_dict(config)
    if isinstance(generation, bool) or not isinstance(generation, int) or generation < 0:
        raise SpecError("generation", "expected an integer >= 0", generation)
    pops, ckpt = _read_previous(cfg, prev_dir, generation)
    if D.must_launch(config):
        return D.launch(f"{__name__}:run_generation", config, str(data_dir), str(prev_dir), str(out_dir),
                        generation, None if state_dir is None else str(state_dir))
    compute = _compute(cfg)
    device = compute.device
    seed_everything(cfg.seed)
    set_rng_state(ckpt["rng"])
    rng = random.Random(derived_seed(cfg.seed, "sample", generation))
    members = [sample_layer(pop, cfg["sample_size"], cfg["tournament_size"], cfg["mutation_prob"],
                            cfg.cell_space, rng, generation)[0] for pop in pops]
    cells = [[m.cell for m in layer] for layer in members]
    data = _Data(data_dir, cfg, generation, compute)
    model = Supernet(cfg.backbone, cells, cfg.seed)
    _populate(model, ckpt, pops, cfg["mutant_init"], str(Path(prev_dir) / CHECKPOINT))
    model = compute.prepare(model)
    weight_opt = _weight_optimizer(model, cfg, ckpt)
    alphas = [torch.zeros(len(layer), device=device, requires_grad=True) for layer in cells]
    alpha_opt = torch.optim.Adam(alphas, lr=cfg["alpha_lr"], weight_decay=cfg["alpha_weight_decay"])
    objective = _objective(cfg, cells)
    inputs = [Path(data_dir) / f for f in (SPLIT, DATASET)] + \
        [Path(prev_dir) / f for f in (POPULATION, CHECKPOINT)]
    state = _state(cfg, f"generation {generation}", inputs, state_dir)
    loop = _loop(f"generation {generation}", data, cfg["epochs_per_generation"], compute, state,
                 {"model": model, "weight_optimizer": weight_opt, "alphas": alphas, "alpha_optimizer": alpha_opt}, cfg)
    train_stats = train_generation(loop, model, alphas, objective, data.val_stream, weight_opt, alpha_opt,
                                   cfg["update"])
    with torch.no_grad():
        weights = [mixing_weights(a, cfg["mixing"]).cpu() for a in alphas]
        penalty = float(objective.penalty(weights))
    val_stats = evaluate(model, [w.to(device) for w in weights], data.val_loader, data.val_order, compute)
    fitness_rng = random.Random(derived_seed(cfg.seed, "fitness", generation))
    for layer, w in zip(members, weights):
        scores = fitness_weights(w.tolist(), [m.reference for m in layer], cfg["fitness_weight"])
        for member, score in zip(layer, scores):
            update_fitness(member, score, cfg["fitness_rule"], cfg["ema_beta"], fitness_rng)
    sampled = _sampled_doc(cells, members, [a.detach().cpu() for a in alphas], weights, objective, generation)
    for pop in pops:
        update_population(pop, cfg["population_size"], cfg["population_update"])
    checkpoint = {"format": CHECKPOINT_FORMAT, "generation": generation,
                  "shared": {"weights": _cpu(model.shared_state()),
                             "momentum": _momentum(weight_opt, model.shared_parameters())},
                  "bank": _new_bank(model, weight_opt, ckpt["bank"], pops),
                  "alphas": [a.detach().cpu().clone() for a in alphas],
                  "alpha_optimizer": alpha_opt.state_dict(), "rng": rng_state()}
    metrics = {"generation": generation, "step": "generation", "train": train_stats, "val": val_stats,
               "expected_madds": sampled["expected_madds"],
               "expected_network_madds": sampled["expected_network_madds"],
               "budget_madds": objective.budget, "constraint_loss": penalty, "device": str(device),
               "wall_time_s": time.perf_counter() - start}
    _write_outputs(out_dir, cfg, checkpoint, population_to_json(pops, generation, cfg.backbone), sampled, metrics,
                   state)


def export_space(config: dict, last_dir, out_path) -> None:
    """The learned space: per layer the ``export_top_k`` evolved cells by fitness (ties: the
    earlier arrival) plus the reference cells (modes ``candidate`` and ``seed``), written in the
    ``autospace-space/1`` format the NAS step reads."""
    cfg = SearchConfig.from_dict(config)
    _, pops = load_population(Path(last_dir) / POPULATION, cfg.backbone, cfg.cell_space)
    layers = []
    for pop in pops:
        evolved = sorted((m for m in pop.members if not m.reference), key=lambda m: (-m.fitness, m.serial))
        chosen = [Candidate(m.cell, False, m.fitness, tuple(m.fitness_history))
                  for m in evolved[:cfg["export_top_k"]]]
        if cfg["reference"] != "none":
            for cell in cfg.reference_cells:
                m = pop.find(cell.id)
                chosen.append(Candidate(cell, True, m.fitness, tuple(m.fitness_history)) if m is not None
                              else Candidate(cell, True))
        layers.append(tuple(chosen))
    SearchSpace("learned", cfg.backbone, backbone_data(cfg.backbone_value), tuple(layers)).save(out_path)
