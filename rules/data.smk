rule obtain_dataset:
    output:
        directory("results/data/dataset"),
    log:
        "logs/obtain_dataset/obtain_dataset.log",
    benchmark:
        "benchmarks/obtain_dataset/obtain_dataset.tsv"
    retries: 2 if config["dataset"]["source"] == "kaggle" else 0
    params:
        dataset=config["dataset"],
    script:
        "../scripts/obtain_dataset.py"


rule split_dataset:
    input:
        "results/data/dataset",
    output:
        "results/data/split.csv",
    log:
        "logs/split_dataset/split_dataset.log",
    benchmark:
        "benchmarks/split_dataset/split_dataset.tsv"
    params:
        classes=config["dataset"]["classes"],
        val_fraction=config["dataset"]["val_fraction"],
        seed=config["dataset"]["split_seed"],
    script:
        "../scripts/split_dataset.py"
