rule obtain_dataset:
    output:
        dataset=directory("results/data/dataset"),
        record="results/data/obtained.json",
    log:
        "logs/obtain_dataset/obtain_dataset.log",
    benchmark:
        "benchmarks/obtain_dataset/obtain_dataset.tsv"
    retries: 2 if config["dataset"]["source"] == "kaggle" else 0
    conda:
        "../envs/data.yaml"
    params:
        dataset=dataset_source_settings(),
        obtain=obtain_settings(config["dataset"]["source"] != "demo"),
    script:
        "../scripts/obtain_dataset.py"


rule audit:
    input:
        dataset="results/data/dataset",
        obtained="results/data/obtained.json",
    output:
        json="results/data/audit.json",
        csv=report("results/data/audit.csv", caption="captions/audit.rst", category="Data"),
    log:
        "logs/audit/audit.log",
    benchmark:
        "benchmarks/audit/audit.tsv"
    conda:
        "../envs/data.yaml"
    threads: 4
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        classes=config["dataset"]["classes"],
        on_invalid=config["audit"]["on_invalid"],
        near_duplicate_distance=config["audit"]["near_duplicate_distance"],
        max_image_pixels=config["audit"]["max_image_pixels"],
    script:
        "../scripts/audit.py"


rule split_dataset:
    input:
        "results/data/audit.csv",
    output:
        "results/data/split.csv",
    log:
        "logs/split_dataset/split_dataset.log",
    benchmark:
        "benchmarks/split_dataset/split_dataset.tsv"
    conda:
        "../envs/data.yaml"
    params:
        val_fraction=config["dataset"]["val_fraction"],
        seed=config["dataset"]["split_seed"],
        test_overlap=config["dedup"]["test_overlap"],
    script:
        "../scripts/split_dataset.py"


rule fetch_weights:
    output:
        "resources/weights/{file}",
    log:
        "logs/fetch_weights/{file}.log",
    benchmark:
        "benchmarks/fetch_weights/{file}.tsv"
    wildcard_constraints:
        file=r"[^/]+\.h5",
    retries: 2
    conda:
        "../envs/training.yaml"
    params:
        model=weights_model,
        image_size=config["image_size"],
    script:
        "../scripts/fetch_weights.py"


rule prepare:
    """Everything that needs internet, for the login node of a cluster whose compute nodes have none."""
    input:
        "results/data/dataset",
        list(imagenet_weights()),


rule cross_validation_folds:
    """One repeat's folds (mribench.folds): the assignment, and a split.csv per fold."""
    input:
        "results/data/audit.csv",
    output:
        assignment=folds.ASSIGNMENT,
        splits=[folds.FOLD_SPLIT.format(repeat="{repeat}", fold=fold) for fold in range(n_folds())],
    log:
        "logs/cross_validation_folds/r{repeat}.log",
    benchmark:
        "benchmarks/cross_validation_folds/r{repeat}.tsv"
    conda:
        "../envs/data.yaml"
    params:
        folds=n_folds(),
        val_fraction=config["dataset"]["val_fraction"],
        seed=config["dataset"]["split_seed"],
    script:
        "../scripts/cross_validation_folds.py"
