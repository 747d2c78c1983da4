rule prepare_data:
    output:
        **files(L.DATA, L.DATA_FILES),
        provenance=provenance_file("prepare_data"),
    params:
        seed=config["seed"],
        data=config["data"],
        network=data_fields(get_backbone(config["backbone"]).skeleton),
        lineage=lineage("prepare_data"),
    log:
        log_file("prepare_data"),
    benchmark:
        bench_file("prepare_data")
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/prepare_data.py"
