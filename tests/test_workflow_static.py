"""The workflow without running it: lint, dry runs, config validation, envs, dvc.yaml in sync."""

import re
import subprocess
import sys

import pytest
import yaml
from packaging.requirements import Requirement

from autospace.runconfig import config_error
from workflow_helpers import BIN, REPO, env, merged_config, snakemake

sys.path.insert(0, str(REPO / "workflow"))
import layout as L  # noqa: E402

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())
CONFIG = yaml.safe_load((REPO / "config/config.yaml").read_text())

pytestmark = pytest.mark.workflow


def test_lint_is_clean():
    proc = snakemake("--lint", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("configfile", [None, ".test/config/config.yaml", "config/imagenet.yaml"])
def test_dry_run(configfile):
    args = ["-n"] + (["--configfile", configfile] if configfile else [])
    out = snakemake(*args).stdout
    assert re.search(r"^total\s+\d+", out, re.M)


def test_snakemake_directory_dot_test_runs_the_tiny_config(tmp_path):
    """The Snakemake catalog's test layout: `snakemake --directory .test` takes the project's
    config/config.yaml overlaid by .test/config/config.yaml (the tiny config), plans the same jobs
    as `--configfile .test/config/config.yaml`, and writes under .test/."""
    from workflow_helpers import planned_jobs, project_copy

    repo = project_copy(tmp_path / "repo")
    in_test = snakemake("-n", "--directory", ".test", cwd=repo)
    overlay = snakemake("-n", "--configfile", ".test/config/config.yaml", cwd=repo)
    assert planned_jobs(in_test.stdout) == planned_jobs(overlay.stdout)
    assert planned_jobs(in_test.stdout)["evolve"] == 9  # the tiny config's 3 generations x 3 searches
    assert "results/tiny/search/gen_002/population.json" in in_test.stdout
    assert "results/fmnist" not in in_test.stdout


def test_default_config_is_valid():
    assert config_error(CONFIG, SCHEMA, "config/config.yaml") is None


# Malformed configs (and files) are tested through Snakemake in tests/test_bad_input.py.


def test_every_config_key_is_commented_and_required():
    lines = (REPO / "config/config.yaml").read_text().splitlines()
    for k, line in enumerate(lines):
        m = re.match(r"^(\s*)([A-Za-z_]+):", line)
        if not m:
            continue
        above = lines[k - 1].strip() if k else ""
        assert "#" in line or above.startswith("#"), \
            f"config/config.yaml line {k + 1}: key '{m.group(2)}' has no comment"

    def keys(schema, cfg, prefix=""):
        if schema.get("type") == "object" and "properties" in schema:
            assert set(schema["required"]) == set(schema["properties"]) == set(cfg), prefix
            for name, sub in schema["properties"].items():
                keys(sub, cfg[name], f"{prefix}{name}.")

    keys(SCHEMA, CONFIG)


def test_envs_are_pinned_and_agree_with_pyproject():
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    declared = [Requirement(r) for r in project["dependencies"]]
    declared += [Requirement(r) for extra in project["optional-dependencies"].values() for r in extra]
    by_name = {r.name.lower(): r for r in declared}
    for env_file in sorted((REPO / "envs").glob("*.yaml")):
        env = yaml.safe_load(env_file.read_text())
        assert env["channels"] and "defaults" not in env["channels"], env_file
        deps = env["dependencies"]
        assert any(str(d).startswith("python=3.11") for d in deps), env_file
        pip = next(d["pip"] for d in deps if isinstance(d, dict))
        for line in pip:
            req = Requirement(line)
            pins = [s for s in req.specifier if s.operator == "=="]
            assert len(pins) == 1, f"{env_file}: {line} is not pinned"
            version = pins[0].version
            if req.name.lower() in by_name:
                assert by_name[req.name.lower()].specifier.contains(version), \
                    f"{env_file}: {line} disagrees with pyproject ({by_name[req.name.lower()]})"


def test_every_rule_uses_a_pinned_env():
    text = "".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk"))
    rules = re.findall(r"^rule (\w+):", text, re.M)
    envs = re.findall(r'conda:\n\s+"([^"]+)"', text)
    assert len(envs) == len(rules) and all(e == "../../envs/autospace.yaml" for e in envs)


def test_dvc_jobs_file_is_current():
    """config/dvc-jobs.yaml (the jobs dvc.yaml's stages iterate over) is the one derived from
    config/config.yaml, and dvc.yaml resolves into one stage per job of the default pipeline."""
    proc = subprocess.run([sys.executable, "workflow/dvc_sync.py", "--check"], cwd=REPO, capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr
    listed = subprocess.run([str(BIN / "dvc"), "stage", "list", "--name-only"], cwd=REPO, env=env(),
                            capture_output=True, text=True)
    assert listed.returncode == 0, listed.stderr
    jobs = L.jobs(yaml.safe_load((REPO / "config/config.yaml").read_text()))
    assert len(listed.stdout.split()) == len(jobs)
    # the first stage's command, as `dvc repro` runs it (a dry run of the later ones needs their
    # inputs: DVC hashes a stage's deps even with --dry, treeverse/dvc#9021)
    dry = subprocess.run([str(BIN / "dvc"), "repro", "--dry", "prepare_data"], cwd=REPO, env=env(),
                         capture_output=True, text=True)
    assert dry.returncode == 0, dry.stderr
    assert "> snakemake results/fmnist/data/dataset.pt --cores all" in dry.stdout


def test_the_audit_layout_classifies_every_file_a_run_makes():
    """The audit knows the results layout only from the workflow (layout.audit_layout, a
    ``autospace.audit.Layout``): with the full grid's jobs, every job output is an artifact with a
    provenance record and a DVC record; every provenance record is a record; every benchmark file
    is an artifact without a record; the resolved configs are in neither; resumable state and the
    audit's own files are not artifacts."""
    from autospace.audit import Layout, matches

    cfg = merged_config("config/full-grid.yaml")
    exp = cfg["experiment"]
    layout = Layout.from_dict(L.audit_layout(exp))
    results = L.RESULTS.format(exp=exp) + "/"

    def inner(path):
        assert path.startswith(results), path
        return path[len(results):]

    jobs = L.jobs(cfg)
    assert any(job["exp"] != exp for job in jobs)  # variants too
    outputs = [inner(f) for job in jobs for f in job["output"]]
    assert not [f for f in outputs if matches(f, layout.ignored + layout.unrecorded + layout.outside_dvc)]
    for job in jobs:
        assert matches(inner(L.provenance_file(job)), layout.records), job
        assert matches(inner(L.benchmark_file(job)), layout.unrecorded), job
        assert not matches(inner(L.benchmark_file(job)), layout.records + layout.outside_dvc + layout.ignored)
    configs = [inner(L.RESOLVED_CONFIG.format(exp=e)) for e in {job["exp"] for job in jobs}]
    assert all(matches(c, layout.unrecorded) and matches(c, layout.outside_dvc) for c in configs)
    assert all(matches(inner(f"{L.STATE.format(exp=e)}/search/warmup/state.pt"), layout.ignored)
               for e in {job["exp"] for job in jobs})
    assert all(matches(name, layout.ignored) for name in L.AUDIT_FILES)
    assert (layout.root, layout.reports) == ("../..", L.AUDIT_FILES)
