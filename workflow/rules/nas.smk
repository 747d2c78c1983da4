rule hand_space:
    output:
        space=path(L.SPACE_HAND),
        provenance=provenance_file("hand_space", "{space}"),
    params:
        backbone=config["backbone"],
        reference_cell=config["evolution"]["reference_cell"],
        lineage=lineage("hand_space", check="space"),
    log:
        log_file("hand_space", "{space}"),
    benchmark:
        bench_file("hand_space", "{space}")
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/hand_space.py"


rule nas:
    input:
        **DATA,
        space=lambda wc: L.space_file(wc.exp, wc.space),
    output:
        **files(L.NAS, L.NAS_FILES),
        provenance=provenance_file("nas", "{space}_seed_{seed}"),
    params:
        config=section("device", "backbone", "nas", "distributed", seed=True),
        state=under(L.STATE, "nas/{space}/seed_{seed}"),
        lineage=lineage("nas"),
    log:
        log_file("nas", "{space}_seed_{seed}"),
    benchmark:
        bench_file("nas", "{space}_seed_{seed}")
    threads: config["threads"]
    resources:
        gpu=config["distributed"]["processes"],
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/nas.py"
