rule train:
    input:
        unpack(training_inputs),
    output:
        model="results/runs/{model}_{strategy}/seed{seed}/model.keras",
        history="results/runs/{model}_{strategy}/seed{seed}/history.csv",
        train="results/runs/{model}_{strategy}/seed{seed}/train.json",
        tensorboard=directory("results/runs/{model}_{strategy}/seed{seed}/tensorboard"),
    log:
        "logs/train/{model}_{strategy}_seed{seed}.log",
    benchmark:
        "benchmarks/train/{model}_{strategy}_seed{seed}.tsv"
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
# fine-tuning starts from a feature-extraction run of the usual length, kept beside it.
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
        settings=fine_tuning_start_settings,
