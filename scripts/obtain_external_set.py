from mribench.jobs import start_job

console = start_job(snakemake)

from mribench.external import obtain_external_set

obtain_external_set(
    snakemake.output.dataset,
    snakemake.wildcards.external_set,
    snakemake.params.test_set,
    snakemake.params.obtain,
    snakemake.output.record,
    console,
)
