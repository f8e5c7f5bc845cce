rule export:
    input:
        model="results/runs/{model}_{strategy}/seed{seed}/model.keras",
        split="results/data/split.csv",
        dataset="results/data/dataset",
    output:
        exports=directory("results/runs/{model}_{strategy}/seed{seed}/export"),
        json="results/runs/{model}_{strategy}/seed{seed}/export.json",
    log:
        "logs/export/{model}_{strategy}_seed{seed}.log",
    benchmark:
        "benchmarks/export/{model}_{strategy}_seed{seed}.tsv"
    conda:
        "../envs/training.yaml"
    threads: 2
    resources:
        mem_mb=8000,
        runtime=60,
    params:
        backend=config["training"]["backend"],
        formats=config["export"]["formats"],
        latency_runs=config["export"]["latency_runs"],
    script:
        "../scripts/export.py"
