from mribench.jobs import start_job

start_job(snakemake)

from pathlib import Path

from mribench.stats import write_statistics

write_statistics(
    runs=snakemake.params.runs,
    classes=snakemake.params.classes,
    resamples=snakemake.params.resamples,
    seed=snakemake.params.seed,
    out_dir=Path(snakemake.output.json).parent,
)
