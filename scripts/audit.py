from mribench.jobs import start_job

start_job(snakemake)

from mribench.audit import write_audit

write_audit(
    snakemake.input.dataset,
    out_json=snakemake.output.json,
    out_csv=snakemake.output.csv,
    classes=snakemake.params.classes,
    on_invalid=snakemake.params.on_invalid,
    near_distance=snakemake.params.near_duplicate_distance,
    threads=snakemake.threads,
    max_pixels=snakemake.params.max_image_pixels,
    obtained_json=snakemake.input.obtained,
)
