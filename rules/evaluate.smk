rule evaluate:
    input:
        model=f"{RUN_DIR}/model.keras",
        history=f"{RUN_DIR}/history.csv",
        split="results/data/split.csv",
        dataset="results/data/dataset",
        intensity_reference=INTENSITY_REFERENCE,
    output:
        metrics=f"{RUN_DIR}/metrics.json",
        predictions=f"{RUN_DIR}/predictions.csv",
        counterfactual_metrics=f"{RUN_DIR}/counterfactual/metrics.json",
        counterfactual_predictions=f"{RUN_DIR}/counterfactual/predictions.csv",
        confusion=report(
            f"{RUN_DIR}/confusion.png",
            caption="captions/confusion.rst",
            category="Confusion matrices",
            labels={"model": "{model}", "strategy": "{strategy}", "seed": "{seed}"},
        ),
        curves=report(
            f"{RUN_DIR}/curves.png",
            caption="captions/curves.rst",
            category="Training curves",
            labels={"model": "{model}", "strategy": "{strategy}", "seed": "{seed}"},
        ),
    log:
        f"logs/evaluate/{JOB_NAME}.log",
    benchmark:
        f"benchmarks/evaluate/{JOB_NAME}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        backend=config["training"]["backend"],
        classes=config["dataset"]["classes"],
        batch_size=config["training"]["batch_size"],
    script:
        "../scripts/evaluate.py"
