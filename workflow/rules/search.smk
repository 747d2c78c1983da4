rule warmup:
    input:
        **DATA,
    output:
        **files(L.WARMUP, L.SEARCH_FILES),
        provenance=provenance_file("warmup"),
    params:
        config=section(*SEARCH_KEYS, "distributed"),
        state=under(L.STATE, "search/warmup"),
        lineage=lineage("warmup"),
    log:
        log_file("warmup"),
    benchmark:
        bench_file("warmup")
    threads: config["threads"]
    resources:
        gpu=config["distributed"]["processes"],
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/warmup.py"


rule evolve:
    input:
        unpack(previous_generation),
        **DATA,
    output:
        **files(L.GEN, L.SEARCH_FILES),
        provenance=provenance_file("evolve", "gen_{gen}"),
    params:
        config=section(*SEARCH_KEYS, "distributed"),
        state=under(L.STATE, "search/gen_{gen}"),
        lineage=lineage("evolve"),
    log:
        log_file("evolve", "gen_{gen}"),
    benchmark:
        bench_file("evolve", "gen_{gen}")
    threads: config["threads"]
    resources:
        gpu=config["distributed"]["processes"],
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/evolve.py"


rule export_space:
    input:
        unpack(last_generation),
    output:
        space=path(L.SPACE_LEARNED),
        provenance=provenance_file("export_space"),
    params:
        config=section(*SEARCH_KEYS),
        lineage=lineage("export_space", check="space"),
    log:
        log_file("export_space"),
    benchmark:
        bench_file("export_space")
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/export_space.py"
