from mribench.logs import send_output_to

send_output_to(snakemake.log[0])

from mribench.sources import obtain_dataset  # noqa: E402

obtain_dataset(snakemake.output[0], snakemake.params.dataset)
