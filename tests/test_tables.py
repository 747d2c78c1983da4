"""The regenerated tables against what they were made from."""

import csv
import json
import statistics

import pytest

from autospace.report import tables
from autospace.arch.builder import build_network
from autospace.engine.profile import hook_cost
from autospace.arch.zoo import BUILTIN

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def test_paper_numbers_have_sources():
    paper = tables.paper_numbers()
    assert paper["headline"]["top1"] == 77.8
    for entry in paper["imagenet"]:
        assert entry["source"] and entry["model"]
        assert entry["spec"] is None or entry["spec"] in BUILTIN


def test_t1_puts_recomputed_counts_beside_the_papers():
    rows = {r["model"]: r for r in tables.t1_imagenet()}
    paper = {e["model"]: e for e in tables.paper_numbers()["imagenet"]}
    for model, row in rows.items():
        assert row["params_m_paper"] == paper[model]["params_m"]
        assert row["madds_m_paper"] == paper[model]["madds_m"] and row["top1_paper"] == paper[model]["top1"]
        assert row["top1_ours"] == tables.NOT_RUN == row["top1_diff"]
        if paper[model]["spec"] is None:
            assert row["params_m_ours"] == tables.NO_SPEC == row["madds_m_diff"]
            continue
        spec = BUILTIN[paper[model]["spec"]]()
        measured = hook_cost(build_network(spec), (3, 224, 224))
        assert row["params_m_ours"] == round(measured.params / 1e6, 2)
        assert row["madds_m_ours"] == round(measured.madds / 1e6, 1)
        assert row["madds_m_diff"] == round(row["madds_m_ours"] - row["madds_m_paper"], 1)
        # our specs reproduce the published counts to within 1% (MAdds) and 0.1M (params)
        assert abs(row["madds_m_diff"]) / row["madds_m_paper"] < 0.011
        assert abs(row["params_m_diff"]) <= 0.1


def test_t1_of_a_run_not_declared_imagenet_says_not_compared(tmp_path):
    metrics = tmp_path / "metrics.json"
    metrics.write_text('{"space": "learned", "top1": 0.9}')
    rows = tables.t1_of_run([metrics], 340_000_000, "none")
    assert {r["top1_ours"] for r in rows} == {tables.NOT_COMPARED} == {r["top1_diff"] for r in rows}
    compared = {r["model"]: r for r in tables.t1_of_run([metrics], 340_000_000, "imagenet")}
    assert compared["AutoSpace-PNAS 340M"]["top1_ours"] == 90.0
    assert compared["EfficientNet-B0"]["top1_ours"] == tables.NOT_RUN


def test_t1_takes_this_runs_top1():
    rows = {r["model"]: r for r in tables.t1_imagenet({"AutoSpace-PNAS 340M": 70.05})}
    assert rows["AutoSpace-PNAS 340M"]["top1_ours"] == 70.05
    assert rows["AutoSpace-PNAS 340M"]["top1_diff"] == round(70.05 - 75.3, 2)


def test_trained_top1_maps_a_budget_to_its_row(tmp_path):
    files = []
    for seed, top1 in enumerate((0.70, 0.72)):
        path = tmp_path / f"m{seed}.json"
        path.write_text(f'{{"space": "learned", "top1": {top1}}}')
        files.append(path)
    assert tables.trained_top1(files, 340_000_000) == {"AutoSpace-PNAS 340M": 71.0}
    assert tables.trained_top1(files, 123_000_000) == {}


def test_t5_sums_the_benchmark_files(tmp_path):
    runs = {"nas": [(10.0, 8.0, 100.0), (20.0, 18.0, 300.0)], "train": [(3600.0, 3000.0, 50.0)]}
    for stage, values in runs.items():
        (tmp_path / stage).mkdir()
        for k, (s, cpu, rss) in enumerate(values):
            (tmp_path / stage / f"j{k}.tsv").write_text(
                HEADER + f"{s}\t0:00:10\t{rss}\t1\t1\t1\t0\t0\t50\t{cpu}\n")
    stages = [[stage, tmp_path / stage] for stage in ("warmup", "nas", "train")]  # no warmup jobs: no row
    rows = {r["stage"]: r for r in tables.t5_search_cost(stages, "cpu")}
    assert set(rows) == {"nas", "train"}
    assert rows["nas"]["jobs"] == 2 and rows["nas"]["wall_hours"] == round(30 / 3600, 4)
    assert rows["nas"]["cpu_hours"] == round(26 / 3600, 4) and rows["nas"]["max_rss_mb"] == 300.0
    assert rows["train"]["wall_hours"] == 1.0 and rows["train"]["gpu_hours"] == "not run: CPU only"
    assert [r["stage"] for r in tables.t5_search_cost(stages, "cpu")] == ["nas", "train"]  # the stages' order
    assert tables.t5_search_cost(stages, "cuda")[1]["gpu_hours"] == 1.0


