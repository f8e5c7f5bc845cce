from mribench.logs import send_output_to

send_output_to(snakemake.log[0])

from mribench.split import write_split  # noqa: E402

write_split(
    snakemake.input[0],
    snakemake.output[0],
    val_fraction=snakemake.params.val_fraction,
    seed=snakemake.params.seed,
    test_overlap=snakemake.params.test_overlap,
)
