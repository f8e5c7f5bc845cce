rule train:
    input:
        unpack(training_inputs),
    output:
        model=f"{RUN_DIR}/model.keras",
        history=f"{RUN_DIR}/history.csv",
        train=f"{RUN_DIR}/train.json",
        tensorboard=directory(f"{RUN_DIR}/tensorboard"),
    log:
        f"logs/train/{JOB_NAME}.log",
    benchmark:
        f"benchmarks/train/{JOB_NAME}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 8
    resources:
        gpu=1,
        mem_mb=16000,
        runtime=240,
    params:
        settings=training_settings,
    script:
        "../scripts/train.py"


# With training.feature_extraction.equal_budget the feature-extraction target trains longer, so
# fine-tuning starts from a feature-extraction run of the usual length, kept beside it (start_run).
use rule train as train_fine_tuning_start with:
    output:
        model="results/runs/{model}_fine_tuning/seed{seed}/start/{strategy}/model.keras",
        history="results/runs/{model}_fine_tuning/seed{seed}/start/{strategy}/history.csv",
        train="results/runs/{model}_fine_tuning/seed{seed}/start/{strategy}/train.json",
        tensorboard=directory("results/runs/{model}_fine_tuning/seed{seed}/start/{strategy}/tensorboard"),
    log:
        "logs/train/{model}_fine_tuning_seed{seed}_start_{strategy}.log",
    benchmark:
        "benchmarks/train/{model}_fine_tuning_seed{seed}_start_{strategy}.tsv"
    wildcard_constraints:
        strategy="feature_extraction",
    params:
        settings=start_run_settings,


# Cross-validation: the same training on one fold's training part (its split.csv: the training part,
# its inner validation and the held-out fold as test).
use rule train as train_fold with:
    output:
        model=f"{FOLD_RUN_DIR}/model.keras",
        history=f"{FOLD_RUN_DIR}/history.csv",
        train=f"{FOLD_RUN_DIR}/train.json",
        tensorboard=directory(f"{FOLD_RUN_DIR}/tensorboard"),
    log:
        f"logs/train/{FOLD_JOB_NAME}.log",
    benchmark:
        f"benchmarks/train/{FOLD_JOB_NAME}.tsv"


use rule train_fine_tuning_start as train_fold_fine_tuning_start with:
    output:
        model="results/runs/{model}_fine_tuning/seed{seed}/folds/r{repeat}f{fold}/start/{strategy}/model.keras",
        history="results/runs/{model}_fine_tuning/seed{seed}/folds/r{repeat}f{fold}/start/{strategy}/history.csv",
        train="results/runs/{model}_fine_tuning/seed{seed}/folds/r{repeat}f{fold}/start/{strategy}/train.json",
        tensorboard=directory(
            "results/runs/{model}_fine_tuning/seed{seed}/folds/r{repeat}f{fold}/start/{strategy}/tensorboard"
        ),
    log:
        "logs/train/{model}_fine_tuning_seed{seed}_r{repeat}f{fold}_start_{strategy}.log",
    benchmark:
        "benchmarks/train/{model}_fine_tuning_seed{seed}_r{repeat}f{fold}_start_{strategy}.tsv"
