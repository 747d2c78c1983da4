"""The library's import structure: no module of ``autospace`` imports, directly or through
others, a module that imports it back (imports inside functions count too: they are cycles
deferred, not removed), and the modules the workflow needs to parse its rules do not need torch."""

import ast
import os
import subprocess
from pathlib import Path

import pytest
import yaml

from workflow_helpers import BIN, TINY, env, project_copy


PACKAGE = Path(__file__).resolve().parent.parent / "autospace"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, modules: set[str]) -> set[str]:
    """The ``autospace`` modules that the file at ``path`` imports, anywhere in it."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found |= {f"{target}.{a.name}" if f"{target}.{a.name}" in modules else target for a in node.names}
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: imports(path, set(paths)) for name, path in paths.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_autospace():
    graph = import_graph()
    assert {"autospace.report.tables", "autospace.files", "autospace.provenance"} <= set(graph)
    assert cycles(graph) == []


@pytest.mark.workflow
def test_the_workflow_parses_without_torch(tmp_path):
    """``snakemake -n`` plans the default workflow and refuses a bad config by its key with a
    torch that cannot be imported: the parse-time config check is torch-free, so a driver
    environment without torch (envs/workflow.yaml) can plan and submit the jobs."""
    fake = tmp_path / "notorch"
    for name in ("torch", "torchvision"):
        (fake / name).mkdir(parents=True)
        (fake / name / "__init__.py").write_text(f"raise ImportError('no {name} in this environment (test)')\n")
    project = project_copy(tmp_path / "repo")
    run_env = {**env(), "PYTHONPATH": f"{fake}{os.pathsep}{project}"}

    def plan(*args):
        return subprocess.run([str(BIN / "snakemake"), "-n", "--cores", "1", *args], cwd=project, env=run_env,
                              capture_output=True, text=True, timeout=600)

    proc = plan()
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0 and "no torch in this environment" not in out, out[-3000:]
    assert "rule train:" in out and "rule audit:" in out, out[-3000:]
    (project / "bad.yaml").write_text(yaml.safe_dump({"train": {"lr": -1.0}}))
    proc = plan("--configfile", TINY, "bad.yaml")
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "no torch in this environment" not in out, out[-3000:]
    assert f"{project / TINY}, {project / 'bad.yaml'}: train.lr: " in out, out[-3000:]


def test_the_library_names_no_workflow_rule():
    """The library knows checks, stages and config sections, not the workflow's rules: no string
    constant in ``autospace/`` is the name of a rule (the audit's checks come from the records'
    ``check``, T5's stages from the workflow). Left out: rule names that are also the library's own
    words: config sections and keys (``nas``, ``train``, ``evaluate``, ``warmup``) and the CLI's
    subcommand and report folders (``audit``, ``tables``, ``figures``)."""
    import re

    rules = set()
    for smk in (PACKAGE.parent / "workflow/rules").glob("*.smk"):
        rules |= set(re.findall(r"^rule (\w+):", smk.read_text(), re.M))
    own_words = {"nas", "train", "evaluate", "warmup", "audit", "tables", "figures"}
    assert {"prepare_data", "evolve", "export_space", "hand_space", "paper_tables"} <= rules - own_words
    found = [f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}"
             for path in sorted(PACKAGE.rglob("*.py")) for node in ast.walk(ast.parse(path.read_text()))
             if isinstance(node, ast.Constant) and node.value in rules - own_words]
    assert not found, found


def test_the_library_names_no_results_folder():
    """The results layout is the workflow's (workflow/layout.py): no string constant in
    ``autospace/`` is a path through one of its folders (``provenance/...``, ``tables/...``), nor
    one of its folder names that are not also the library's own words (config sections and keys,
    report names): the audit gets them as an ``audit.Layout``, the summary lives in the workflow."""
    import re
    import sys

    sys.path.insert(0, str(PACKAGE.parent / "workflow"))
    import layout as L

    templates = (L.RESULTS, L.DATA, L.WARMUP, L.GEN, L.SPACE_HAND, L.NAS, L.TRAIN, L.TABLES, L.FIGURES, L.LOGS,
                 L.BENCH, L.PROVENANCE, L.STATE, L.VARIANT)
    folders = {s for t in templates for s in t.split("/") if s and "{" not in s}
    own_words = {"data", "warmup", "nas", "train", "spaces", "variants", "tables", "figures", "results"}
    assert {"provenance", "benchmarks", ".state", "logs", "search"} <= folders - own_words
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Constant) and isinstance(node.value, str)) or len(node.value) > 80:
                continue
            parts = [p for p in re.split(r"[/\\]", node.value)]
            if (len(parts) > 1 and folders & set(parts)) or node.value in folders - own_words:
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: {node.value!r}")
    assert not found, found


#: The library's layers, bottom up: a module imports only from its own layer and those below
#: (by its first name under ``autospace``; the package's own ``__init__`` is the top).
LAYERS = (
    ("errors", "files", "options", "outputs", "runtime", "provenance", "variants"),  # foundations
    ("arch",),  # cells, specs, builder, counter, backbones, zoo, spaces, the supernet
    ("sections",),  # the data/engine option tables, checked against the architecture
    ("data",),
    ("engine",),
    ("search",),  # evolution, nas
    ("report",),  # tables, figures, statistics, the in-process comparison
    ("runconfig", "schema", "audit", "cli"),  # the whole config, the audit, the command line
)


def layer(module: str) -> int:
    first = module.split(".")[1] if "." in module else None
    found = [i for i, names in enumerate(LAYERS) if first in names]
    assert found, f"{module} is in no layer of LAYERS"
    return found[0]


def test_no_module_imports_from_a_layer_above_it():
    graph = import_graph()
    assert {"autospace.arch.builder", "autospace.engine.loop", "autospace.search.evolution.steps",
            "autospace.report.tables"} <= set(graph)
    upward = [f"{a} (layer {layer(a)}) imports {b} (layer {layer(b)})" for a, deps in sorted(graph.items())
              if a != "autospace" for b in sorted(deps) if b != "autospace" and layer(b) > layer(a)]
    assert not upward, upward
