from mribench.jobs import start_job

start_job(snakemake)

from mribench.counterfactual import write_counterfactual_statistics

write_counterfactual_statistics(
    runs=snakemake.params.runs,
    classes=snakemake.params.classes,
    resamples=snakemake.params.resamples,
    seed=snakemake.params.seed,
    out_json=snakemake.output.json,
    out_csv=snakemake.output.targets,
)
