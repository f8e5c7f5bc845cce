rule baseline:
    input:
        unpack(baseline_inputs),
    output:
        metrics=f"{BASELINE_RUN_DIR}/metrics.json",
        predictions=f"{BASELINE_RUN_DIR}/predictions.csv",
        counterfactual_metrics=f"{BASELINE_RUN_DIR}/counterfactual/metrics.json",
        counterfactual_predictions=f"{BASELINE_RUN_DIR}/counterfactual/predictions.csv",
        train=f"{BASELINE_RUN_DIR}/train.json",
        confusion=report(
            f"{BASELINE_RUN_DIR}/confusion.png",
            caption="captions/baseline.rst",
            category="Shortcut baselines",
            labels={"baseline": "{baseline}", "seed": "{seed}"},
        ),
    log:
        "logs/baseline/{baseline}_seed{seed}.log",
    benchmark:
        "benchmarks/baseline/{baseline}_seed{seed}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 2
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        settings=baseline_settings,
    script:
        "../scripts/baseline.py"


# Cross-validation: each fold's baseline fits its fold's training part and scores its held-out fold.
use rule baseline as baseline_fold with:
    output:
        metrics=f"{FOLD_BASELINE_RUN_DIR}/metrics.json",
        predictions=f"{FOLD_BASELINE_RUN_DIR}/predictions.csv",
        train=f"{FOLD_BASELINE_RUN_DIR}/train.json",
        confusion=f"{FOLD_BASELINE_RUN_DIR}/confusion.png",
    log:
        "logs/baseline/{baseline}_seed{seed}_r{repeat}f{fold}.log",
    benchmark:
        "benchmarks/baseline/{baseline}_seed{seed}_r{repeat}f{fold}.tsv"
