rule export:
    input:
        unpack(chosen_files(model="model.keras")),
        split="results/data/split.csv",
        dataset="results/data/dataset",
    output:
        exports=directory(f"{RUN_DIR}/export"),
        json=f"{RUN_DIR}/export.json",
    log:
        f"logs/export/{JOB_NAME}.log",
    benchmark:
        f"benchmarks/export/{JOB_NAME}.tsv"
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
