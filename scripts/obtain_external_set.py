from mribench.jobs import start_job

start_job(snakemake)

from mribench.external import obtain_external_set

obtain_external_set(snakemake.output[0], snakemake.wildcards.external_set, snakemake.params.test_set)
