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
