"""Audit a finished run's results folder with the workflow's results layout: every artifact
against its DVC record (``dvc.lock``), its lineage (provenance records) and its own validity
(``autospace.audit``). Writes ``audit.json`` and ``audit.md`` into the folder, prints one ``FAIL``
line per failing artifact and a JSON line; exits 1 if any artifact fails, 2 on bad input (one line
naming the field).

    python workflow/audit_run.py results/<experiment> [--no-dvc]     # or: make audit

The workflow's own ``audit`` rule runs the same audit before ``onsuccess`` records the run in
``dvc.lock``, so without the DVC check; run this after the run for it.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import layout as L  # noqa: E402
from autospace.audit import Layout, audit, failure_lines, write_report  # noqa: E402
from autospace.errors import SpecError  # noqa: E402


def experiment(results: str | Path) -> str:
    """The experiment whose results folder is ``results`` (``results/<experiment>`` of this project)."""
    base = Path(L.RESULTS.format(exp="-")).parent
    exp = os.path.relpath(Path(results).resolve(), ROOT / base)
    if not Path(results).is_dir() or exp.startswith(".."):
        raise SpecError("results", f"not an experiment's folder under {ROOT / base}", source=str(results))
    return exp


def audit_run(results: str | Path, dvc: bool = True) -> dict:
    layout = Layout.from_dict(L.audit_layout(experiment(results)))
    report = audit(results, layout, dvc=dvc)
    json_path, md_path = (Path(results) / name for name in layout.reports)
    write_report(report, json_path, md_path)
    for line in failure_lines(report):
        print(f"FAIL {line}", file=sys.stderr)
    return {"ok": report["ok"], "artifacts": len(report["artifacts"]), "failing": sorted(report["failures"]),
            "report": str(md_path)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="workflow/audit_run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("results", help="the experiment's results folder, results/<experiment>")
    parser.add_argument("--no-dvc", action="store_true", help="skip the comparison with dvc.lock")
    args = parser.parse_args(argv)
    try:
        result = audit_run(args.results, dvc=not args.no_dvc)
    except SpecError as err:
        print(f"audit: error: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, sort_keys=True))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
