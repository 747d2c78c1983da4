# Tables and figures of the experiment (results/<experiment>/tables, figures), made from the
# metrics of the experiment and of its variants (results/<experiment>/variants/<name>/).

rule tables:
    input:
        metrics=L.evaluated(JOBS),
        spaces=[f for job in JOBS if job["rule"] == "export_space" for f in job["output"]],
        nas=list(NAS_RUNS.values()),
        split=DATA["split"],
    output:
        **report_files(L.TABLES, L.TABLE_FILES),
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
        **report_files(L.TABLES, L.PAPER_TABLE_FILES),
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
        **report_files(L.FIGURES, L.FIGURE_FILES),
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
