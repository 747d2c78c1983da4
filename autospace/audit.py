"""Audit of one experiment's results: every artifact against DVC's record, its lineage and its
own validity.

Which file of a results folder is what (records, benchmark files, resolved configs, resumable
state) is the workflow's layout, which the workflow hands over as a :class:`Layout` (its audit rule,
and ``workflow/audit_run.py`` after a run); paths in the records are relative to the layout's
``root``. Checks per artifact:

- ``dvc``: size and MD5 equal the out recorded in ``dvc.lock`` (skipped with ``dvc=False``, and for
  the resolved configs, which are not DVC outputs);
- ``lineage``: a provenance record (a file of the layout's ``records``) lists it as an output with
  its current SHA-256, and every parent the record names is the version its own record says it
  wrote (a parent rewritten after the child was made fails the child; a changed file fails
  itself only, not its descendants);
- ``validity``: checkpoints load with ``weights_only=True``; JSON parses; populations and spaces
  hold valid cells of the recorded backbone and cell space; architectures are within the NAS
  MAdds budget of the recorded config and match ``nas.json``; metrics match their architecture;
  tables and the figures' plotted data equal the ones recomputed from the metrics and benchmarks
  they came from (from the library call's recorded ``arguments``). Which of these checks a job's
  outputs get is the ``check`` its record names (one of :data:`CHECKS`, given by the workflow),
  besides what a file's own format says (checkpoints, populations, architectures).

The layout's ``ignored`` files (resumable state, the audit's own files), DVC's ``.gitignore``
files and half-written temporary files are not artifacts. The layout's ``unrecorded`` files
(benchmark files, resolved configs, the records themselves) have no provenance record: DVC's
record is their check, unless they are ``outside_dvc`` too.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import yaml

from .errors import SpecError
from .files import file_digest, read_json, write_json, write_text
from .outputs import ARCH, METRICS, NAS_REPORT, POPULATION
from .provenance import FORMAT
from .runtime import load_checkpoint

#: The checks a provenance record may ask for its job's outputs (its ``check``): ``space`` (a
#: search space document), ``evaluation`` (an evaluated network's metrics.json), and the
#: recomputed reports: ``experiment_tables`` (:func:`.tables.write_experiment_tables`),
#: ``figure_data`` (:func:`.figures.figure_tables`), ``t1_t5_tables`` (T1 and T5).
CHECKS = ("space", "evaluation", "experiment_tables", "figure_data", "t1_t5_tables")
@dataclass(frozen=True)
class Layout:
    """What the files of one results folder are, as the workflow lays them out: glob patterns
    relative to the results folder (``*`` within one folder name, ``**`` across folders).

    ``root``: the project root, relative to the results folder (the records' paths are relative to
    it); ``records``: provenance records; ``unrecorded``: artifacts no job's record lists;
    ``outside_dvc``: artifacts that are not DVC outputs; ``ignored``: files that are not
    artifacts; ``reports``: where the report goes (JSON, Markdown)."""

    root: str
    records: tuple[str, ...]
    unrecorded: tuple[str, ...]
    outside_dvc: tuple[str, ...]
    ignored: tuple[str, ...]
    reports: tuple[str, str]

    @classmethod
    def from_dict(cls, values: dict, source: str = "layout") -> Layout:
        try:
            return cls(values["root"], *(tuple(values[k]) for k in ("records", "unrecorded", "outside_dvc",
                                                                    "ignored", "reports")))
        except (KeyError, TypeError) as err:
            raise SpecError("layout", f"not an audit layout ({err.__class__.__name__}: {err})", source=source) from None


def _glob_regex(pattern: str) -> str:
    return "".join(".*" if part == "**" else "[^/]*" if part == "*" else re.escape(part)
                   for part in re.split(r"(\*\*|\*)", pattern))


def matches(inner: str | Path, patterns: tuple[str, ...]) -> bool:
    """Whether the path ``inner`` (relative to the results folder) matches one of the patterns."""
    return any(re.fullmatch(_glob_regex(p), Path(inner).as_posix()) for p in patterns)


def dvc_records(lock_path: Path) -> dict[str, dict]:
    """Every out of ``dvc.lock``: path -> {md5, size}."""
    if not lock_path.is_file():
        raise SpecError("dvc.lock", "file not found (audit without the DVC check: --no-dvc)", source=str(lock_path))
    try:
        lock = yaml.safe_load(lock_path.read_text()) or {}
    except yaml.YAMLError as err:
        raise SpecError("dvc.lock", f"not valid YAML ({err.__class__.__name__})", source=str(lock_path)) from None
    return {out["path"]: out for stage in (lock.get("stages") or {}).values() for out in stage.get("outs", [])}


def _records(results: Path, root: Path, layout: Layout) -> tuple[dict, dict]:
    """The provenance records (the layout's ``records``): (record path -> record or error, output
    path -> record path)."""
    records, by_output = {}, {}
    for path in sorted(results.rglob("*.json")):
        if not matches(path.relative_to(results), layout.records):
            continue
        rel = str(path.relative_to(root))
        try:
            rec = read_json(path, "provenance record")
            if not isinstance(rec, dict) or rec.get("format") != FORMAT:
                raise SpecError("format", f"expected {FORMAT}", rec.get("format") if isinstance(rec, dict) else None,
                                source=rel)
        except SpecError as err:
            records[rel] = err
            continue
        records[rel] = rec
        for out in rec.get("outputs", {}):
            by_output[out] = rel
    return records, by_output


def _is_artifact(path: Path, results: Path, layout: Layout) -> bool:
    """All files but the layout's ``ignored``, DVC's .gitignore files and half-written files
    (:func:`.files.atomic_path`'s temporary names)."""
    return not (matches(path.relative_to(results), layout.ignored) or path.name == ".gitignore"
                or (path.name.startswith(".") and path.name.endswith(".tmp")))


def _lineage(rel: str, current: str, records: dict, by_output: dict, root: Path) -> str:
    if rel not in by_output:
        return "no provenance record lists it as an output"
    rec = records[by_output[rel]]
    if rec["outputs"][rel] != current:
        written = str(rec["outputs"][rel])[:12]
        return f"content differs from its provenance record {by_output[rel]} (sha256 {written}...)"
    for parent, recorded in rec.get("inputs", {}).items():
        if recorded is None:
            return f"its parent {parent} did not exist when it was made"
        if parent in by_output:
            written = records[by_output[parent]]["outputs"][parent]
            if written != recorded:
                return f"made from another version of its parent {parent} than the one recorded now"
        elif not (root / parent).is_file() or file_digest(root / parent) != recorded:
            return f"its parent {parent} changed after it was made"
    return "ok"


def _table_check(rec: dict, rel: str, root: Path) -> str:
    """Recompute the table (or plotted-data) file ``rel`` from what its record says it was made
    of: the metrics and benchmark files, or the library call's recorded ``arguments`` (paths in
    them are relative to the project root)."""
    from .files import to_csv
    from .report.figures import figure_tables
    from .report.tables import t1_of_run, t5_search_cost, write_experiment_tables, write_table

    metrics = [str(root / p) for p in rec.get("inputs", {}) if p.endswith(METRICS)]
    name = Path(rel).name
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        check = rec.get("check")
        if check == "experiment_tables":
            with contextlib.chdir(root):
                write_experiment_tables(rec["arguments"], tmp)
        elif check == "figure_data":
            if not name.endswith(".csv"):
                return "ok"
            with contextlib.chdir(root):
                rows = figure_tables(rec["arguments"])[Path(name).stem]
            (tmp / name).write_text(to_csv(rows))
        elif check == "t1_t5_tables" and name.startswith("t1_imagenet."):
            params = rec["params"]
            write_table(t1_of_run(metrics, _nas_budget(params), params["paper_comparison"]), tmp / "t1_imagenet")
        elif check == "t1_t5_tables" and name.startswith("t5_search_cost."):
            args = rec["arguments"]
            with contextlib.chdir(root):
                write_table(t5_search_cost(args["stages"], args["device"]), tmp / "t5_search_cost")
        else:
            return "ok"
        if (tmp / name).read_bytes() != (root / rel).read_bytes():
            return "differs from the table recomputed from the metrics it was made from"
    return "ok"


def _nas_budget(params: dict) -> int:
    from .arch.backbone import get_backbone
    from .arch.counter import madds_budget

    nas = params["nas"] if "nas" in params else {"budget_madds": params["nas.budget_madds"],
                                                  "budget_ratio": params["nas.budget_ratio"]}
    return madds_budget(get_backbone(params["backbone"]).reference_network(), nas.get("budget_madds"),
                        nas.get("budget_ratio"))


def _validity(path: Path, rel: str, rec: dict | None, root: Path) -> str:
    """Whether the artifact is what its name says, as far as it can be checked alone."""
    from .arch.backbone import get_backbone
    from .arch.cells import CellSpace
    from .arch.counter import network_cost
    from .arch.space import load_space
    from .arch.spec import load_spec
    from .search.evolution.population import load_population

    name = path.name
    if name.endswith(".pt"):
        load_checkpoint(path)
    elif name.endswith((".yaml", ".yml")):
        try:
            yaml.safe_load(path.read_text())
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise SpecError("yaml", f"not valid YAML ({err.__class__.__name__})", source=rel) from None
    elif name.endswith(".json"):
        read_json(path, "json")
    if rec is None:
        return "ok"
    params, check = rec.get("params", {}), rec.get("check")
    if check is not None and check not in CHECKS:
        return f"its provenance record asks for an unknown check {check!r} (known: {', '.join(CHECKS)})"
    if name == POPULATION:
        load_population(path, get_backbone(params["backbone"]), CellSpace.from_dict(params["cell_space"]))
    elif check == "space":
        load_space(path, get_backbone(params["backbone"]))
    elif name == ARCH:
        madds = network_cost(load_spec(path)).madds
        budget = _nas_budget(params)
        if madds > budget:
            return f"{madds} MAdds, over the NAS budget of {budget}"
        recorded = read_json(path.parent / NAS_REPORT, "nas").get("madds")
        if recorded != madds:
            return f"{madds} MAdds, but nas.json records {recorded}"
    elif check == "evaluation" and name == METRICS:
        arch = next(p for p in rec["inputs"] if p.endswith(ARCH))
        cost = network_cost(load_spec(root / arch))
        metrics = read_json(path, "metrics")
        if (metrics.get("madds"), metrics.get("params")) != (cost.madds, cost.params):
            return f"MAdds/params differ from its architecture {arch}"
        if not 0.0 <= float(metrics.get("top1", -1)) <= 1.0:
            return "top1 is not a fraction in [0, 1]"
    elif check in ("experiment_tables", "figure_data", "t1_t5_tables"):
        return _table_check(rec, rel, root)
    return "ok"


def audit(results_dir: str | Path, layout: Layout, dvc: bool = True, only: list[str] | None = None) -> dict:
    """Audit ``results_dir``, one experiment's results folder laid out as ``layout`` says.
    ``only``: audit just these artifact paths (relative to the project root) and the records of
    their jobs, instead of every file found or recorded. Returns the report (see
    :func:`write_report`)."""
    results = Path(results_dir).resolve()
    if not results.is_dir():
        raise SpecError("results", "not a folder", source=str(results_dir))
    root = (results / layout.root).resolve()
    records, by_output = _records(results, root, layout)
    lock = dvc_records(root / "dvc.lock") if dvc else {}
    prefix = str(results.relative_to(root)) + "/"
    if only is None:
        paths = {str(p.relative_to(root)) for p in results.rglob("*")
                 if p.is_file() and _is_artifact(p, results, layout)}
        paths |= {p for p in [*lock, *by_output] if p.startswith(prefix)}
    else:
        paths = set(only) | {by_output[p] for p in only if p in by_output}
    artifacts = []
    for rel in sorted(paths):
        path = root / rel
        entry = {"path": rel, "sha256": None, "checks": {}}
        artifacts.append(entry)
        if not path.is_file():
            entry["checks"]["exists"] = "recorded but missing"
            continue
        entry["sha256"] = current = file_digest(path)
        checks = entry["checks"]
        inner = Path(rel[len(prefix):])
        if dvc and not matches(inner, layout.outside_dvc):
            out = lock.get(rel)
            checks["dvc"] = ("not recorded in dvc.lock" if out is None
                             else "ok" if (out.get("md5"), out.get("size")) == (file_digest(path, "md5"), path.stat().st_size)
                             else f"content differs from dvc.lock (md5 {out.get('md5')})")
        if isinstance(records.get(rel), SpecError):
            checks["validity"] = str(records[rel])
            continue
        if not matches(inner, layout.unrecorded):
            checks["lineage"] = _lineage(rel, current, records, by_output, root)
        rec = records.get(by_output.get(rel))
        if rec is not None and rec.get("code", {}).get("dirty"):
            entry["note"] = "made from uncommitted code"
        try:
            checks["validity"] = _validity(path, rel, rec if checks.get("lineage") == "ok" else None, root)
        except (SpecError, KeyError, ValueError, StopIteration) as err:
            checks["validity"] = str(err) if isinstance(err, SpecError) else f"{err.__class__.__name__}: {err}"
    for entry in artifacts:
        entry["ok"] = all(v == "ok" for v in entry["checks"].values())
    failures = {e["path"]: [f"{k}: {v}" for k, v in e["checks"].items() if v != "ok"] for e in artifacts if not e["ok"]}
    return {"format": "autospace-audit/1", "results": prefix.rstrip("/"), "dvc": dvc,
            "ok": not failures, "artifacts": artifacts, "failures": failures}


def summary(report: dict) -> str:
    """The report as Markdown: the verdict, the failing artifacts, then every artifact's checks."""
    lines = [f"# Audit of {report['results']}", "",
             f"{len(report['artifacts'])} artifacts, {len(report['failures'])} failing "
             f"(DVC records {'checked' if report['dvc'] else 'not checked'}).", ""]
    if report["failures"]:
        lines += ["## Failing", ""] + [f"- `{p}`: {'; '.join(r)}" for p, r in report["failures"].items()] + [""]
    names = ("dvc", "lineage", "validity")
    lines += ["## Artifacts", "", "| artifact | " + " | ".join(names) + " | note |",
              "|---|" + "---|" * (len(names) + 1)]
    for e in report["artifacts"]:
        cells = [e["checks"].get(n, "n/a").replace("|", "/") for n in names]
        if "exists" in e["checks"]:
            cells[0] = e["checks"]["exists"]
        lines.append(f"| `{e['path']}` | " + " | ".join(cells) + f" | {e.get('note', '')} |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, json_path: str | Path, md_path: str | Path) -> None:
    write_json(json_path, report)
    write_text(md_path, summary(report))


def failure_lines(report: dict) -> list[str]:
    """One line per failing artifact: ``<path>: <check>: <reason>; ...``."""
    return [f"{p}: {'; '.join(r)}" for p, r in report["failures"].items()]

