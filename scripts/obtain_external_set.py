from mribench.logs import send_output_to

console = send_output_to(snakemake.log[0])

from mribench.external import obtain_external_set  # noqa: E402

obtain_external_set(
    snakemake.output.dataset,
    snakemake.wildcards.external_set,
    snakemake.params.test_set,
    snakemake.params.obtain,
    snakemake.output.record,
    console,
)
