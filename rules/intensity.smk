rule intensity_reference:
    input:
        split="results/data/split.csv",
        dataset="results/data/dataset",
    output:
        "results/data/intensity_reference.json",
    log:
        "logs/intensity_reference/intensity_reference.log",
    benchmark:
        "benchmarks/intensity_reference/intensity_reference.tsv"
    conda:
        "../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        image_size=config["image_size"],
    script:
        "../scripts/intensity_reference.py"


rule stats_counterfactual:
    input:
        predictions=counterfactual_stats_inputs,
    output:
        json="results/stats/counterfactual/stats.json",
        targets=report(
            "results/stats/counterfactual/targets.csv",
            caption="captions/counterfactual.rst",
            category="Intensity shortcut",
        ),
    log:
        "logs/stats_counterfactual/stats_counterfactual.log",
    benchmark:
        "benchmarks/stats_counterfactual/stats_counterfactual.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        runs=counterfactual_stats_runs,
        classes=config["dataset"]["classes"],
        resamples=config["report"]["bootstrap_resamples"],
        seed=config["report"]["seed"],
    script:
        "../scripts/stats_counterfactual.py"


use rule stats_counterfactual as stats_counterfactual_external with:
    output:
        json="results/stats/external/{external_set}/counterfactual/stats.json",
        targets=report(
            "results/stats/external/{external_set}/counterfactual/targets.csv",
            caption="captions/counterfactual.rst",
            category="Intensity shortcut",
            labels={"set": "{external_set}"},
        ),
    log:
        "logs/stats_counterfactual_external/{external_set}.log",
    benchmark:
        "benchmarks/stats_counterfactual_external/{external_set}.tsv"
    params:
        runs=counterfactual_stats_runs,
        classes=external_classes,
        resamples=config["report"]["bootstrap_resamples"],
        seed=config["report"]["seed"],
