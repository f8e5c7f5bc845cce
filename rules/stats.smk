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


rule fold_stats:
    """Cross-validation: each fold's scores, their mean and SD per target, the fold ensembles, and the
    corrected resampled t-tests between targets (mribench.stats.write_fold_statistics)."""
    input:
        held_out=[f"{run.run_dir}/predictions.csv" for run in fold_targets() + fold_baselines()],
        testing=[f"{run.run_dir}/testing/predictions.csv" for run in fold_targets()],
        ensembles=[f"{target.ensemble_dir}/predictions.csv" for target in every_target()],
        external=[row[-1] for row in external_ensembles()],
        splits=fold_split_files(),
    output:
        json="results/stats/cross_validation.json",
        targets=report(
            "results/stats/cross_validation.csv",
            caption="captions/stats_cross_validation.rst",
            category="Statistics",
        ),
        folds="results/stats/folds.csv",
        tests="results/stats/fold_tests.csv",
    log:
        "logs/fold_stats/fold_stats.log",
    benchmark:
        "benchmarks/fold_stats/fold_stats.tsv"
    conda:
        "../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        fold_runs=fold_stats_runs(),
        ensembles=[[t.model, t.strategy, t.seed, f"{t.ensemble_dir}/predictions.csv"] for t in every_target()],
        external_ensembles=external_ensembles(),
        classes=config["dataset"]["classes"],
    script:
        "../scripts/fold_stats.py"
