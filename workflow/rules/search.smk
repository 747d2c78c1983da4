rule warmup:
    input:
        **DATA,
    output:
        **files(L.WARMUP, L.SEARCH_FILES),
    params:
        config=section(*SEARCH_KEYS),
    log:
        log_file("warmup"),
    benchmark:
        bench_file("warmup")
    threads: config["threads"]
    resources:
        gpu=1,
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
    params:
        config=section(*SEARCH_KEYS),
    log:
        log_file("evolve", "gen_{gen}"),
    benchmark:
        bench_file("evolve", "gen_{gen}")
    threads: config["threads"]
    resources:
        gpu=1,
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/evolve.py"


rule export_space:
    input:
        unpack(last_generation),
    output:
        space=path(L.SPACE_LEARNED),
    params:
        config=section(*SEARCH_KEYS),
    log:
        log_file("export_space"),
    benchmark:
        bench_file("export_space")
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/export_space.py"
