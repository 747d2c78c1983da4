rule tables:
    input:
        metrics=[f for job in L.jobs(config) if job["rule"] == "evaluate" for f in job["output"]],
    output:
        csv=report(under(L.TABLES, "comparison.csv"), caption="../report/comparison.rst",
                   category="Tables", labels={"table": "T2 comparison (CSV)"}),
        md=under(L.TABLES, "comparison.md"),
        provenance=provenance_file("tables"),
    params:
        lineage=lineage("tables"),
    log:
        log_file("tables"),
    benchmark:
        bench_file("tables")
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/tables.py"


rule paper_tables:
    input:
        metrics=[f for job in L.jobs(config) if job["rule"] == "evaluate" for f in job["output"]],
    output:
        t1=report(under(L.TABLES, "t1_imagenet.csv"), caption="../report/t1_imagenet.rst",
                  category="Tables", labels={"table": "T1 ImageNet models"}),
        t1_md=under(L.TABLES, "t1_imagenet.md"),
        t1_tex=under(L.TABLES, "t1_imagenet.tex"),
        t5=report(under(L.TABLES, "t5_search_cost.csv"), caption="../report/t5_search_cost.rst",
                  category="Tables", labels={"table": "T5 search cost"}),
        t5_md=under(L.TABLES, "t5_search_cost.md"),
        t5_tex=under(L.TABLES, "t5_search_cost.tex"),
        provenance=provenance_file("paper_tables"),
    params:
        benchmarks=path(L.BENCH, rule=""),
        device=config["device"],
        imagenet=config["data"]["dataset"] == "imagefolder",
        budget_madds=get_nas_budget(),
        lineage=lineage("paper_tables"),
    log:
        log_file("paper_tables"),
    benchmark:
        bench_file("paper_tables")
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/paper_tables.py"


rule figures:
    input:
        populations=[under(L.GEN, "population.json", gen=L.gen_name(g)) for g in range(GENERATIONS)],
        logs=[f.replace("metrics.json", "log.csv")
              for job in L.jobs(config) if job["rule"] == "evaluate" for f in job["output"]],
    output:
        fitness=report(under(L.FIGURES, "fitness.png"), caption="../report/fitness.rst",
                       category="Search", labels={"figure": "fitness per layer"}),
        fitness_pdf=under(L.FIGURES, "fitness.pdf"),
        curves=report(under(L.FIGURES, "training_curves.png"), caption="../report/training_curves.rst",
                      category="Training", labels={"figure": "training curves"}),
        curves_pdf=under(L.FIGURES, "training_curves.pdf"),
        provenance=provenance_file("figures"),
    params:
        lineage=lineage("figures"),
    log:
        log_file("figures"),
    benchmark:
        bench_file("figures")
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/figures.py"