def test_tables_are_written_in_three_formats(tmp_path):
    rows = tables.t1_imagenet()
    tables.write_table(rows, tmp_path / "t1")
    with open(tmp_path / "t1.csv", newline="") as f:
        assert [r["model"] for r in csv.DictReader(f)] == [r["model"] for r in rows]
    assert "| MobileNetV2 1.0 |" in (tmp_path / "t1.md").read_text()
    tex = (tmp_path / "t1.tex").read_text()
    assert tex.startswith(r"\begin{tabular}") and r"params\_m\_paper" in tex and "&" in tex


@pytest.mark.parametrize("value,escaped", [("a_b", r"a\_b"), ("50%", r"50\%"), ("x & y", r"x \& y")])
def test_latex_escapes(value, escaped):
    assert tables._tex(value) == escaped


def _metrics(tmp_path, name, **values):
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(values))
    return path


def test_t2_compares_an_imagenet_run_with_the_papers_entries(tmp_path):
    files = [_metrics(tmp_path, f"{space}{seed}", space=space, algorithm="proxyless", seed=seed,
                      top1=top1, madds=madds, params=4_000_000)
             for space, seed, top1, madds in (("learned", 0, 0.70, 339e6), ("learned", 1, 0.72, 337e6),
                                              ("proxylessnas", 0, 0.71, 330e6), ("reference", 0, 0.69, 340e6))]
    rows = {r["space"]: r for r in tables.t2_spaces(files, 340_000_000, paper_comparison="imagenet")}
    learned = rows["learned"]
    assert learned["seeds"] == 2 and learned["top1_mean"] == 71.0
    assert learned["top1_std"] == round(statistics.stdev([70.0, 72.0]), 2) and learned["madds_m_mean"] == 338.0
    assert learned["top1_paper"] == 75.3 and learned["top1_diff"] == round(71.0 - 75.3, 2)
    assert rows["proxylessnas"]["top1_paper"] == 74.6 and rows["proxylessnas"]["madds_m_diff"] == 10.0
    assert rows["reference"]["top1_paper"] == tables.NOT_REPORTED == rows["reference"]["top1_diff"]
    # not declared as ImageNet (whatever its loader): every paper column says why it is empty
    small = {r["space"]: r for r in tables.t2_spaces(files, 8_000_000, paper_comparison="none")}
    for row in small.values():
        paper = {k: v for k, v in row.items() if k.endswith(("_paper", "_diff")) or k == "paper_source"}
        assert len(paper) == 7 and set(paper.values()) == {tables.NOT_COMPARED}, row
    assert tables.NOT_COMPARED.startswith("– (not compared: paper_comparison is none")



def test_t2_carries_the_interval_and_the_test_of_learned_against_each_space(tmp_path):
    top1 = {"learned": [0.80, 0.82, 0.81], "proxylessnas": [0.70, 0.71, 0.69], "reference": [0.85, 0.86, 0.84],
            "random": [0.80]}
    files = [_metrics(tmp_path, f"{space}{seed}", space=space, algorithm="proxyless", seed=seed, top1=t,
                      madds=5e6, params=1e5)
             for space, values in top1.items() for seed, t in enumerate(values)]
    rows = {r["space"]: r for r in tables.t2_spaces(files, 8_000_000, paper_comparison="none")}
    learned, worse, better = rows["learned"], rows["proxylessnas"], rows["reference"]
    assert learned["top1_ci_lo"] < learned["top1_mean"] < learned["top1_ci_hi"]
    assert learned["verdict"] == learned["p_learned_better"] == "– (the learned space itself)"
    assert worse["learned_gain"] == 11.0 and worse["verdict"] == "shown" and worse["p_learned_better"] < 0.01
    assert worse["learned_gain_ci_lo"] < 11.0 < worse["learned_gain_ci_hi"]
    assert better["learned_gain"] == -4.0 and better["verdict"] == "contradicted" and better["p_learned_better"] > 0.99
    one = rows["random"]  # one seed: no interval, no test, and the table says so
    assert one["top1_ci_lo"] == tables.stats.ONE_SEED and one["verdict"] == tables.stats.NO_TEST
    assert one["learned_gain"] == 1.0

