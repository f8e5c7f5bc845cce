from mribench.jobs import start_job

start_job(snakemake)

from mribench.evaluation import write_ensemble

write_ensemble(
    snakemake.input.predictions,
    snakemake.input.split,
    snakemake.params.classes,
    snakemake.output.metrics,
    snakemake.output.predictions,
)
