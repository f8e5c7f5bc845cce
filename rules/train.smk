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


# A tuning point of a target with a tuning grid (mribench.tuning): a target of its own, in its folder
# inside the target's, trained with the point's values where the config has lists.
use rule train as train_point with:
    output:
        model=f"{RUN_DIR}/tuning/{{point}}/model.keras",
        history=f"{RUN_DIR}/tuning/{{point}}/history.csv",
        train=f"{RUN_DIR}/tuning/{{point}}/train.json",
        tensorboard=directory(f"{RUN_DIR}/tuning/{{point}}/tensorboard"),
    log:
        f"logs/train/{JOB_NAME}_{{point}}.log",
    benchmark:
        f"benchmarks/train/{JOB_NAME}_{{point}}.tsv"


# Picks a tuned target's point on the points' validation records alone (no test-set file is an input);
# a checkpoint: the jobs after it read the chosen point's files (chosen_run in common.smk).
checkpoint select:
    input:
        unpack(selection_inputs),
    output:
        selection=f"{RUN_DIR}/selection.json",
    log:
        f"logs/select/{JOB_NAME}.log",
    benchmark:
        f"benchmarks/select/{JOB_NAME}.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        points=selection_points,
        select_on=config["tuning"]["select_on"],
    script:
        "../scripts/select.py"


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


# Cross-validation with a tuning grid (nested): every point trains on each fold's training part and is
# selected on that fold's inner validation; the held-out fold is never an input of the selection.
use rule train as train_fold_point with:
    output:
        model=f"{FOLD_RUN_DIR}/tuning/{{point}}/model.keras",
        history=f"{FOLD_RUN_DIR}/tuning/{{point}}/history.csv",
        train=f"{FOLD_RUN_DIR}/tuning/{{point}}/train.json",
        tensorboard=directory(f"{FOLD_RUN_DIR}/tuning/{{point}}/tensorboard"),
    log:
        f"logs/train/{FOLD_JOB_NAME}_{{point}}.log",
    benchmark:
        f"benchmarks/train/{FOLD_JOB_NAME}_{{point}}.tsv"


checkpoint select_fold:
    input:
        unpack(selection_inputs),
    output:
        selection=f"{FOLD_RUN_DIR}/selection.json",
    log:
        f"logs/select/{FOLD_JOB_NAME}.log",
    benchmark:
        f"benchmarks/select/{FOLD_JOB_NAME}.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    params:
        points=selection_points,
        select_on=config["tuning"]["select_on"],
    script:
        "../scripts/select.py"
