from mribench.jobs import start_job

console = start_job(snakemake)

from mribench.tracking import TrackingError, track_study

try:
    track_study(
        mlflow_settings=snakemake.params.mlflow,
        study=snakemake.params.study,
        targets=snakemake.params.targets,
        baselines=snakemake.params.baselines,
        stats_json=snakemake.input.stats,
        split_csv=snakemake.input.split,
        report_files=[snakemake.input.report, snakemake.input.summary, snakemake.input.stats],
        workflow_dir=snakemake.params.workflow_dir,
        out_json=snakemake.output[0],
        trained_dirs={
            run: train.removesuffix("/train.json")
            for runs, trains in [
                (snakemake.params.targets, snakemake.input.train),
                (snakemake.params.folds, snakemake.input.fold_train),
            ]
            for run, train in zip(runs, trains, strict=True)
        },
        points=snakemake.params.points,
        folds=snakemake.params.folds,
        selection_jsons=snakemake.input.selections,
    )
except TrackingError as error:
    print(f"mribench track: {error}", file=console)  # on the console too, not only in the log
    raise
