rule model_card:
    input:
        unpack(model_card_inputs),
    output:
        f"{RUN_DIR}/MODEL_CARD.md",
    log:
        f"logs/model_card/{JOB_NAME}.log",
    benchmark:
        f"benchmarks/model_card/{JOB_NAME}.tsv"
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
        external_sets=list(config["external_test_sets"]),
    script:
        "../scripts/model_card.py"
