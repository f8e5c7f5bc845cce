from mribench.jobs import start_job

start_job(snakemake)

from mribench.sources import write_dataset

write_dataset(snakemake.output.dataset, snakemake.output.record, snakemake.params.dataset)
