rule evaluate:
    input:
        unpack(chosen_files(model="model.keras", history="history.csv")),
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


# Cross-validation: each fold's model on its held-out fold (the fold's split.csv), ...
use rule evaluate as evaluate_fold with:
    input:
        unpack(chosen_files(model="model.keras", history="history.csv")),
        split=lambda wildcards: fold_split(Target.from_wildcards(wildcards)),
        dataset="results/data/dataset",
    output:
        metrics=f"{FOLD_RUN_DIR}/metrics.json",
        predictions=f"{FOLD_RUN_DIR}/predictions.csv",
        confusion=f"{FOLD_RUN_DIR}/confusion.png",
        curves=f"{FOLD_RUN_DIR}/curves.png",
    log:
        f"logs/evaluate/{FOLD_JOB_NAME}.log",
    benchmark:
        f"benchmarks/evaluate/{FOLD_JOB_NAME}.tsv"


# ... and on the official Testing folder, which the fold ensemble scores too.
use rule evaluate as evaluate_fold_testing with:
    input:
        unpack(chosen_files(model="model.keras", history="history.csv")),
        split="results/data/split.csv",
        dataset="results/data/dataset",
    output:
        metrics=f"{FOLD_RUN_DIR}/testing/metrics.json",
        predictions=f"{FOLD_RUN_DIR}/testing/predictions.csv",
        confusion=f"{FOLD_RUN_DIR}/testing/confusion.png",
        curves=f"{FOLD_RUN_DIR}/testing/curves.png",
    log:
        f"logs/evaluate/{FOLD_JOB_NAME}_testing.log",
    benchmark:
        f"benchmarks/evaluate/{FOLD_JOB_NAME}_testing.tsv"


rule fold_ensemble:
    """The fold ensemble of a target: the mean of its fold models' probabilities on Testing."""
    input:
        predictions=lambda wildcards: fold_files(wildcards, "testing/predictions.csv"),
        split="results/data/split.csv",
    output:
        metrics=f"{ENSEMBLE_DIR}/metrics.json",
        predictions=f"{ENSEMBLE_DIR}/predictions.csv",
    log:
        f"logs/fold_ensemble/{JOB_NAME}.log",
    benchmark:
        f"benchmarks/fold_ensemble/{JOB_NAME}.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        classes=config["dataset"]["classes"],
    script:
        "../scripts/fold_ensemble.py"
