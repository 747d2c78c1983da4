"""Cell genotypes: small DAGs of convolutions, their codec, sampling and mutation.

A cell has ``nodes`` nodes: node 0 is the block input, node ``nodes - 1`` the block output.
Each edge j->i (j < i) carries an operator; absent edges are ``none``. Node widths follow the
expansion genes (see :func:`node_widths`), and the canonical one-line form is::

    n=4 e=6 x=1 act=relu6 att=none merge=sum,sum edges=0>1:conv1x1,1>2:dw3x3,2>3:conv1x1

``n`` nodes, ``e`` expansion ratio, ``x`` the first node at the expanded width, ``act`` the
activation, ``att`` the attention, ``merge`` the merge mode of nodes 2..n-1 (how a node with
several inputs combines them), ``edges`` the present edges sorted by (target, source).
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field

from ..errors import SpecError

#: Edge operators: name -> kernel size (0: no edge, 1: 1x1 conv, k > 1: depthwise k x k conv).
EDGE_OPS: dict[str, int] = {"none": 0, "conv1x1": 1, "dw3x3": 3, "dw5x5": 5, "dw7x7": 7, "dw9x9": 9}
ACTIVATIONS = ("relu", "relu6", "hswish", "swish")
ATTENTIONS = ("none", "se")
MERGES = ("sum", "concat")
STRUCTURES = ("free", "released")
CELL_KEYS = ("n", "e", "x", "act", "att", "merge", "edges")


def edge_pairs(nodes: int) -> list[tuple[int, int]]:
    """All possible edges (src, dst) with src < dst, in canonical (dst, src) order."""
    return [(j, i) for i in range(1, nodes) for j in range(i)]


def _fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


@dataclass(frozen=True)
class Cell:
    """One cell genotype (immutable, hashable). Build one with :func:`make_cell` or :func:`parse_cell`."""

    nodes: int
    ops: tuple[str, ...]  # one op per edge_pairs(nodes) entry, "none" for an absent edge
    expansion: float
    expand_node: int
    activation: str
    attention: str
    merge: tuple[str, ...]  # merge mode of nodes 2..nodes-1
    _string: str = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        validate_cell(self)
        object.__setattr__(self, "_string", _encode(self))

    # -- views -----------------------------------------------------------------------------
    @property
    def edges(self) -> list[tuple[int, int, str]]:
        """Present edges as (src, dst, op), canonical order."""
        return [(j, i, op) for (j, i), op in zip(edge_pairs(self.nodes), self.ops) if op != "none"]

    def inputs(self, node: int) -> list[tuple[int, str]]:
        """(src, op) of every edge into ``node``."""
        return [(j, op) for j, i, op in self.edges if i == node]

    def merge_of(self, node: int) -> str:
        """Merge mode of ``node`` (nodes 0 and 1 have one input at most and always sum)."""
        return self.merge[node - 2] if node >= 2 else "sum"

    @property
    def id(self) -> str:
        """Stable content id: the first 16 hex digits of the SHA-256 of the canonical string."""
        return hashlib.sha256(self._string.encode()).hexdigest()[:16]

    def __str__(self) -> str:
        return self._string

    def to_json(self) -> dict:
        """The JSON form (round-trips through :func:`cell_from_json`)."""
        return {
            "nodes": self.nodes,
            "expansion": self.expansion,
            "expand_node": self.expand_node,
            "activation": self.activation,
            "attention": self.attention,
            "merge": list(self.merge),
            "edges": [[j, i, op] for j, i, op in self.edges],
        }

    def replace(self, **changes) -> "Cell":
        values = {k: getattr(self, k) for k in ("nodes", "ops", "expansion", "expand_node",
                                                 "activation", "attention", "merge")}
        values.update(changes)
        return Cell(**values)


def _encode(cell: Cell) -> str:
    edges = ",".join(f"{j}>{i}:{op}" for j, i, op in cell.edges)
    return (f"n={cell.nodes} e={_fmt_number(cell.expansion)} x={cell.expand_node} "
            f"act={cell.activation} att={cell.attention} merge={','.join(cell.merge)} edges={edges}")


def validate_cell(cell: Cell) -> None:
    """Raise :class:`SpecError` naming the first invalid gene of ``cell``."""
    n = cell.nodes
    if not isinstance(n, int) or isinstance(n, bool) or n < 3:
        raise SpecError("n", "a cell needs an integer node count >= 3", n)
    pairs = edge_pairs(n)
    if len(cell.ops) != len(pairs):
        raise SpecError("edges", f"expected {len(pairs)} edge genes for {n} nodes", len(cell.ops))
    for (j, i), op in zip(pairs, cell.ops):
        if op not in EDGE_OPS:
            raise SpecError(f"edges[{j}>{i}]", f"unknown operator, expected one of {list(EDGE_OPS)}", op)
    e = cell.expansion
    if isinstance(e, bool) or not isinstance(e, (int, float)) or not (0 < e <= 16):
        raise SpecError("e", "expansion ratio must be a number in (0, 16]", e)
    if not isinstance(cell.expand_node, int) or not 1 <= cell.expand_node <= n - 1:
        raise SpecError("x", f"expansion node must be an integer in 1..{n - 1}", cell.expand_node)
    if cell.activation not in ACTIVATIONS:
        raise SpecError("act", f"unknown activation, expected one of {list(ACTIVATIONS)}", cell.activation)
    if cell.attention not in ATTENTIONS:
        raise SpecError("att", f"unknown attention, expected one of {list(ATTENTIONS)}", cell.attention)
    if len(cell.merge) != n - 2:
        raise SpecError("merge", f"expected {n - 2} merge modes (nodes 2..{n - 1})", ",".join(cell.merge))
    for node, mode in enumerate(cell.merge, start=2):
        if mode not in MERGES:
            raise SpecError(f"merge[{node}]", f"unknown merge mode, expected one of {list(MERGES)}", mode)
    present = [(j, i) for (j, i), op in zip(pairs, cell.ops) if op != "none"]
    reached = {0}
    for j, i in present:  # sorted by target, so sources are settled before they are used
        if j in reached:
            reached.add(i)
    reaching = {n - 1}
    for j, i in sorted(present, key=lambda p: -p[0]):
        if i in reaching:
            reaching.add(j)
    for node in range(1, n):
        if node not in reached:
            raise SpecError(f"node {node}", "dangling: not reachable from the input node 0", node)
    for node in range(n - 1):
        if node not in reaching:
            raise SpecError(f"node {node}", f"dangling: does not reach the output node {n - 1}", node)


def make_cell(nodes: int, edges, expansion: float = 6, expand_node: int = 1, activation: str = "relu6",
              attention: str = "none", merge=None) -> Cell:
    """Build a cell from a list of (src, dst, op) edges; unlisted edges are ``none``."""
    if not isinstance(nodes, int) or isinstance(nodes, bool) or nodes < 3:
        raise SpecError("n", "a cell needs an integer node count >= 3", nodes)
    pairs = edge_pairs(nodes)
    index = {p: k for k, p in enumerate(pairs)}
    ops = ["none"] * len(pairs)
    for edge in edges:
        if not (isinstance(edge, (list, tuple)) and len(edge) == 3):
            raise SpecError("edges", "an edge is [src, dst, op]", edge)
        j, i, op = edge
        if not (isinstance(j, int) and isinstance(i, int)) or isinstance(j, bool) or isinstance(i, bool):
            raise SpecError("edges", "edge endpoints must be integers", edge)
        name = f"edges[{j}>{i}]"
        if not (0 <= j < nodes and 0 <= i < nodes):
            raise SpecError(name, f"node index out of range 0..{nodes - 1}", f"{j}>{i}")
        if i == 0:
            raise SpecError(name, "no edge may enter the input node 0", f"{j}>{i}")
        if j >= i:
            raise SpecError(name, "cycle: edges must go from a lower to a higher node", f"{j}>{i}")
        if op not in EDGE_OPS:
            raise SpecError(name, f"unknown operator, expected one of {list(EDGE_OPS)}", op)
        if ops[index[(j, i)]] != "none":
            raise SpecError(name, "duplicate edge", f"{j}>{i}")
        ops[index[(j, i)]] = op
    merge = tuple(merge) if merge is not None else ("sum",) * (nodes - 2)
    return Cell(nodes, tuple(ops), expansion, expand_node, activation, attention, merge)


def parse_cell(text: str) -> Cell:
    """Parse the canonical one-line form; raises :class:`SpecError` naming the bad field."""
    if not isinstance(text, str):
        raise SpecError("cell", "a cell string is expected", text)
    fields: dict[str, str] = {}
    for token in text.split():
        key, sep, value = token.partition("=")
        if not sep:
            raise SpecError("cell", "expected key=value tokens", token)
        if key not in CELL_KEYS:
            raise SpecError(key, f"unknown cell field, expected {list(CELL_KEYS)}", token)
        if key in fields:
            raise SpecError(key, "field given twice", token)
        fields[key] = value
    for key in CELL_KEYS:
        if key not in fields:
            raise SpecError(key, "missing cell field", text)
    nodes = _parse_int("n", fields["n"])
    edges = []
    for item in filter(None, fields["edges"].split(",")):
        ends, sep, op = item.partition(":")
        src, sep2, dst = ends.partition(">")
        if not (sep and sep2):
            raise SpecError("edges", "an edge is src>dst:op", item)
        edges.append((_parse_int("edges", src), _parse_int("edges", dst), op))
    merge = fields["merge"].split(",") if fields["merge"] else []
    return make_cell(nodes, edges, _parse_number("e", fields["e"]), _parse_int("x", fields["x"]),
                     fields["act"], fields["att"], merge)


def _parse_int(key: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise SpecError(key, "expected an integer", text) from None


def _parse_number(key: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SpecError(key, "expected a number", text) from None
    return int(value) if value.is_integer() else value


def cell_from_json(data) -> Cell:
    """Inverse of :meth:`Cell.to_json`."""
    if isinstance(data, str):
        return parse_cell(data)
    if not isinstance(data, dict):
        raise SpecError("cell", "a cell is a JSON object or a cell string", type(data).__name__)
    keys = {"nodes", "expansion", "expand_node", "activation", "attention", "merge", "edges"}
    unknown = set(data) - keys
    if unknown:
        raise SpecError(sorted(unknown)[0], "unknown cell field", sorted(unknown)[0])
    missing = keys - set(data)
    if missing:
        raise SpecError(sorted(missing)[0], "missing cell field")
    if not isinstance(data["edges"], list) or not isinstance(data["merge"], list):
        raise SpecError("edges", "edges and merge must be lists", data["edges"])
    return make_cell(data["nodes"], [tuple(e) if isinstance(e, list) else e for e in data["edges"]],
                     data["expansion"], data["expand_node"], data["activation"], data["attention"],
                     data["merge"])


# -- the exploration space ----------------------------------------------------------------------

@dataclass(frozen=True)
class CellSpace:
    """The gene values evolution may use (method doc section 4, 'exploration space')."""

    nodes: int = 4
    edge_ops: tuple[str, ...] = ("none", "conv1x1", "dw3x3", "dw5x5", "dw7x7")
    expansions: tuple[float, ...] = (1, 3, 6)
    activations: tuple[str, ...] = ("relu6", "hswish")
    attentions: tuple[str, ...] = ("none", "se")
    merges: tuple[str, ...] = ("sum", "concat")
    #: Cells in canonical form (:meth:`canonical`): a gene without effect has one fixed value, so
    #: one function has one id; sampling and mutation never give a copy under another id.
    canonical: bool = True
    #: ``free`` (any valid DAG) or ``released`` (as in the authors' released cells: the main chain
    #: 0>1>...>n-1 always present, no edge from the input to the output node).
    structure: str = "free"

    def __post_init__(self):
        if not isinstance(self.nodes, int) or self.nodes < 3:
            raise SpecError("nodes", "a cell needs an integer node count >= 3", self.nodes)
        if not isinstance(self.canonical, bool):
            raise SpecError("canonical", "expected true or false", self.canonical)
        if self.structure not in STRUCTURES:
            raise SpecError("structure", f"expected one of {list(STRUCTURES)}", self.structure)
        checks = (("edge_ops", EDGE_OPS), ("activations", ACTIVATIONS), ("attentions", ATTENTIONS),
                  ("merges", MERGES))
        for name, allowed in checks:
            values = getattr(self, name)
            if not values:
                raise SpecError(name, "must not be empty", list(values))
            for value in values:
                if value not in allowed:
                    raise SpecError(name, f"unknown value, expected some of {list(allowed)}", value)
        if all(op == "none" for op in self.edge_ops):
            raise SpecError("edge_ops", "needs at least one operator besides none", list(self.edge_ops))
        for e in self.expansions:
            if isinstance(e, bool) or not isinstance(e, (int, float)) or not 0 < e <= 16:
                raise SpecError("expansions", "expansion ratios must be numbers in (0, 16]", e)

    @classmethod
    def from_dict(cls, data: dict) -> "CellSpace":
        known = {"nodes", "edge_ops", "expansions", "activations", "attentions", "merges", "canonical",
                 "structure"}
        for key in data:
            if key not in known:
                raise SpecError(key, f"unknown cell-space key, expected {sorted(known)}", key)
        values = {k: (tuple(v) if isinstance(v, list) else v) for k, v in data.items()}
        return cls(**values)

    def to_dict(self) -> dict:
        return {"nodes": self.nodes, "edge_ops": list(self.edge_ops), "expansions": list(self.expansions),
                "activations": list(self.activations), "attentions": list(self.attentions),
                "merges": list(self.merges), "canonical": self.canonical, "structure": self.structure}

    def canonical_form(self, cell: Cell) -> Cell:
        """The one cell of ``cell``'s function: the merge mode of a node with one input is
        ``sum``; a cell without expansion (ratio 1, or the expansion node is the output node, so
        every inner node keeps the input width) has ratio 1 and expansion node 1 where the space
        offers ratio 1, else its smallest ratio at expansion node ``nodes - 1``."""
        merge = effective_merges(cell, cell.merge)
        expansion, expand_node = cell.expansion, cell.expand_node
        if expansion == 1 or expand_node == cell.nodes - 1:
            expansion, expand_node = (1, 1) if 1 in self.expansions else (min(self.expansions), cell.nodes - 1)
        return cell.replace(merge=merge, expansion=expansion, expand_node=expand_node)

    def allows(self, cell: Cell) -> bool:
        """Whether ``cell`` has this space's structure (``released``: main chain, no input-output edge)."""
        if self.structure == "free":
            return True
        present = {(j, i) for j, i, _ in cell.edges}
        return all((i - 1, i) in present for i in range(1, cell.nodes)) and (0, cell.nodes - 1) not in present

    def check(self, cell: Cell) -> None:
        """Raise :class:`SpecError` if ``cell`` uses a value outside this space."""
        if cell.nodes != self.nodes:
            raise SpecError("n", f"this space has {self.nodes}-node cells", cell.nodes)
        if not self.allows(cell):
            raise SpecError("edges", "not the released structure (main chain 0>1>...>n-1, no input-output "
                            "edge): cell_space.structure is released", str(cell))
        for j, i, op in cell.edges:
            if op not in self.edge_ops:
                raise SpecError(f"edges[{j}>{i}]", f"operator not in this space {list(self.edge_ops)}", op)
        genes = (("e", cell.expansion, self.expansions), ("act", cell.activation, self.activations),
                 ("att", cell.attention, self.attentions))
        for name, value, allowed in genes:
            if value not in allowed:
                raise SpecError(name, f"value not in this space {list(allowed)}", value)
        for node in range(2, cell.nodes):
            if len(cell.inputs(node)) > 1 and cell.merge_of(node) not in self.merges:
                raise SpecError(f"merge[{node}]", f"merge mode not in this space {list(self.merges)}",
                                cell.merge_of(node))


