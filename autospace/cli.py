"""The ``autospace`` command line: a network's or a cell's params and MAdds. Bad input prints one
line naming the field and exits 2. (A run's audit and summary read the workflow's results layout:
``workflow/audit_run.py`` and ``workflow/summary.py``.)"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .arch.cells import parse_cell
from .arch.counter import cell_cost, network_cost
from .arch.spec import load_spec
from .arch.zoo import BUILTIN
from .errors import SpecError


def _arch_stats(args) -> dict:
    if args.arch in BUILTIN:
        spec = BUILTIN[args.arch](num_classes=args.num_classes or 1000, in_channels=args.in_channels or 3,
                                  resolution=args.input_size or 224)
    elif Path(args.arch).is_file():
        spec = load_spec(args.arch)
        overrides = {"resolution": args.input_size, "num_classes": args.num_classes,
                     "in_channels": args.in_channels}
        spec = spec.replace(**{k: v for k, v in overrides.items() if v is not None})
    else:
        raise SpecError("arch", f"neither a built-in network {sorted(BUILTIN)} nor a spec file", args.arch)
    cost = network_cost(spec)
    return {"params": cost.params, "madds": cost.madds}


def _cell_stats(args) -> dict:
    cell = parse_cell(args.cell)
    for name in ("cin", "cout", "resolution"):
        if getattr(args, name) < 1:
            raise SpecError(f"--{name}", "must be a positive integer", getattr(args, name))
    if args.stride not in (1, 2):
        raise SpecError("--stride", "must be 1 or 2", args.stride)
    cost = cell_cost(cell, args.cin, args.cout, args.stride, args.resolution)
    return {"params": cost.params, "madds": cost.madds, "id": cell.id}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="autospace", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    arch = sub.add_parser("arch-stats", help="params and MAdds of a network (built-in name or spec file)")
    arch.add_argument("arch", help=f"one of {sorted(BUILTIN)} or a spec JSON file")
    arch.add_argument("--input-size", type=int, help="input resolution (default 224, or the spec's)")
    arch.add_argument("--num-classes", type=int, help="classes (default 1000, or the spec's)")
    arch.add_argument("--in-channels", type=int, help="input channels (default 3, or the spec's)")
    arch.set_defaults(run=_arch_stats)
    cell = sub.add_parser("cell-stats", help="params and MAdds of one cell at a position")
    cell.add_argument("cell", help='cell string, e.g. "n=4 e=6 x=1 act=relu6 att=none merge=sum,sum '
                                   'edges=0>1:conv1x1,1>2:dw3x3,2>3:conv1x1"')
    cell.add_argument("--cin", type=int, required=True)
    cell.add_argument("--cout", type=int, required=True)
    cell.add_argument("--stride", type=int, default=1)
    cell.add_argument("--resolution", type=int, required=True)
    cell.set_defaults(run=_cell_stats)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.run(args)
    except SpecError as err:
        print(f"autospace {args.command}: error: {err}", file=sys.stderr)
        return 2
    if result is None:  # the command printed its own text
        return 0
    print(json.dumps(result, sort_keys=True))
    return 1 if result.get("ok") is False else 0


if __name__ == "__main__":
    sys.exit(main())
