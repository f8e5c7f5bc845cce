from mribench.logs import send_output_to

send_output_to(snakemake.log[0])

from pathlib import Path  # noqa: E402

from mribench.stats import write_statistics  # noqa: E402

write_statistics(
    runs=snakemake.params.runs,
    classes=snakemake.params.classes,
    resamples=snakemake.params.resamples,
    seed=snakemake.params.seed,
    out_dir=Path(snakemake.output.json).parent,
)