def _space(tmp_path, madds):
    path = tmp_path / "space.json"
    path.write_text(json.dumps({"layers": [{"candidates": [{"madds": m} for m in layer]} for layer in madds]}))
    return path


def test_t3_has_every_paper_point_and_says_what_was_not_run(tmp_path):
    run = {"name": "madds_340", "budget_madds": 340_000_000, "space": _space(tmp_path, [[100, 300], [200]]),
           "metrics": [_metrics(tmp_path, "m", space="learned", algorithm="proxyless", seed=0, top1=0.7,
                                madds=330e6, params=4.2e6)]}
    rows = {r["paper_point_m"]: r for r in tables.t3_budgets({340: run}, paper_comparison="imagenet")}
    assert sorted(rows) == [175, 340, 430, 570, 650]
    assert rows[340]["space_mean_cell_madds_k"] == 0.2 and rows[340]["top1_mean"] == 70.0
    assert rows[340]["top1_diff"] == round(70.0 - 75.3, 2) and rows[340]["params_m_paper"] == 4.3
    assert rows[175]["variant"] == tables.NOT_IN_GRID and "full-grid.yaml" in tables.NOT_IN_GRID
    assert rows[175]["budget_m"] == tables.NOT_RUN == rows[175]["top1_mean"] == rows[175]["top1_diff"]
    assert all(v != "" and v is not None for r in rows.values() for v in r.values())
    mine = {r["paper_point_m"]: r for r in tables.t3_budgets({340: run}, paper_comparison="none")}
    assert mine[340]["top1_mean"] == 70.0 and mine[340]["params_m_paper"] == tables.NOT_COMPARED
    assert mine[340]["top1_diff"] == tables.NOT_COMPARED == mine[175]["paper_source"]


def test_t4_compares_each_ablation_with_the_default_on_the_same_seeds(tmp_path):
    default = [_metrics(tmp_path, f"d{s}", space="learned", algorithm="proxyless", seed=s, top1=t, madds=5e6,
                        params=1e5) for s, t in ((0, 0.80), (1, 0.90))]
    ablation = [_metrics(tmp_path, "a0", space="learned", algorithm="proxyless", seed=0, top1=0.75, madds=4e6,
                         params=1e5)]
    rows = tables.t4_ablations(default, {"no_reference": {"overrides": {"evolution.reference": "none"},
                                                         "metrics": ablation},
                                         "k_2": {"overrides": {"evolution.sample_size": 2}, "metrics": []}})
    assert [r["variant"] for r in rows] == ["default", "no_reference", "k_2"]
    assert rows[0]["top1_mean"] == 85.0 and rows[1]["top1_vs_default"] == -5.0
    assert rows[1]["overrides"] == "evolution.reference=none" and rows[1]["paper"] == tables.NOT_REPORTED
    assert rows[2]["top1_mean"] == tables.NOT_RUN == rows[2]["top1_vs_default"]


def test_data_splits_and_nas_choices(tmp_path):
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"dataset": "fashion_mnist", "seed": 0, "search_train": [1, 2], "search_val": [3],
                                 "train": [1, 2, 3], "test": [4, 5]}))
    assert [(r["split"], r["images"]) for r in tables.data_splits(split)] == [
        ("search_train", 2), ("search_val", 1), ("train", 3), ("test", 2)]
    nas = _metrics(tmp_path, "nas", algorithm="proxyless", budget_madds=8e6, band_floor_madds=7.2e6, madds=7.5e6,
                   in_band=True, repair_swaps=[{}], layers=[{"chosen": "ab12"}, {"chosen": "zero"}])
    (row,) = tables.nas_choices({"main/learned/seed_0": nas})
    assert row == {"run": "main/learned/seed_0", "algorithm": "proxyless", "budget_m": 8.0, "band_floor_m": 7.2,
                   "madds_m": 7.5, "in_band": "yes", "repair_swaps": 1, "chosen": "ab12 zero"}
