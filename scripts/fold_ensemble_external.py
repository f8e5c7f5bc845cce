from mribench.jobs import start_job

start_job(snakemake)

from mribench.evaluation import write_external_ensemble

write_external_ensemble(
    snakemake.input.probabilities,
    snakemake.input.audit,
    snakemake.params.classes,
    snakemake.params.set_classes,
    snakemake.output.metrics,
    snakemake.output.predictions,
)
