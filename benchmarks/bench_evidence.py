"""The evidence for the paper's claim on Fashion-MNIST (issue #16, items 2-4).

``python -m benchmarks.run bench_evidence [SIZE] [OUT_DIR] [FMNIST_ROOT]``; SIZE is ``cpu`` (the default:
about an hour on 2 CPU cores), ``gpu`` (one GPU; skipped with a message when CUDA is missing)
or ``smoke`` (minutes; what ``tests/test_bench_evidence.py`` runs). Three experiments, each with
its uncertainty (:mod:`autospace.report.stats`):

1. **Fitness validity**: for the old (``ema``) and the new (``ema_debiased``) fitness rule, one
   evolution; then ``tau_cells`` cells of one layer spanning its fitness range are trained
   stand-alone inside the reference network (that layer holds the cell, every other layer the
   reference cell; one training seed for all). Kendall's tau between fitness and test top-1,
   with a bootstrap 95 % interval, beside the spread one training's seed alone gives (the
   reference network trained with ``noise_seeds`` seeds) and Kendall's tau between fitness and
   how often each cell was sampled (the bias the debiased rule removes).
2. **NAS at equal MAdds**: ProxylessNAS in the learned space (one per evolution seed; NAS seed
   s uses evolution seed s mod E), the ProxylessNAS space and the reference-only space, with
   the same seeds (paired across spaces), budget, MAdds band (``nas.madds_band``) and recipe.
   Per space the mean top-1 with its 95 % interval, and learned minus each space with Welch's
   one-sided test (the T2 test).
3. **Random architectures at matched MAdds**: ``random_per_space`` uniform architectures per
   space with MAdds inside the band, the same recipe; per space the mean and interval, a
   one-sided Mann-Whitney test of learned > each space, and a least-squares regression of top-1
   on the space (indicators, learned the baseline) and MAdds.

Every run is kept in OUT_DIR (a finished one is not rerun), the numbers go to
``OUT_DIR/evidence.json``, and the ``evidence-<size>`` section of docs/benchmarks.md is written
from them: tables and verdicts (:func:`autospace.report.stats.verdict`).
"""

from __future__ import annotations

import json
import math
import multiprocessing
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from autospace.report import stats
from autospace.arch.backbone import get_backbone
from autospace.arch.cells import reference_cell
from autospace.report.compare import run_one, train_evaluate
from autospace.data.datasets import prepare_fashion_mnist
from autospace.search.evolution.config import SearchConfig
from autospace.search.evolution.population import load_population
from autospace.files import read_json, write_json, write_text
from autospace.report.tables import LEARNED

from .common import evolve, hand_spaces, last_generation, machine, write_section

BACKBONE = "fmnist_small"
#: The rule the comparison's learned spaces are evolved with (the library default), and the old one.
NEW_RULE, OLD_RULE = "ema_debiased", "ema"

#: ``data``: the data step's sizes (None: all of Fashion-MNIST's 60,000 / 10,000 images), for the
#: evolutions, NAS and the final training of the NAS comparison (``train``); ``small_train_size``
#: and ``small_train``: the cheaper data and recipe of the stand-alone cells (fitness validity)
#: and the random architectures; ``jobs``: runs at a time (:func:`in_parallel`).
SIZES = {
    "smoke": {  # the tiny config's recipe (.test/config/tiny.yaml), so that its networks learn
        "device": "cpu", "jobs": 1,
        "data": {"search_val_size": 200, "search_train_size": 400, "train_size": 400, "test_size": 200},
        "evolution": {"population_size": 8, "sample_size": 2, "tournament_size": 2, "generations": 2,
                      "export_top_k": 3, "batch_size": 64},
        "evolution_seeds": [0],
        "nas": {"epochs": 1, "warmup_epochs": 0, "batch_size": 64},
        "train": {"epochs": 4, "batch_size": 32, "lr": 0.1, "warmup_epochs": 0.5, "augmentation": "none",
                  "label_smoothing": 0.0},
        "nas_seeds": [0, 1],
        "small_train_size": 400,
        "small_train": {"epochs": 4, "batch_size": 32, "lr": 0.1, "warmup_epochs": 0.5, "augmentation": "none",
                        "label_smoothing": 0.0},
        "random_per_space": 2,
        "tau_cells": 3,
        "noise_seeds": 2,
    },
    "cpu": {
        "device": "cpu", "jobs": 2,
        "data": {"search_val_size": 500, "search_train_size": 1000, "train_size": None, "test_size": None},
        "evolution": {"population_size": 16, "sample_size": 4, "generations": 5},
        "evolution_seeds": [0, 1],
        "nas": {"epochs": 3, "warmup_epochs": 1},
        "train": {"epochs": 1, "batch_size": 128, "warmup_epochs": 0.1},
        "nas_seeds": [0, 1, 2, 3, 4],
        "small_train_size": 10000,
        "small_train": {"epochs": 2, "batch_size": 128, "warmup_epochs": 0.2},
        "random_per_space": 10,
        "tau_cells": 10,
        "noise_seeds": 5,
    },
    "gpu": {  # prepared, not yet run (no GPU lent): sized for about 8 min (85 epochs of 60,000
        # images at batch 256, 3 evolutions, 15 searches), an estimate, not a measurement
        "device": "cuda", "jobs": 1,
        "data": {"search_val_size": 2000, "search_train_size": 5000, "train_size": None, "test_size": None},
        "evolution": {"population_size": 16, "sample_size": 4, "generations": 5, "batch_size": 256},
        "evolution_seeds": [0, 1],
        "nas": {"epochs": 3, "warmup_epochs": 1, "batch_size": 256},
        "train": {"epochs": 2, "batch_size": 256, "warmup_epochs": 0.2},
        "nas_seeds": [0, 1, 2, 3, 4],
        "small_train_size": None,
        "small_train": {"epochs": 1, "batch_size": 256, "warmup_epochs": 0.1},
        "random_per_space": 10,
        "tau_cells": 10,
        "noise_seeds": 5,
    },
}
EVALUATE = {"latency_repeats": 5, "latency_warmup": 2}


