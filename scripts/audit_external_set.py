from mribench.jobs import start_job

start_job(snakemake)

from mribench.external import write_external_audit

write_external_audit(
    snakemake.input.dataset,
    name=snakemake.wildcards.external_set,
    classes=snakemake.params.classes,
    reference_csv=snakemake.input.reference,
    out_json=snakemake.output.json,
    out_csv=snakemake.output.csv,
    on_invalid=snakemake.params.on_invalid,
    near_distance=snakemake.params.near_duplicate_distance,
    threads=snakemake.threads,
    max_pixels=snakemake.params.max_image_pixels,
)
