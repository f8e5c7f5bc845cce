from mribench.jobs import start_job

start_job(snakemake)

from mribench.split import write_split

write_split(
    snakemake.input[0],
    snakemake.output[0],
    val_fraction=snakemake.params.val_fraction,
    seed=snakemake.params.seed,
    test_overlap=snakemake.params.test_overlap,
)
