# Tables and figures of the experiment (results/<experiment>/tables, figures), made from the
# metrics of the experiment and of its variants (results/<experiment>/variants/<name>/).
rule tables:
    input:
        metrics=L.evaluated(JOBS),
        spaces=[f for job in JOBS if job["rule"] == "export_space" for f in job["output"]],
        nas=list(NAS_RUNS.values()),
        split=DATA["split"],
    output:
        csv=report(under(L.TABLES, "comparison.csv", exp=EXP), caption="../report/comparison.rst",
                   category="Tables", labels={"table": "comparison (CSV)"}),
        md=under(L.TABLES, "comparison.md", exp=EXP),
        splits=report(under(L.TABLES, "data_splits.csv", exp=EXP), caption="../report/data_splits.rst",
                      category="Data", labels={"table": "data splits"}),
        splits_md=under(L.TABLES, "data_splits.md", exp=EXP),
        choices=report(under(L.TABLES, "nas_choices.csv", exp=EXP), caption="../report/nas_choices.rst",
                       category="NAS", labels={"table": "found architectures"}),
        choices_md=under(L.TABLES, "nas_choices.md", exp=EXP),
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
        provenance=provenance_file("tables", exp=EXP),
    params:
        arguments=TABLE_ARGUMENTS,
        lineage=lineage("tables", TABLE_ARGUMENTS, check="experiment_tables"),
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
        metrics=L.evaluated(JOBS, EXP),
    output:
        t1=report(under(L.TABLES, "t1_imagenet.csv", exp=EXP), caption="../report/t1_imagenet.rst",
                  category="Tables", labels={"table": "T1 ImageNet models"}),
        t1_md=under(L.TABLES, "t1_imagenet.md", exp=EXP),
        t1_tex=under(L.TABLES, "t1_imagenet.tex", exp=EXP),
        t5=report(under(L.TABLES, "t5_search_cost.csv", exp=EXP), caption="../report/t5_search_cost.rst",
                  category="Tables", labels={"table": "T5 search cost"}),
        t5_md=under(L.TABLES, "t5_search_cost.md", exp=EXP),
        t5_tex=under(L.TABLES, "t5_search_cost.tex", exp=EXP),
        provenance=provenance_file("paper_tables", exp=EXP),
    params:
        arguments=SEARCH_COST_ARGUMENTS,
        paper_comparison=config["paper_comparison"],
        budget_madds=get_nas_budget(),
        lineage=lineage("paper_tables", SEARCH_COST_ARGUMENTS, check="t1_t5_tables"),
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
        populations=FIGURE_ARGUMENTS["populations"],
        space=L.space_file(EXP, L.LEARNED),
        logs=[f.replace("metrics.json", "log.csv") for f in L.evaluated(JOBS, EXP)],
        metrics=L.evaluated(JOBS),
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
        provenance=provenance_file("figures", exp=EXP),
    params:
        arguments=FIGURE_ARGUMENTS,
        lineage=lineage("figures", FIGURE_ARGUMENTS, check="figure_data"),
    log:
        log_file("figures", exp=EXP),
    benchmark:
        bench_file("figures", exp=EXP)
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/figures.py"