def search_config(size: dict, seed: int, rule: str) -> dict:
    return {"seed": seed, "device": size["device"], "backbone": BACKBONE,
            "evolution": {**size["evolution"], "fitness_rule": rule}}


def run_config(size: dict, data_dir: Path, train: dict) -> dict:
    return {"backbone": BACKBONE, "device": size["device"], "data_dir": str(data_dir),
            "nas": size["nas"], "train": train, "evaluate": EVALUATE}


def top1_percent(metrics: Path) -> float:
    return 100 * read_json(metrics)["top1"]


def _top1(metrics: Path) -> dict:
    nas = metrics.parent / "nas" / "nas.json"
    return {"top1": top1_percent(metrics), "madds": read_json(metrics)["madds"],
            **({"in_band": read_json(nas)["in_band"]} if nas.exists() else {})}


# -- the jobs ------------------------------------------------------------------------------------

def in_parallel(jobs: int, calls: list[tuple]) -> list:
    """``[fn(*args) for fn, *args in calls]``, on ``jobs`` spawned processes when ``jobs`` > 1 (on
    2 CPU cores two one-thread trainings do 1.3x the work of one two-thread training). Every
    call is a self-contained, seeded run on one torch thread (:func:`run` sets it here, the
    initializer in a worker: CPU kernels sum in an order that depends on the thread count), so
    the results do not depend on ``jobs``."""
    if jobs <= 1:
        return [fn(*args) for fn, *args in calls]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(jobs, mp_context=context, initializer=torch.set_num_threads, initargs=(1,)) as pool:
        futures = [pool.submit(fn, *args) for fn, *args in calls]
        return [f.result() for f in futures]


def search_dir(out: Path, rule: str, seed: int) -> Path:
    return out / "search" / rule / f"seed{seed}"


# -- 1. fitness validity ---------------------------------------------------------------------------

def pick_layer_cells(search: dict, gen_dir: Path, count: int) -> tuple[int, list]:
    """Of the layers with at least ``count`` sampled evolved cells (if none has, those with the
    most), the one whose cells span the widest fitness range, and ``count`` of those cells
    evenly spaced in fitness rank (all of them when there are fewer)."""
    cfg = SearchConfig.from_dict(search)
    _, pops = load_population(gen_dir / "population.json", cfg.backbone, cfg.cell_space)
    sampled = [sorted((m for m in pop.members if m.times_sampled and not m.reference), key=lambda m: m.fitness)
               for pop in pops]

    def spread(l: int) -> float:
        return sampled[l][-1].fitness - sampled[l][0].fitness if len(sampled[l]) >= 2 else -1.0

    # among the layers with enough sampled cells (else those with the most), the widest; ties: the first
    enough = [l for l in range(len(sampled)) if len(sampled[l]) >= count] or \
        [l for l in range(len(sampled)) if len(sampled[l]) == max(map(len, sampled))]
    layer = max(enough, key=lambda l: (spread(l), -l))
    members = sampled[layer]
    if len(members) > count:
        members = [members[round(i * (len(members) - 1) / (count - 1))] for i in range(count)]
    return layer, members


