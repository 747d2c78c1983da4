"""The ``autospace`` command line. Bad input prints one line naming the field and exits 2; a failed
audit exits 1."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

from .cells import parse_cell
from .counter import cell_cost, network_cost
from .errors import SpecError
from .spec import load_spec
from .stats import LEVEL, TEST
from .zoo import BUILTIN


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


def _audit(args) -> dict:
    from .audit import audit, failure_lines, write_report

    report = audit(args.results, dvc=not args.no_dvc)
    out = Path(args.results)
    write_report(report, out / "audit.json", out / "audit.md")
    for line in failure_lines(report):
        print(f"FAIL {line}", file=sys.stderr)
    return {"ok": report["ok"], "artifacts": len(report["artifacts"]), "failing": sorted(report["failures"]),
            "report": str(out / "audit.md")}


def _clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _t2_verdicts(out: Path) -> list[str]:
    """T2's test of the learned space against each other space, one line each (none without T2)."""
    path = out / "tables" / "t2_spaces.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        rows = [r for r in csv.DictReader(f) if not r["verdict"].startswith("– (the learned")]
    lines = [f"Learned space vs each space (T2; {TEST}, {round(100 * LEVEL)} % interval of the gain):"]
    for r in rows:
        tested = "" if r["verdict"].startswith("–") else \
            f" [{r['learned_gain_ci_lo']}, {r['learned_gain_ci_hi']}], p = {r['p_learned_better']}"
        lines.append(f"  vs {r['space']} ({r['algorithm']}, {r['seeds']} seeds): gain {r['learned_gain']} points"
                     f"{tested}: {r['verdict']}")
    return lines if rows else []


def _summary(args) -> None:
    """What a finished run made, for the terminal: the comparison table, where the tables,
    figures, audit and report are, and the wall time."""
    out = Path(args.results)
    table = out / "tables" / "comparison.md"
    if not table.is_file():
        raise SpecError("results", "no tables/comparison.md: the run has not finished", source=str(out))
    took = f" in {_clock(args.seconds)}" if args.seconds is not None else ""
    lines = [f"Run {out.name!r} finished{took}.", "", table.read_text().rstrip(), "", *_t2_verdicts(out), ""]
    tables = sorted(p.stem for p in (out / "tables").glob("*.md"))
    figures = sorted(p.stem for p in (out / "figures").glob("*.png"))
    lines.append(f"Tables:  {out / 'tables'}/ ({', '.join(tables)}; .md, .csv, .tex)")
    lines.append(f"Figures: {out / 'figures'}/ ({', '.join(figures)}; .png, .pdf)")
    audit = out / "audit.json"
    if audit.is_file():
        report = json.loads(audit.read_text())
        verdict = (f"ok, {len(report['artifacts'])} artifacts" if report["ok"]
                   else f"FAILED: {', '.join(sorted(report['failures']))}")
        lines.append(f"Audit:   {out / 'audit.md'} ({verdict})")
    else:
        lines.append("Audit:   not run")
    lines.append("Report:  make report (writes report.html)")
    print("\n".join(lines))
    return None


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
    check = sub.add_parser("audit", help="check every artifact of an experiment: DVC record, lineage, validity; "
                                         "writes audit.json and audit.md, exits 1 naming each failing artifact")
    check.add_argument("results", help="the experiment's results folder, results/<experiment>")
    check.add_argument("--no-dvc", action="store_true", help="skip the comparison with dvc.lock")
    check.set_defaults(run=_audit)
    summary = sub.add_parser("summary", help="print a finished run's comparison table and where its tables, "
                                            "figures, audit and report are")
    summary.add_argument("results", help="the experiment's results folder, results/<experiment>")
    summary.add_argument("--seconds", type=float, help="the run's wall time, to print")
    summary.set_defaults(run=_summary)
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
