# After every result exists; a local rule, so that a remote tracking server is reached from the
# machine Snakemake runs on, which has the network where compute nodes may not.
rule track:
    input:
        # each target's chosen run's: its own, or its chosen tuning point's (history.csv beside it)
        unpack(chosen_train_jsons),
        unpack(tracked_fold_files),
        runs=expand(
            "{run}/{file}",
            run=run_dirs(),
            file=["MODEL_CARD.md", "curves.png", "confusion.png", "metrics.json"],
        ),
        baselines=expand("{run}/{file}", run=baseline_dirs(), file=["train.json", "metrics.json"]),
        points=[f"{point.run_dir}/train.json" for point in every_tuning_point()],
        selections=selections(),
        stats="results/stats/stats.json",
        split="results/data/split.csv",
        report="results/report.html",
        summary="results/summary.csv",
    output:
        "results/mlflow/tracked.json",
    log:
        "logs/track/track.log",
    benchmark:
        "benchmarks/track/track.tsv"
    conda:
        "../envs/tracking.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    params:
        mlflow=config["tracking"]["mlflow"],
        study={key: value for key, value in config.items() if key != "tracking"},
        targets=tracked_runs(every_target()),
        points=tracked_runs(every_tuning_point()),
        baselines=tracked_baselines(),
        folds=tracked_runs(fold_targets()),
        workflow_dir=workflow.basedir,
    script:
        "../scripts/track.py"