def tau_jobs(size: dict, small_dir: Path, out: Path, rule: str) -> tuple[dict, list[tuple]]:
    """The cells of one evolution (``rule``, seed 0) to train stand-alone in the reference
    network, their architecture files written, and the training calls."""
    search = search_config(size, 0, rule)
    layer, members = pick_layer_cells(search, last_generation(search, search_dir(out, rule, 0)), size["tau_cells"])
    backbone = get_backbone(BACKBONE)
    config = run_config(size, small_dir, size["small_train"])
    calls, cells = [], []
    for m in members:
        blocks = [reference_cell()] * len(backbone.searchable)
        blocks[layer] = m.cell
        run = out / "tau" / rule / m.cell.id
        write_text(run / "arch.json", backbone.fill(blocks).dumps())
        calls.append((train_evaluate, config, run / "arch.json", 0, run, {"rule": rule, "cell": m.cell.id}))
        cells.append({"cell": str(m.cell), "fitness": m.fitness, "times_sampled": m.times_sampled})
    return {"rule": rule, "layer": layer, "cells": cells}, calls


def noise_jobs(size: dict, small_dir: Path, out: Path) -> list[tuple]:
    """The reference network trained with ``noise_seeds`` training seeds on the cells' recipe:
    how far one training's top-1 moves by its seed alone, the yardstick for the cells' spread."""
    run = out / "noise"
    write_text(run / "arch.json", get_backbone(BACKBONE).reference_network().dumps())
    config = run_config(size, small_dir, size["small_train"])
    return [(train_evaluate, config, run / "arch.json", seed, run / f"seed{seed}", {"noise": "reference"})
            for seed in range(size["noise_seeds"])]


def noise_result(metrics: list[Path]) -> dict:
    top1 = [top1_percent(path) for path in metrics]
    return {"top1": top1, "mean": statistics.fmean(top1), "sd": statistics.stdev(top1) if len(top1) > 1 else None}


def tau_result(plan: dict, metrics: list[Path]) -> dict:
    cells = [{**c, "top1": top1_percent(path)} for c, path in zip(plan["cells"], metrics)]
    fitness = [c["fitness"] for c in cells]
    return {**plan, "cells": cells, "tau": stats.kendall_tau(fitness, [c["top1"] for c in cells]),
            # the bias the debiased rule removes: fitness that follows how often a cell was sampled
            "tau_times_sampled": stats.kendall_tau(fitness, [float(c["times_sampled"]) for c in cells], boot=0)}


# -- 2. and 3. the spaces at equal MAdds -------------------------------------------------------------

def space_jobs(config: dict, out: Path, learned: list[Path], hand: dict[str, Path], algorithm: str,
               seeds: list[int]) -> list[tuple]:
    """``algorithm`` with every seed in every space (learned: evolution seed s mod E), as
    (space, seed, call)."""
    return [(name, seed, (run_one, config, name, path, algorithm, seed, out / algorithm / name / f"seed{seed}"))
            for seed in seeds for name, path in [(LEARNED, learned[seed % len(learned)]), *hand.items()]]


def space_results(jobs: list[tuple], metrics: list[Path]) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {}
    for (name, seed, _), path in zip(jobs, metrics):
        results.setdefault(name, []).append({"seed": seed, **_top1(path)})
    return results


def compare(results: dict[str, list[dict]], test) -> dict:
    """Per space n, mean, interval and MAdds; learned against each other space with ``test``."""
    learned = [r["top1"] for r in results[LEARNED]]
    table = {}
    for name, rows in results.items():
        top1 = [r["top1"] for r in rows]
        ci = stats.mean_ci(top1)
        entry = {"n": len(top1), "mean": statistics.fmean(top1), "ci": ci,
                 "madds_m": [min(r["madds"] for r in rows) / 1e6, max(r["madds"] for r in rows) / 1e6],
                 "in_band": sum(bool(r.get("in_band")) for r in rows)}
        if name != LEARNED:
            t = test(learned, top1)
            entry["learned_minus"] = t
            entry["verdict"] = stats.verdict(t)
        table[name] = entry
    return table


