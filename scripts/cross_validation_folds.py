from mribench.jobs import start_job

start_job(snakemake)

from mribench.folds import write_folds

write_folds(
    snakemake.input[0],
    snakemake.output.assignment,
    snakemake.output.splits,
    folds=snakemake.params.folds,
    repeat=int(snakemake.wildcards.repeat),
    val_fraction=snakemake.params.val_fraction,
    split_seed=snakemake.params.seed,
)
