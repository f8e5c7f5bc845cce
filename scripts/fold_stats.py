from mribench.jobs import start_job

start_job(snakemake)

from pathlib import Path

from mribench.stats import write_fold_statistics

write_fold_statistics(
    fold_runs=snakemake.params.fold_runs,
    ensembles=snakemake.params.ensembles,
    fold_split_csvs=snakemake.input.splits,
    classes=snakemake.params.classes,
    out_dir=Path(snakemake.output.json).parent,
    external_ensembles=snakemake.params.external_ensembles,
)