def regression(results: dict[str, list[dict]]) -> dict:
    """top-1 = b0 + b_space (one indicator per hand-designed space) + b_madds * MAdds (M)."""
    rows = [(name, r) for name, rs in results.items() for r in rs]
    columns = {f"space={name}": [float(n == name) for n, _ in rows] for name in results if name != LEARNED}
    columns["madds_m"] = [r["madds"] / 1e6 for _, r in rows]
    try:
        return stats.ols([r["top1"] for _, r in rows], columns)
    except ValueError as err:
        return {"error": str(err)}


# -- the report ----------------------------------------------------------------------------------

def _ci(ci) -> str:
    return "–" if ci is None else f"[{ci[0]:.2f}, {ci[1]:.2f}]"


def _num(x, fmt=".2f") -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, fmt)


def space_table(table: dict, p_name: str) -> str:
    lines = [f"| space | n | top-1 mean (%) | 95 % CI | MAdds (M), min-max | in band | learned minus (points) "
             f"| its 95 % CI | {p_name} | verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, e in table.items():
        t = e.get("learned_minus")
        diff = ("–", "–", "–") if t is None else (f"{t['diff']:+.2f}", _ci((t["lo"], t["hi"])), f"{t['p']:.3f}")
        lines.append(f"| {name} | {e['n']} | {e['mean']:.2f} | {_ci(e['ci'])} | {e['madds_m'][0]:.2f}-"
                     f"{e['madds_m'][1]:.2f} | {e['in_band']}/{e['n']} | {diff[0]} | {diff[1]} | {diff[2]} "
                     f"| {e.get('verdict', '(baseline)')} |")
    return "\n".join(lines)


def regression_table(reg: dict) -> str:
    if "error" in reg:
        return f"(no regression: {reg['error']})"
    lines = ["| term | estimate | 95 % CI | p (two-sided) |", "|---|---|---|---|"]
    for name, c in reg.items():
        lines.append(f"| {name} | {c['estimate']:+.3f} | {_ci((c['lo'], c['hi']))} | {c['p']:.3f} |")
    return "\n".join(lines)


def tau_table(taus: list[dict]) -> str:
    lines = ["| fitness rule | layer | cells | fitness range | top-1 range (%) | Kendall tau | 95 % bootstrap CI "
             "| p (tau > 0) | tau(fitness, times sampled) |", "|---|---|---|---|---|---|---|---|---|"]
    for t in taus:
        f = [c["fitness"] for c in t["cells"]]
        a = [c["top1"] for c in t["cells"]]
        k = t["tau"] or {}
        lines.append(f"| {t['rule']} | {t['layer']} | {len(f)} | {min(f):.3f}-{max(f):.3f} | {min(a):.2f}-{max(a):.2f} "
                     f"| {_num(k.get('tau'), '+.2f')} | {_ci((k['lo'], k['hi'])) if k else '–'} "
                     f"| {_num(k.get('p'), '.3f')} | {_num((t.get('tau_times_sampled') or {}).get('tau'), '+.2f')} |")
    return "\n".join(lines)


def noise_line(noise: dict, size: dict) -> str:
    return (f"The yardstick: the reference network itself, trained the same way with training seeds "
            f"0-{len(noise['top1']) - 1}, gives top-1 {noise['mean']:.2f} % with a standard deviation of "
            f"{_num(noise['sd'])} points over its seeds (range {min(noise['top1']):.2f}-{max(noise['top1']):.2f}): "
            f"a cell's top-1 above is one such draw.")


def run(size_name: str = "cpu", out_dir: str | None = None, fmnist_root: str | None = None,
        write_doc: bool = True) -> dict | None:
    """Run the ``size_name`` size into ``out_dir`` and write its section of docs/benchmarks.md;
    ``fmnist_root``: a folder with Fashion-MNIST's four files (default: Debian's package), e.g.
    carried to a GPU machine that has neither the package nor the internet."""
    size = SIZES[size_name]
    if size["device"] == "cuda" and not torch.cuda.is_available():
        print(f"bench_evidence {size_name}: skipped, CUDA is not available on this machine")
        return None
    out = Path(out_dir or f"/tmp/autospace-bench-evidence-{size_name}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # every run on one thread, whatever ``jobs`` is (see in_parallel)
    try:
        evidence = _run(size_name, size, out, fmnist_root)
    finally:
        torch.set_num_threads(threads)
    if write_doc:
        write_section(f"evidence-{size_name}", report(evidence, out))
    return evidence


def _run(size_name: str, size: dict, out: Path, fmnist_root: str | None) -> dict:
    start = time.time()
    data_dir, small_dir = out / "data", out / "data-small"
    for folder, train_size in ((data_dir, size["data"]["train_size"]), (small_dir, size["small_train_size"])):
        if not (folder / "split.json").exists():
            prepare_fashion_mnist(folder, root=fmnist_root, download=False, seed=0,
                                  **{**size["data"], "train_size": train_size})
    # the evolutions: the old rule's for the fitness check, the new rule's for it and the comparison
    evolutions = [(OLD_RULE, 0)] + [(NEW_RULE, e) for e in size["evolution_seeds"]]
    in_parallel(size["jobs"], [(evolve, search_config(size, e, rule), data_dir, search_dir(out, rule, e))
                               for rule, e in evolutions])
    learned = [search_dir(out, NEW_RULE, e) / "learned.json" for e in size["evolution_seeds"]]
    hand = hand_spaces(BACKBONE, out)
    plans, calls = [], []
    for rule in (OLD_RULE, NEW_RULE):
        plan, tau_calls = tau_jobs(size, small_dir, out, rule)
        plans.append((plan, len(tau_calls)))
        calls += tau_calls
    nas = space_jobs(run_config(size, data_dir, size["train"]), out, learned, hand, "proxyless", size["nas_seeds"])
    rand = space_jobs(run_config(size, small_dir, size["small_train"]), out, learned, hand, "random",
                      list(range(size["random_per_space"])))
    noise = noise_jobs(size, small_dir, out)
    metrics = in_parallel(size["jobs"], calls + [job[2] for job in nas + rand] + noise)
    noise_metrics, metrics = metrics[len(metrics) - len(noise):], metrics[:len(metrics) - len(noise)]
    taus, at = [], 0
    for plan, count in plans:
        taus.append(tau_result(plan, metrics[at:at + count]))
        at += count
    nas_results = space_results(nas, metrics[at:at + len(nas)])
    rand_results = space_results(rand, metrics[at + len(nas):])
    minutes = (time.time() - start) / 60
    evidence = {"size": size_name, "config": size, "minutes": minutes, "machine": machine(),
                "fitness_validity": taus, "noise": noise_result(noise_metrics), "nas": compare(nas_results, stats.greater), "nas_runs": nas_results,
                "random": compare(rand_results, stats.mann_whitney_greater), "random_runs": rand_results,
                "random_regression": regression(rand_results)}
    write_json(out / "evidence.json", evidence)
    return evidence


def report(ev: dict, out: Path) -> str:
    size = ev["config"]
    return f"""
## The evidence: fitness validity, spaces at equal MAdds (`{ev['size']}` size)

`python -m benchmarks.run bench_evidence {ev['size']} {out}` (benchmarks/bench_evidence.py),
{ev['minutes']:.1f} min wall on {ev['machine']}, {size['jobs']} run(s) at a time (finished runs in the
folder are kept, so a rerun that found some counts less). Backbone `{BACKBONE}`; data {json.dumps(size['data'])} (None:
all of Fashion-MNIST's 60,000 training / 10,000 test images); evolution {json.dumps(size['evolution'])},
seeds {size['evolution_seeds']}; NAS {json.dumps(size['nas'])} with the library's budget (the
reference network's MAdds) and band (`nas.madds_band`); final training {json.dumps(size['train'])}.

**1. Fitness validity** (one evolution per rule, seed 0; the cells of the layer with the widest
fitness range, evenly spaced in rank, each trained stand-alone in the reference network with
{json.dumps(size['small_train'])} on {size['small_train_size'] or 'all 60,000'} training images, training seed 0):

{tau_table(ev['fitness_validity'])}

{noise_line(ev['noise'], size)}

**2. ProxylessNAS in each space, equal-MAdds band** (seeds {size['nas_seeds']}, paired across
spaces; learned - space with Welch's one-sided test):

{space_table(ev['nas'], "p (Welch, one-sided)")}

**3. Random architectures in the band** ({size['random_per_space']} per space, seeds 0-{size['random_per_space'] - 1}; every one
trained with {json.dumps(size['small_train'])} on {size['small_train_size'] or 'all 60,000'} training images;
learned - space as a difference of means with its Welch interval, p from the one-sided
Mann-Whitney U test):

{space_table(ev['random'], "p (Mann-Whitney, one-sided)")}

Regression of top-1 (%) on the space (learned is the baseline: a negative coefficient is a
space below learned at equal MAdds) and MAdds (M), over the random architectures:

{regression_table(ev['random_regression'])}
"""


if __name__ == "__main__":
    run(*sys.argv[1:])