def effective_merges(cell: Cell, merge) -> tuple[str, ...]:
    """``merge`` (modes of nodes 2..n-1) with the inert ones, of nodes with a single input in
    ``cell``, set to ``sum``."""
    return tuple(m if len(cell.inputs(node)) > 1 else "sum" for node, m in enumerate(merge, start=2))


def random_cell(space: CellSpace, rng: random.Random) -> Cell:
    """A uniformly drawn valid cell of ``space`` (rejection sampling, also of cells outside the
    space's structure), driven only by ``rng``.

    Merge genes of nodes with a single input are inert and set to ``sum``; with
    ``space.canonical`` the cell is in its canonical form (:meth:`CellSpace.canonical_form`).
    """
    pairs = edge_pairs(space.nodes)
    while True:
        ops = tuple(rng.choice(space.edge_ops) for _ in pairs)
        expansion = rng.choice(space.expansions)
        expand_node = rng.randrange(1, space.nodes)
        activation = rng.choice(space.activations)
        attention = rng.choice(space.attentions)
        merge_draws = [rng.choice(space.merges) for _ in range(space.nodes - 2)]
        try:
            cell = Cell(space.nodes, ops, expansion, expand_node, activation, attention,
                        ("sum",) * (space.nodes - 2))
        except SpecError:
            continue
        if not space.allows(cell):
            continue
        cell = cell.replace(merge=effective_merges(cell, merge_draws))
        return space.canonical_form(cell) if space.canonical else cell


