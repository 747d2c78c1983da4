"""Layer-wise search spaces: the document evolution exports and NAS reads.

A space gives, for every searchable layer of a backbone, the candidate cells NAS may choose
(and whether the layer may be skipped). Format ``autospace-space/1``::

    {"format": "autospace-space/1", "name": "learned", "backbone": {...backbone data...},
     "layers": [{"layer": 0, "cin": 16, "cout": 24, "stride": 2, "resolution": 28,
                 "can_skip": false,
                 "candidates": [{"cell": "<cell string>", "id": "...", "madds": 123, "params": 45,
                                 "reference": false, "fitness": 0.31, "fitness_history": [...]}]}]}

``fitness`` and ``fitness_history`` are present for evolved cells only. Hand-designed spaces
(ProxylessNAS / MobileNetV2, reference-only) are written in the same format.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SpecError
from ..files import read_json, write_json
from .backbone import Backbone, backbone_from_dict, get_backbone
from .cells import Cell, cell_from_json, reference_cell
from .counter import cell_cost

FORMAT = "autospace-space/1"


@dataclass(frozen=True)
class Candidate:
    cell: Cell
    reference: bool = False
    fitness: float | None = None
    fitness_history: tuple[float, ...] = ()


@dataclass(frozen=True)
class SearchSpace:
    name: str
    backbone: Backbone
    backbone_data: dict = field(compare=False)
    layers: tuple[tuple[Candidate, ...], ...]

    def __post_init__(self):
        if len(self.layers) != len(self.backbone.searchable):
            raise SpecError("layers", f"the backbone has {len(self.backbone.searchable)} searchable layers",
                            len(self.layers))
        for l, cands in enumerate(self.layers):
            if not cands:
                raise SpecError(f"layers[{l}].candidates", "a layer needs at least one candidate", [])
            ids = [c.cell.id for c in cands]
            if len(set(ids)) != len(ids):
                raise SpecError(f"layers[{l}].candidates", "duplicate cell", ids)

    def to_json(self) -> dict:
        layers = []
        for l, (pos, cands) in enumerate(zip(self.backbone.layers, self.layers)):
            entries = []
            for cand in cands:
                cost = cell_cost(cand.cell, pos.cin, pos.cout, pos.stride, pos.resolution)
                entry = {"cell": str(cand.cell), "id": cand.cell.id, "madds": cost.madds,
                         "params": cost.params, "reference": cand.reference}
                if cand.fitness is not None:
                    entry["fitness"] = cand.fitness
                    entry["fitness_history"] = list(cand.fitness_history)
                entries.append(entry)
            layers.append({"layer": l, "cin": pos.cin, "cout": pos.cout, "stride": pos.stride,
                           "resolution": pos.resolution, "can_skip": pos.can_skip, "candidates": entries})
        return {"format": FORMAT, "name": self.name, "backbone": self.backbone_data, "layers": layers}

    def save(self, path: str | Path) -> None:
        write_json(path, self.to_json())


def backbone_data(value) -> dict:
    """The backbone as stored in a space document: the full definition, never just a name."""
    from .backbone import BACKBONES

    if isinstance(value, str):
        get_backbone(value)
        return {"name": value, **BACKBONES[value]}
    return dict(value)


def space_from_json(data, expected: Backbone | None = None) -> SearchSpace:
    """Decode and validate a space; with ``expected``, the space must be for that backbone."""
    if not isinstance(data, dict):
        raise SpecError("space", "expected a JSON object", type(data).__name__)
    for key in ("format", "name", "backbone", "layers"):
        if key not in data:
            raise SpecError(key, "missing")
    if data["format"] != FORMAT:
        raise SpecError("format", f"expected {FORMAT}", data["format"])
    backbone = backbone_from_dict(data["backbone"], data["backbone"].get("name", "custom")) \
        if isinstance(data["backbone"], dict) else get_backbone(data["backbone"])
    if expected is not None and [(p.cin, p.cout, p.stride, p.resolution) for p in expected.layers] != \
            [(p.cin, p.cout, p.stride, p.resolution) for p in backbone.layers]:
        raise SpecError("backbone", f"the space is for another backbone ({len(backbone.layers)} layers) than "
                        f"this run's ({len(expected.layers)} layers)", data["backbone"].get("name"))
    if not isinstance(data["layers"], list):
        raise SpecError("layers", "expected a list", data["layers"])
    if len(data["layers"]) != len(backbone.layers):
        raise SpecError("layers", f"the backbone has {len(backbone.layers)} searchable layers",
                        len(data["layers"]))
    layers = []
    for l, (raw, pos) in enumerate(zip(data["layers"], backbone.layers)):
        path = f"layers[{l}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("candidates"), list):
            raise SpecError(f"{path}.candidates", "missing or not a list")
        for key in ("cin", "cout", "stride", "resolution"):
            if key in raw and raw[key] != getattr(pos, key):
                raise SpecError(f"{path}.{key}", f"does not match the backbone ({getattr(pos, key)})", raw[key])
        cands = []
        for c, entry in enumerate(raw["candidates"]):
            cpath = f"{path}.candidates[{c}]"
            if not isinstance(entry, dict) or "cell" not in entry:
                raise SpecError(f"{cpath}.cell", "missing")
            try:
                cell = cell_from_json(entry["cell"])
            except SpecError as err:
                raise err.within(f"{cpath}.cell") from None
            if "id" in entry and entry["id"] != cell.id:
                raise SpecError(f"{cpath}.id", f"does not match the cell (its id is {cell.id})", entry["id"])
            fitness = entry.get("fitness")
            if fitness is not None and (isinstance(fitness, bool) or not isinstance(fitness, (int, float))):
                raise SpecError(f"{cpath}.fitness", "expected a number", fitness)
            cands.append(Candidate(cell, bool(entry.get("reference", False)), fitness,
                                   tuple(entry.get("fitness_history", ()))))
        layers.append(tuple(cands))
    return SearchSpace(str(data["name"]), backbone, data["backbone"], tuple(layers))


def load_space(path: str | Path, expected: Backbone | None = None) -> SearchSpace:
    """Read a space file; every error names the file and the field."""
    data = read_json(path, "space")
    try:
        return space_from_json(data, expected)
    except SpecError as err:
        raise err.within(source=str(path)) from None


def proxylessnas_space(backbone_value, kernels=(3, 5, 7), expansions=(3, 6)) -> SearchSpace:
    """The ProxylessNAS / MobileNetV2 space: MBConv k x e in every layer (as reference-style cells);
    NAS adds the zero op on layers that can be skipped."""
    backbone = get_backbone(backbone_value)
    cands = tuple(Candidate(reference_cell(e, k)) for k in kernels for e in expansions)
    return SearchSpace("proxylessnas", backbone, backbone_data(backbone_value), (cands,) * len(backbone.layers))


def reference_space(backbone_value, cells: list[Cell] | None = None) -> SearchSpace:
    """The space made of the reference cell(s) alone."""
    backbone = get_backbone(backbone_value)
    cands = tuple(Candidate(cell, reference=True) for cell in cells or [reference_cell()])
    return SearchSpace("reference", backbone, backbone_data(backbone_value), (cands,) * len(backbone.layers))


HAND_DESIGNED = ("proxylessnas", "reference")


def hand_designed_space(name: str, backbone_value, reference_cells: str | list[str] | None = None) -> SearchSpace:
    """A hand-designed space by name: ``proxylessnas``, or ``reference`` (the reference cells)."""
    from .cells import parse_cell

    if name == "proxylessnas":
        return proxylessnas_space(backbone_value)
    if name == "reference":
        texts = [reference_cells] if isinstance(reference_cells, str) else reference_cells or []
        return reference_space(backbone_value, [parse_cell(t) for t in texts] or None)
    raise SpecError("spaces", f"unknown hand-designed space, expected one of {list(HAND_DESIGNED)} or learned", name)
