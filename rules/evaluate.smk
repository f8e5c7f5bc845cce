rule evaluate:
    input:
        model="results/runs/{model}_{strategy}/seed{seed}/model.keras",
        history="results/runs/{model}_{strategy}/seed{seed}/history.csv",
        split="results/data/split.csv",
        dataset="results/data/dataset",
    output:
        metrics="results/runs/{model}_{strategy}/seed{seed}/metrics.json",
        predictions="results/runs/{model}_{strategy}/seed{seed}/predictions.csv",
        confusion=report(
            "results/runs/{model}_{strategy}/seed{seed}/confusion.png",
            caption="captions/confusion.rst",
            category="Confusion matrices",
            labels={"model": "{model}", "strategy": "{strategy}", "seed": "{seed}"},
        ),
        curves=report(
            "results/runs/{model}_{strategy}/seed{seed}/curves.png",
            caption="captions/curves.rst",
            category="Training curves",
            labels={"model": "{model}", "strategy": "{strategy}", "seed": "{seed}"},
        ),
    log:
        "logs/evaluate/{model}_{strategy}_seed{seed}.log",
    benchmark:
        "benchmarks/evaluate/{model}_{strategy}_seed{seed}.tsv"
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
