"""Per-layer populations of cells: initialisation, tournament selection with local mutation,
reference cells, aging / remove-worst, and the ``population.json`` document.

Generations are numbered from 0; the initial population (written by warm-up) has generation
-1, so a member's ``birth`` is -1 for the initial population and ``g`` for a mutant of
generation ``g``; ``age = generation - birth``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from ...arch.backbone import Backbone
from ...arch.cells import Cell, CellSpace, mutate, parse_cell, random_cell
from ...errors import SpecError
from ...files import read_json

FORMAT = "autospace-population/1"


@dataclass
class Member:
    """One cell of a layer's population (or a reference cell of the layer) and its record."""

    cell: Cell
    serial: int  # order of arrival in the layer (ties in age are broken by it)
    birth: int
    fitness: float = 0.0
    fitness_history: list[float] = field(default_factory=list)
    times_sampled: int = 0
    parent: str | None = None  # id of the cell it was mutated from
    gene: str | None = None  # the mutated gene
    reference: bool = False

    def to_json(self, generation: int) -> dict:
        return {"cell": str(self.cell), "id": self.cell.id, "serial": self.serial, "birth": self.birth,
                "age": generation - self.birth, "fitness": self.fitness,
                "fitness_history": list(self.fitness_history), "times_sampled": self.times_sampled,
                "lineage": {"parent": self.parent, "gene": self.gene}, "reference": self.reference}


@dataclass
class LayerPopulation:
    """``members`` evolve; ``references`` are reference cells kept outside (mode ``candidate``)."""

    members: list[Member]
    references: list[Member]
    next_serial: int

    def find(self, cell_id: str) -> Member | None:
        for m in self.members + self.references:
            if m.cell.id == cell_id:
                return m
        return None

    def add(self, cell: Cell, birth: int, parent: str | None = None, gene: str | None = None,
            reference: bool = False) -> Member:
        member = Member(cell, self.next_serial, birth, parent=parent, gene=gene, reference=reference)
        self.next_serial += 1
        self.members.append(member)
        return member


def init_population(space: CellSpace, size: int, rng: random.Random, references: list[Cell],
                    mode: str) -> LayerPopulation:
    """``size`` distinct random valid cells. Mode ``seed`` puts the reference cells into the
    population (in place of random ones); mode ``candidate`` keeps them beside it, so no random
    cell may equal one; mode ``none`` ignores them."""
    pop = LayerPopulation([], [], 0)
    if mode == "candidate":
        pop.references = [Member(c, -1 - k, -1, reference=True) for k, c in enumerate(references)]
    if mode == "seed":
        for cell in references[:size]:
            pop.add(cell, -1, reference=True)
    taken = {m.cell.id for m in pop.members + pop.references}
    while len(pop.members) < size:
        cell = random_cell(space, rng)
        if cell.id not in taken:
            taken.add(cell.id)
            pop.add(cell, -1)
    return pop


def tournament(candidates: list[Member], size: int, rng: random.Random) -> Member:
    """Tournament selection: draw ``size`` members without replacement, return the fittest
    (the earliest drawn among equals)."""
    drawn = rng.sample(candidates, min(size, len(candidates)))
    return max(drawn, key=lambda m: m.fitness)  # max keeps the first of equal keys


def sample_layer(pop: LayerPopulation, k: int, tournament_size: int, mutation_prob: float,
                 space: CellSpace, rng: random.Random, generation: int) -> tuple[list[Member], list[Member]]:
    """Sample ``k`` distinct cells: each a tournament winner among the members not yet drawn this
    generation, replaced with probability ``mutation_prob`` by a one-gene mutant of it that joins
    the population (born this generation). A mutant equal to a cell already drawn, or to a
    reference cell, is refused and the winner itself is taken. Returns (sampled, new mutants);
    the layer's ``candidate`` reference cells are appended to the sampled list."""
    chosen: list[Member] = []
    mutants: list[Member] = []
    chosen_ids: set[str] = set()
    reference_ids = {m.cell.id for m in pop.references}
    while len(chosen) < k:
        free = [m for m in pop.members if m.cell.id not in chosen_ids]
        winner = tournament(free, tournament_size, rng)
        pick = winner
        if rng.random() < mutation_prob:
            child, gene = mutate(winner.cell, space, rng)
            if child.id not in chosen_ids and child.id not in reference_ids:
                pick = pop.find(child.id)
                if pick is None:
                    pick = pop.add(child, generation, parent=winner.cell.id, gene=gene)
                    mutants.append(pick)
        chosen.append(pick)
        chosen_ids.add(pick.cell.id)
    return chosen + list(pop.references), mutants


def update_population(pop: LayerPopulation, size: int, rule: str) -> list[Member]:
    """Shrink the population back to ``size``: ``aging`` removes the oldest (earliest birth, then
    earliest arrival), ``remove_worst`` the lowest fitness (then the oldest). Returns the removed."""
    removed = []
    while len(pop.members) > size:
        if rule == "aging":
            victim = min(pop.members, key=lambda m: (m.birth, m.serial))
        else:
            victim = min(pop.members, key=lambda m: (m.fitness, m.birth, m.serial))
        pop.members.remove(victim)
        removed.append(victim)
    return removed


