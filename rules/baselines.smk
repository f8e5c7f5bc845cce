rule baseline:
    input:
        unpack(baseline_inputs),
    output:
        metrics="results/runs/baseline_{baseline}/seed{seed}/metrics.json",
        predictions="results/runs/baseline_{baseline}/seed{seed}/predictions.csv",
        train="results/runs/baseline_{baseline}/seed{seed}/train.json",
        confusion=report(
            "results/runs/baseline_{baseline}/seed{seed}/confusion.png",
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
