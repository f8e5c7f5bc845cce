rule stats:
    input:
        predictions=expand("{run}/predictions.csv", run=run_dirs() + baseline_dirs()),
    output:
        json="results/stats/stats.json",
        targets=report(
            "results/stats/targets.csv", caption="captions/stats_targets.rst", category="Statistics"
        ),
        auc="results/stats/auc.csv",
        mcnemar=report(
            "results/stats/mcnemar.csv", caption="captions/stats_mcnemar.rst", category="Statistics"
        ),
        figures=report(
            directory("results/stats/figures"),
            patterns=["{name}.png"],
            caption="captions/stats_figures.rst",
            category="ROC and calibration",
        ),
    log:
        "logs/stats/stats.log",
    benchmark:
        "benchmarks/stats/stats.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        runs=stats_runs(),
        classes=config["dataset"]["classes"],
        resamples=config["report"]["bootstrap_resamples"],
        seed=config["report"]["seed"],
    script:
        "../scripts/stats.py"