# -- population.json ----------------------------------------------------------------------------

def population_to_json(pops: list[LayerPopulation], generation: int, backbone: Backbone) -> dict:
    layers = []
    for l, (pop, pos) in enumerate(zip(pops, backbone.layers)):
        layers.append({"layer": l, "cin": pos.cin, "cout": pos.cout, "stride": pos.stride,
                       "resolution": pos.resolution, "next_serial": pop.next_serial,
                       "members": [m.to_json(generation) for m in pop.members],
                       "references": [m.to_json(generation) for m in pop.references]})
    return {"format": FORMAT, "generation": generation, "layers": layers}


def _number(value, path: str, integer: bool = False):
    ok = isinstance(value, int) if integer else isinstance(value, (int, float)) and math.isfinite(value)
    if isinstance(value, bool) or not ok:
        raise SpecError(path, "expected an integer" if integer else "expected a finite number", value)
    return value


def _member_from_json(entry, path: str, space: CellSpace | None) -> Member:
    if not isinstance(entry, dict):
        raise SpecError(path, "expected an object", entry)
    for key in ("cell", "serial", "birth", "fitness", "fitness_history", "times_sampled", "lineage"):
        if key not in entry:
            raise SpecError(f"{path}.{key}", "missing")
    try:
        cell = parse_cell(entry["cell"])
        if space is not None:
            space.check(cell)
    except SpecError as err:
        raise err.within(f"{path}.cell") from None
    if "id" in entry and entry["id"] != cell.id:
        raise SpecError(f"{path}.id", f"does not match the cell (its id is {cell.id})", entry["id"])
    history = entry["fitness_history"]
    if not isinstance(history, list):
        raise SpecError(f"{path}.fitness_history", "expected a list", history)
    lineage = entry["lineage"]
    if not isinstance(lineage, dict) or set(lineage) != {"parent", "gene"}:
        raise SpecError(f"{path}.lineage", "expected {parent, gene}", lineage)
    times = _number(entry["times_sampled"], f"{path}.times_sampled", integer=True)
    if times < 0:
        raise SpecError(f"{path}.times_sampled", "must be >= 0", times)
    return Member(cell, _number(entry["serial"], f"{path}.serial", integer=True),
                  _number(entry["birth"], f"{path}.birth", integer=True),
                  float(_number(entry["fitness"], f"{path}.fitness")),
                  [float(_number(v, f"{path}.fitness_history")) for v in history], times,
                  lineage["parent"], lineage["gene"], bool(entry.get("reference", False)))


def population_from_json(data, backbone: Backbone, space: CellSpace) -> tuple[int, list[LayerPopulation]]:
    """Decode and check a population document against the backbone; errors name the layer."""
    if not isinstance(data, dict):
        raise SpecError("population", "expected a JSON object", type(data).__name__)
    if data.get("format") != FORMAT:
        raise SpecError("format", f"expected {FORMAT}", data.get("format"))
    generation = _number(data.get("generation"), "generation", integer=True)
    layers = data.get("layers")
    if not isinstance(layers, list):
        raise SpecError("layers", "expected a list", layers)
    if len(layers) != len(backbone.layers):
        raise SpecError("layers", f"the backbone has {len(backbone.layers)} searchable layers", len(layers))
    pops = []
    for l, (raw, pos) in enumerate(zip(layers, backbone.layers)):
        path = f"layers[{l}]"
        if not isinstance(raw, dict):
            raise SpecError(path, "expected an object", raw)
        for key in ("cin", "cout", "stride", "resolution"):
            if raw.get(key) != getattr(pos, key):
                raise SpecError(f"{path}.{key}", f"does not match the backbone ({getattr(pos, key)})", raw.get(key))
        for key in ("members", "references"):
            if not isinstance(raw.get(key), list):
                raise SpecError(f"{path}.{key}", "missing or not a list", raw.get(key))
        if not raw["members"]:
            raise SpecError(f"{path}.members", "a layer needs at least one member", [])
        members = [_member_from_json(e, f"{path}.members[{m}]",  # reference cells may lie outside the space
                                     None if isinstance(e, dict) and e.get("reference") else space)
                   for m, e in enumerate(raw["members"])]
        refs = [_member_from_json(e, f"{path}.references[{m}]", None) for m, e in enumerate(raw["references"])]
        ids = [m.cell.id for m in members + refs]
        if len(set(ids)) != len(ids):
            raise SpecError(f"{path}.members", "the same cell appears twice", ids)
        next_serial = _number(raw.get("next_serial"), f"{path}.next_serial", integer=True)
        pops.append(LayerPopulation(members, refs, next_serial))
    return generation, pops


def load_population(path: str | Path, backbone: Backbone, space: CellSpace) -> tuple[int, list[LayerPopulation]]:
    """Read ``population.json``; every error names the file and the layer."""
    data = read_json(path, "population")
    try:
        return population_from_json(data, backbone, space)
    except SpecError as err:
        raise err.within(source=str(path)) from None
