from mribench.logs import send_output_to

console = send_output_to(snakemake.log[0])

from mribench.sources import write_dataset  # noqa: E402

write_dataset(
    snakemake.output.dataset,
    snakemake.output.record,
    snakemake.params.dataset,
    snakemake.params.obtain,
    console,
)
