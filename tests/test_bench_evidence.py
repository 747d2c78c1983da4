"""The evidence benchmark (benchmarks/bench_evidence.py, issue #16) at its smoke size: every
experiment runs end to end, its tables are the statistics of its own runs, NAS and the random
architectures land in the MAdds band, a rerun keeps finished runs, and the GPU size skips
cleanly without CUDA. (What the numbers say is for the cpu size, in docs/benchmarks.md.)"""

import statistics

import pytest
import torch

from autospace.report import stats
from autospace.arch.backbone import get_backbone
from autospace.arch.spec import load_spec
from benchmarks import bench_evidence as bench

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("evidence")
    return out, bench.run("smoke", str(out), write_doc=False)


def test_every_experiment_has_its_runs_and_its_statistics(smoke):
    out, ev = smoke
    size = bench.SIZES["smoke"]
    for part, runs, n in (("nas", "nas_runs", len(size["nas_seeds"])),
                          ("random", "random_runs", size["random_per_space"])):
        assert set(ev[part]) == {"learned", "proxylessnas", "reference"}
        for space, entry in ev[part].items():
            top1 = [r["top1"] for r in ev[runs][space]]
            assert entry["n"] == n == len(top1)
            assert entry["mean"] == pytest.approx(statistics.fmean(top1))
            assert entry["ci"] == pytest.approx(stats.mean_ci(top1))
            assert min(top1) >= 40.0, (part, space, top1)  # trained networks (chance is 10 %)
            # the acceptance: every network of every space lies in [band * T, T]
            assert entry["in_band"] == n and all(r["in_band"] for r in ev[runs][space])
            if space != "learned":
                assert entry["verdict"] in ("shown", "inconclusive", "contradicted", stats.NO_TEST)
    rows = [(s, r) for s, rs in ev["random_runs"].items() for r in rs]
    fit = stats.ols([r["top1"] for _, r in rows],
                    {"space=proxylessnas": [float(s == "proxylessnas") for s, _ in rows],
                     "space=reference": [float(s == "reference") for s, _ in rows],
                     "madds_m": [r["madds"] / 1e6 for _, r in rows]})
    assert set(ev["random_regression"]) == set(fit) == {"intercept", "space=proxylessnas", "space=reference", "madds_m"}
    for term, coefficient in fit.items():
        assert ev["random_regression"][term] == pytest.approx(coefficient)


def test_the_fitness_check_trains_cells_of_one_layer_across_its_fitness_range(smoke):
    out, ev = smoke
    backbone = get_backbone(bench.BACKBONE)
    reference = backbone.reference_network()
    assert [t["rule"] for t in ev["fitness_validity"]] == [bench.OLD_RULE, bench.NEW_RULE]
    for t in ev["fitness_validity"]:
        cells = t["cells"]
        assert 3 <= len(cells) <= bench.SIZES["smoke"]["tau_cells"]
        assert len({c["cell"] for c in cells}) == len(cells)
        assert [c["fitness"] for c in cells] == sorted(c["fitness"] for c in cells)
        assert all(c["times_sampled"] >= 1 for c in cells) and min(c["top1"] for c in cells) >= 40.0
        assert t["tau"] == stats.kendall_tau([c["fitness"] for c in cells], [c["top1"] for c in cells])
        for arch in (out / "tau" / t["rule"]).glob("*/arch.json"):  # the reference network, one layer changed
            blocks = [b for stage in load_spec(arch).stages for b in stage.blocks]
            ref = [b for stage in reference.stages for b in stage.blocks]
            changed = [i for i, (a, b) in enumerate(zip(blocks, ref)) if a != b]
            assert changed == [backbone.searchable[t["layer"]]]


def test_the_report_and_a_rerun_that_keeps_finished_runs(smoke):
    out, ev = smoke
    text = bench.report(ev, out)
    for heading in ("Fitness validity", "ProxylessNAS in each space", "Random architectures in the band",
                    "Regression of top-1"):
        assert heading in text
    assert text.count("| learned |") == 2 and "Kendall tau" in text
    metrics = sorted(out.glob("*/*/seed*/metrics.json")) + sorted(out.glob("tau/*/*/metrics.json"))
    size = bench.SIZES["smoke"]
    metrics += sorted(out.glob("noise/seed*/metrics.json"))
    assert len(metrics) == 3 * (len(size["nas_seeds"]) + size["random_per_space"]) + sum(
        len(t["cells"]) for t in ev["fitness_validity"]) + size["noise_seeds"]
    assert len(ev["noise"]["top1"]) == size["noise_seeds"] and ev["noise"]["sd"] == pytest.approx(
        statistics.stdev(ev["noise"]["top1"])) and "The yardstick" in text
    stamps = {p: p.stat().st_mtime_ns for p in metrics}
    again = bench.run("smoke", str(out), write_doc=False)
    assert {p: p.stat().st_mtime_ns for p in metrics} == stamps
    assert again["nas_runs"] == ev["nas_runs"] and again["random_runs"] == ev["random_runs"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA machine runs the GPU size for real")
def test_the_gpu_size_skips_cleanly_without_cuda(tmp_path, capsys):
    assert bench.run("gpu", str(tmp_path / "gpu"), write_doc=False) is None
    assert "skipped, CUDA is not available" in capsys.readouterr().out
    assert not (tmp_path / "gpu").exists()


def test_runs_in_two_processes_give_the_bytes_of_runs_in_one(smoke, tmp_path):
    """The cpu size runs two jobs at a time: a run's weights must not depend on that."""
    from autospace.report.compare import train_evaluate

    out, ev = smoke
    runs = sorted((out / "tau" / bench.NEW_RULE).glob("*/arch.json"))[:2]
    config = bench.run_config(bench.SIZES["smoke"], out / "data-small", bench.SIZES["smoke"]["small_train"])
    calls = [(train_evaluate, config, arch, 0, tmp_path / arch.parent.name, {}) for arch in runs]
    assert bench.in_parallel(2, calls) == [tmp_path / arch.parent.name / "metrics.json" for arch in runs]
    for arch in runs:
        assert (tmp_path / arch.parent.name / "train/model.pt").read_bytes() == (arch.parent / "train/model.pt").read_bytes()