def mutation_options(cell: Cell, space: CellSpace) -> dict[str, list[Cell]]:
    """Every valid child that differs from ``cell`` in exactly one effective gene, by gene name.

    Inert genes are not offered: the expansion node when the expansion ratio is 1, and the merge
    mode of a node with a single input. With ``space.canonical`` every child is in canonical form
    and one that builds the same function as ``cell`` or as an earlier child is not offered (the
    expansion ratio when the expansion node is the output node, a merge mode left on a node that
    lost an input). Children outside the space's structure are not offered.
    """
    options: dict[str, list[Cell]] = {}
    seen = {cell.id}

    def offer(gene: str, **change):
        try:
            child = cell.replace(**change)
        except SpecError:
            return
        if space.canonical:
            child = space.canonical_form(child)
            if child.id in seen:
                return
            seen.add(child.id)
        if space.allows(child):
            options.setdefault(gene, []).append(child)

    for k, (j, i) in enumerate(edge_pairs(cell.nodes)):
        for op in space.edge_ops:
            if op != cell.ops[k]:
                offer(f"edge {j}>{i}", ops=cell.ops[:k] + (op,) + cell.ops[k + 1:])
    for e in space.expansions:
        if e != cell.expansion:
            offer("expansion", expansion=e)
    if cell.expansion != 1:
        for x in range(1, cell.nodes):
            if x != cell.expand_node:
                offer("expand_node", expand_node=x)
    for node in range(2, cell.nodes):
        if len(cell.inputs(node)) > 1:
            for mode in space.merges:
                if mode != cell.merge_of(node):
                    merge = list(cell.merge)
                    merge[node - 2] = mode
                    offer(f"merge {node}", merge=tuple(merge))
    for act in space.activations:
        if act != cell.activation:
            offer("activation", activation=act)
    for att in space.attentions:
        if att != cell.attention:
            offer("attention", attention=att)
    return options


