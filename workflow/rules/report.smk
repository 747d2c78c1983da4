# Tables and figures of the experiment (results/<experiment>/tables, figures), made from the
# metrics of the experiment and of its variants (results/<experiment>/variants/<name>/).
from autospace.variants import budget_name, overrides as variant_overrides


def evaluated(jobs):
    return [f for job in jobs if job["rule"] == "evaluate" for f in job["output"]]


JOBS = L.jobs(config)
MAIN_JOBS = [job for job in JOBS if job["exp"] == EXP]
VARIANT_CONFIGS = L.variants(config)


def variant_run(name):
    """A variant's exported space, metrics files and resolved NAS budget."""
    exp = L.variant_exp(EXP, name)
    return {"name": name, "space": L.space_file(exp, L.LEARNED),
            "metrics": evaluated(job for job in JOBS if job["exp"] == exp),
            "budget_madds": get_nas_budget(VARIANT_CONFIGS[name])}


BUDGET_RUNS = {p: variant_run(budget_name(p)) for p in config["variants"]["budgets"]}
ABLATION_RUNS = {name: {**variant_run(name), "overrides": changes}
                 for name, changes in variant_overrides(config).items() if name not in
                 {budget_name(p) for p in config["variants"]["budgets"]}}


def run_group(job):
    """The legend group of an evaluated network in the accuracy-MAdds figure."""
    space = job["wildcards"]["space"]
    if job["exp"] == EXP:
        return f"{space} space" + (" (learned here)" if space == L.LEARNED else " (hand-designed)")
    name = job["exp"].rsplit("/", 1)[-1]
    return "learned, budget variants" if name in {r["name"] for r in BUDGET_RUNS.values()} else \
        "learned, ablation variants"


rule tables:
    input:
        metrics=evaluated(JOBS),
        spaces=[r["space"] for r in BUDGET_RUNS.values()],
    output:
        csv=report(under(L.TABLES, "comparison.csv", exp=EXP), caption="../report/comparison.rst",
                   category="Tables", labels={"table": "comparison (CSV)"}),
        md=under(L.TABLES, "comparison.md", exp=EXP),
        t2=report(under(L.TABLES, "t2_spaces.csv", exp=EXP), caption="../report/t2_spaces.rst",
                  category="Tables", labels={"table": "T2 NAS in each space"}),
        t2_md=under(L.TABLES, "t2_spaces.md", exp=EXP),
        t2_tex=under(L.TABLES, "t2_spaces.tex", exp=EXP),
        t3=report(under(L.TABLES, "t3_budgets.csv", exp=EXP), caption="../report/t3_budgets.rst",
                  category="Tables", labels={"table": "T3 budgets"}),
        t3_md=under(L.TABLES, "t3_budgets.md", exp=EXP),
        t3_tex=under(L.TABLES, "t3_budgets.tex", exp=EXP),
        t4=report(under(L.TABLES, "t4_ablations.csv", exp=EXP), caption="../report/t4_ablations.rst",
                  category="Tables", labels={"table": "T4 ablations"}),
        t4_md=under(L.TABLES, "t4_ablations.md", exp=EXP),
        t4_tex=under(L.TABLES, "t4_ablations.tex", exp=EXP),
    params:
        main=evaluated(MAIN_JOBS),
        default=[f for f in evaluated(MAIN_JOBS) if f"/train/{L.LEARNED}/" in f],
        budget_madds=get_nas_budget(),
        imagenet=config["data"]["dataset"] == "imagefolder",
        budgets=BUDGET_RUNS,
        ablations=ABLATION_RUNS,
    log:
        log_file("tables", exp=EXP),
    benchmark:
        bench_file("tables", exp=EXP)
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/tables.py"


rule paper_tables:
    input:
        metrics=evaluated(MAIN_JOBS),
    output:
        t1=report(under(L.TABLES, "t1_imagenet.csv", exp=EXP), caption="../report/t1_imagenet.rst",
                  category="Tables", labels={"table": "T1 ImageNet models"}),
        t1_md=under(L.TABLES, "t1_imagenet.md", exp=EXP),
        t1_tex=under(L.TABLES, "t1_imagenet.tex", exp=EXP),
        t5=report(under(L.TABLES, "t5_search_cost.csv", exp=EXP), caption="../report/t5_search_cost.rst",
                  category="Tables", labels={"table": "T5 search cost"}),
        t5_md=under(L.TABLES, "t5_search_cost.md", exp=EXP),
        t5_tex=under(L.TABLES, "t5_search_cost.tex", exp=EXP),
    params:
        benchmarks=path(L.BENCH, exp=EXP, rule=""),
        device=config["device"],
        imagenet=config["data"]["dataset"] == "imagefolder",
        budget_madds=get_nas_budget(),
    log:
        log_file("paper_tables", exp=EXP),
    benchmark:
        bench_file("paper_tables", exp=EXP)
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/paper_tables.py"


rule figures:
    input:
        populations=[under(L.GEN, "population.json", exp=EXP, gen=L.gen_name(g)) for g in range(GENERATIONS)],
        space=L.space_file(EXP, L.LEARNED),
        logs=[f.replace("metrics.json", "log.csv") for f in evaluated(MAIN_JOBS)],
        metrics=evaluated(JOBS),
    output:
        fitness=report(under(L.FIGURES, "fitness.png", exp=EXP), caption="../report/fitness.rst",
                       category="Search", labels={"figure": "fitness per layer"}),
        fitness_pdf=under(L.FIGURES, "fitness.pdf", exp=EXP),
        diversity=report(under(L.FIGURES, "diversity.png", exp=EXP), caption="../report/diversity.rst",
                         category="Search", labels={"figure": "population diversity"}),
        diversity_pdf=under(L.FIGURES, "diversity.pdf", exp=EXP),
        diversity_csv=under(L.FIGURES, "diversity.csv", exp=EXP),
        cells=report(under(L.FIGURES, "cells.png", exp=EXP), caption="../report/cells.rst",
                     category="Search", labels={"figure": "learned cells"}),
        cells_pdf=under(L.FIGURES, "cells.pdf", exp=EXP),
        curves=report(under(L.FIGURES, "training_curves.png", exp=EXP), caption="../report/training_curves.rst",
                      category="Training", labels={"figure": "training curves"}),
        curves_pdf=under(L.FIGURES, "training_curves.pdf", exp=EXP),
        pareto=report(under(L.FIGURES, "pareto.png", exp=EXP), caption="../report/pareto.rst",
                      category="Evaluation", labels={"figure": "accuracy against MAdds"}),
        pareto_pdf=under(L.FIGURES, "pareto.pdf", exp=EXP),
        pareto_csv=under(L.FIGURES, "pareto.csv", exp=EXP),
    params:
        runs=[{"file": job["output"][0], "group": run_group(job),
               "run": "/".join([job["exp"].removeprefix(EXP).strip("/").removeprefix("variants/") or "main",
                                job["wildcards"]["space"], "seed_" + job["wildcards"]["seed"]])}
              for job in JOBS if job["rule"] == "evaluate"],
    log:
        log_file("figures", exp=EXP),
    benchmark:
        bench_file("figures", exp=EXP)
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/figures.py"
