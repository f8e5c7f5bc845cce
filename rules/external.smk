rule obtain_external_set:
    output:
        dataset=directory("results/external/{external_set}/dataset"),
        record="results/external/{external_set}/obtained.json",
    log:
        "logs/obtain_external_set/{external_set}.log",
    benchmark:
        "benchmarks/obtain_external_set/{external_set}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        test_set=external_set,
        obtain=lambda wildcards: obtain_settings("path" in external_set(wildcards)),
    script:
        "../scripts/obtain_external_set.py"


rule audit_external_set:
    input:
        dataset="results/external/{external_set}/dataset",
        reference="results/data/audit.csv",
    output:
        json="results/external/{external_set}/audit.json",
        csv=report(
            "results/external/{external_set}/audit.csv",
            caption="captions/external_audit.rst",
            category="External test sets",
            labels={"set": "{external_set}", "table": "audit"},
        ),
    log:
        "logs/audit_external_set/{external_set}.log",
    benchmark:
        "benchmarks/audit_external_set/{external_set}.tsv"
    conda:
        "../envs/data.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        classes=external_classes,
        on_invalid=config["audit"]["on_invalid"],
        near_duplicate_distance=config["audit"]["near_duplicate_distance"],
        max_image_pixels=config["audit"]["max_image_pixels"],
    script:
        "../scripts/audit_external_set.py"


rule evaluate_external:
    input:
        unpack(chosen_files(model="model.keras")),
        audit="results/external/{external_set}/audit.csv",
        dataset="results/external/{external_set}/dataset",
        intensity_reference=INTENSITY_REFERENCE,
    output:
        metrics=f"{RUN_DIR}/external/{{external_set}}/metrics.json",
        predictions=f"{RUN_DIR}/external/{{external_set}}/predictions.csv",
        counterfactual_metrics=f"{RUN_DIR}/external/{{external_set}}/counterfactual/metrics.json",
        counterfactual_predictions=f"{RUN_DIR}/external/{{external_set}}/counterfactual/predictions.csv",
    log:
        f"logs/evaluate_external/{JOB_NAME}_{{external_set}}.log",
    benchmark:
        f"benchmarks/evaluate_external/{JOB_NAME}_{{external_set}}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 4
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        backend=config["training"]["backend"],
        classes=config["dataset"]["classes"],
        set_classes=external_classes,
        batch_size=config["training"]["batch_size"],
    script:
        "../scripts/evaluate_external.py"


rule stats_external:
    input:
        predictions=lambda wildcards: external_run_files(wildcards.external_set, "predictions.csv"),
    output:
        json="results/stats/external/{external_set}/stats.json",
        targets=report(
            "results/stats/external/{external_set}/targets.csv",
            caption="captions/external_stats.rst",
            category="External test sets",
            labels={"set": "{external_set}", "table": "targets"},
        ),
        auc="results/stats/external/{external_set}/auc.csv",
        mcnemar=report(
            "results/stats/external/{external_set}/mcnemar.csv",
            caption="captions/external_stats.rst",
            category="External test sets",
            labels={"set": "{external_set}", "table": "McNemar"},
        ),
        figures=directory("results/stats/external/{external_set}/figures"),
    log:
        "logs/stats_external/{external_set}.log",
    benchmark:
        "benchmarks/stats_external/{external_set}.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        runs=external_stats_runs,
        classes=external_classes,
        resamples=config["report"]["bootstrap_resamples"],
        seed=config["report"]["seed"],
    script:
        "../scripts/stats.py"


# Cross-validation: external sets are scored by the fold ensemble, from every fold model's
# probabilities over all classes.
use rule evaluate_external as evaluate_fold_external with:
    input:
        unpack(chosen_files(model="model.keras")),
        audit="results/external/{external_set}/audit.csv",
        dataset="results/external/{external_set}/dataset",
    output:
        metrics=f"{FOLD_RUN_DIR}/external/{{external_set}}/metrics.json",
        predictions=f"{FOLD_RUN_DIR}/external/{{external_set}}/predictions.csv",
        probabilities=f"{FOLD_RUN_DIR}/external/{{external_set}}/probabilities.csv",
    log:
        f"logs/evaluate_external/{FOLD_JOB_NAME}_{{external_set}}.log",
    benchmark:
        f"benchmarks/evaluate_external/{FOLD_JOB_NAME}_{{external_set}}.tsv"


rule fold_ensemble_external:
    """The fold ensemble of a target on an external set: the mean of its fold models' probabilities."""
    input:
        probabilities=lambda wildcards: fold_files(
            wildcards, f"external/{wildcards.external_set}/probabilities.csv"
        ),
        audit="results/external/{external_set}/audit.csv",
    output:
        metrics=f"{ENSEMBLE_DIR}/external/{{external_set}}/metrics.json",
        predictions=f"{ENSEMBLE_DIR}/external/{{external_set}}/predictions.csv",
    log:
        f"logs/fold_ensemble_external/{JOB_NAME}_{{external_set}}.log",
    benchmark:
        f"benchmarks/fold_ensemble_external/{JOB_NAME}_{{external_set}}.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        classes=config["dataset"]["classes"],
        set_classes=external_classes,
    script:
        "../scripts/fold_ensemble_external.py"
