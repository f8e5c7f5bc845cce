from mribench.jobs import start_job

console = start_job(snakemake)

from mribench.sources import write_dataset

write_dataset(
    snakemake.output.dataset,
    snakemake.output.record,
    snakemake.params.dataset,
    snakemake.params.obtain,
    console,
)
