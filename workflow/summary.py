"""What a finished run made, for the terminal (what ``make run`` ends with): the comparison table,
T2's test of the learned space against each other space, where the tables, figures, audit and
report are, and the wall time.

    python workflow/summary.py results/<experiment> [--seconds S]

Bad input prints one line naming the field and exits 2. It reads the results layout of
workflow/layout.py, so it lives with the workflow, not in the library.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import layout as L  # noqa: E402
from autospace.errors import SpecError  # noqa: E402
from autospace.report.stats import LEVEL, TEST  # noqa: E402


def _inside(results: Path, template: str) -> Path:
    """A layout folder of the experiment whose results folder is ``results``."""
    return results / Path(template.format(exp="{exp}")).relative_to(L.RESULTS)


def clock(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def t2_verdicts(tables: Path) -> list[str]:
    """T2's test of the learned space against each other space, one line each (none without T2)."""
    path = tables / "t2_spaces.csv"
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


def summary(results: str | Path, seconds: float | None = None) -> str:
    out = Path(results)
    tables, figures = _inside(out, L.TABLES), _inside(out, L.FIGURES)
    table = tables / "comparison.md"
    if not table.is_file():
        raise SpecError("results", f"no {table.relative_to(out)}: the run has not finished", source=str(out))
    took = f" in {clock(seconds)}" if seconds is not None else ""
    lines = [f"Run {out.name!r} finished{took}.", "", table.read_text().rstrip(), "", *t2_verdicts(tables), ""]
    lines.append(f"Tables:  {tables}/ ({', '.join(sorted(p.stem for p in tables.glob('*.md')))}; .md, .csv, .tex)")
    lines.append(f"Figures: {figures}/ ({', '.join(sorted(p.stem for p in figures.glob('*.png')))}; .png, .pdf)")
    audit_json, audit_md = (out / name for name in L.AUDIT_FILES)
    if audit_json.is_file():
        report = json.loads(audit_json.read_text())
        verdict = (f"ok, {len(report['artifacts'])} artifacts" if report["ok"]
                   else f"FAILED: {', '.join(sorted(report['failures']))}")
        lines.append(f"Audit:   {audit_md} ({verdict})")
    else:
        lines.append("Audit:   not run")
    lines.append("Report:  make report (writes report.html)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workflow/summary.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="the experiment's results folder, results/<experiment>")
    parser.add_argument("--seconds", type=float, help="the run's wall time, to print")
    args = parser.parse_args(argv)
    try:
        print(summary(args.results, args.seconds))
    except SpecError as err:
        print(f"summary: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
