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
        dataset=dataset_source_settings() | pick(config["dataset"], "val_fraction", "split_seed"),
        # the training protocol the card describes; the rest of it comes from train.json
        training=pick(
            config["training"],
            "batch_size",
            "dense_units",
            "dropout",
            "early_stopping_patience",
            "reduce_lr_patience",
            "reduce_lr_factor",
        ),
        augmentation=config["augmentation"],
        external_sets=list(config["external_test_sets"]),
    script:
        "../scripts/model_card.py"
