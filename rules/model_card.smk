rule model_card:
    input:
        unpack(model_card_inputs),
    output:
        "results/runs/{model}_{strategy}/seed{seed}/MODEL_CARD.md",
    log:
        "logs/model_card/{model}_{strategy}_seed{seed}.log",
    benchmark:
        "benchmarks/model_card/{model}_{strategy}_seed{seed}.tsv"
    conda:
        "../envs/report.yaml"
    params:
        dataset=config["dataset"],
        training=config["training"],
        augmentation=config["augmentation"],
        external_sets=list(config["external_test_sets"]),
    script:
        "../scripts/model_card.py"
