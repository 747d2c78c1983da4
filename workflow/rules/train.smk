rule train:
    input:
        **DATA,
        arch=under(L.NAS, "arch.json"),
    output:
        **files(L.TRAIN, L.TRAIN_FILES),
        provenance=provenance_file("train", "{space}_seed_{seed}"),
    params:
        config=section("device", "train", "distributed", seed=True),
        state=under(L.STATE, "train/{space}/seed_{seed}"),
        lineage=lineage("train"),
    log:
        log_file("train", "{space}_seed_{seed}"),
    benchmark:
        bench_file("train", "{space}_seed_{seed}")
    threads: config["threads"]
    resources:
        gpu=config["distributed"]["processes"],
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/train.py"


rule evaluate:
    input:
        **DATA,
        arch=under(L.NAS, "arch.json"),
        model=under(L.TRAIN, "model.pt"),
    output:
        metrics=under(L.TRAIN, "metrics.json"),
        provenance=provenance_file("evaluate", "{space}_seed_{seed}"),
    params:
        config=config["evaluate"],
        labels=lambda wc: {"space": wc.space, "algorithm": CONFIGS[wc.exp]["nas"]["algorithm"], "seed": int(wc.seed)},
        lineage=lineage("evaluate", check="evaluation"),
    log:
        log_file("evaluate", "{space}_seed_{seed}"),
    benchmark:
        bench_file("evaluate", "{space}_seed_{seed}")
    threads: config["threads"]
    conda:
        "../../envs/autospace.yaml"
    script:
        "../../scripts/evaluate.py"