def mutate(cell: Cell, space: CellSpace, rng: random.Random) -> tuple[Cell, str]:
    """Local mutation: pick a gene uniformly among those with a valid alternative, then a value.

    Returns (child, gene name). The child is valid and differs from ``cell`` in that gene alone
    (with ``space.canonical``, also in the inert genes its canonical form fixes).
    """
    options = mutation_options(cell, space)
    if not options:
        raise SpecError("cell", "no valid single-gene mutation exists in this space", str(cell))
    gene = rng.choice(sorted(options))
    return rng.choice(options[gene]), gene


def reference_cell(expansion: float = 6, kernel: int = 3, activation: str = "relu6",
                   attention: str = "none") -> Cell:
    """The MBConv inverted residual as a 4-node cell: expand 1x1 -> depthwise k x k -> project 1x1."""
    return make_cell(4, [(0, 1, "conv1x1"), (1, 2, f"dw{kernel}x{kernel}"), (2, 3, "conv1x1")],
                     expansion, 1, activation, attention, ("sum", "sum"))


def node_widths(cell: Cell, cin: int, cout: int) -> list[int]:
    """Channel width of every node: ``cin`` before the expansion node, ``round(cin * e)`` from it
    on, ``cout`` at the output node."""
    hidden = int(round(cin * cell.expansion))
    return [cin] + [hidden if node >= cell.expand_node else cin for node in range(1, cell.nodes - 1)] + [cout]


def full_resolution_nodes(cell: Cell) -> list[bool]:
    """Which nodes stay at the block's input resolution when the block has stride > 1.

    Node 0 does; another node does iff it is not the output and each of its inputs is a 1x1 conv
    from a full-resolution node. Every edge from a full-resolution node into a reduced node
    carries the block's stride, so an MBConv cell strides in its depthwise conv, as MBConv does.
    """
    full = [True] + [False] * (cell.nodes - 1)
    for node in range(1, cell.nodes - 1):
        full[node] = all(op == "conv1x1" and full[j] for j, op in cell.inputs(node))
    return full
