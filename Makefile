# Quick start: `make run` (set up, then the default pipeline end to end) and `make test`.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check
# pip on this kind of machine prints one warning per missing local mirror folder: drop those lines
QUIET := 2>&1 | { grep -v 'is ignored: it is neither a file nor a directory' || true; }
CORES ?= all

.PHONY: setup data test test-fast run audit report bench evidence clean-venv

setup: $(VENV)/.installed data

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q torch==2.14.1 torchvision==0.29.1 $(QUIET)
	$(PIP) install -q -e '.[workflow,dev]' $(QUIET)
	touch $@

# Fashion-MNIST from Debian's package when we can install it; otherwise the pipeline falls back
# to torchvision's downloader (see README).
data:
	@if [ ! -d /usr/share/datasets/fashion-mnist ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  (apt-get install -y -qq dataset-fashion-mnist >/dev/null 2>&1 || \
	   (apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq dataset-fashion-mnist >/dev/null)) \
	  || echo "note: could not install dataset-fashion-mnist; the pipeline will try torchvision's downloader"; \
	fi

# pytest-xdist: TEST_WORKERS processes, a test file each at a time (the workflow runs the tests
# share are made once, in the background: tests/shared_runs.py)
TEST_WORKERS ?= 2
XDIST := -n $(TEST_WORKERS) --dist loadfile

test: setup
	CI=$${CI:-} $(PY) -m pytest -q $(XDIST) --durations=25

# the tests that run neither Snakemake nor DVC nor anything slow: a few minutes, for development
# (CI and `make test` run everything)
test-fast: setup
	$(PY) -m pytest -q $(XDIST) -m "not slow and not workflow and not slurm"

# the experiment config/config.yaml names (its results/<experiment>/)
EXPERIMENT = $(shell sed -n 's/^experiment: *//p' config/config.yaml)

# the pipeline, then a summary: the comparison table, where the tables, figures, audit and
# report are, and the wall time
run: setup
	@start=$$(date +%s); $(VENV)/bin/snakemake --cores $(CORES); \
	  $(PY) workflow/summary.py results/$(EXPERIMENT) --seconds $$(( $$(date +%s) - start ))
	@echo "Versions: dvc status / dvc push (see README)."

# the audit of the finished run against dvc.lock too (the pipeline's own audit rule runs before
# the run is recorded in dvc.lock): writes results/<experiment>/audit.json and audit.md
audit: setup
	$(PY) workflow/audit_run.py results/$(EXPERIMENT)

report: setup
	$(VENV)/bin/snakemake --report report.html
	@echo "Report: report.html"

bench: setup
	$(PY) -m benchmarks.run

# issue #16's evidence (fitness validity, the spaces at equal MAdds): about an hour on 2 CPU cores
# (EVIDENCE=gpu: the GPU size, skipped without CUDA); writes its section of docs/benchmarks.md
EVIDENCE ?= cpu
evidence: setup
	$(PY) -m benchmarks.run bench_evidence $(EVIDENCE)

clean-venv:
	rm -rf $(VENV)
