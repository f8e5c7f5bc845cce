from mribench.jobs import start_job

start_job(snakemake)

from mribench.intensity import write_reference

write_reference(
    split_csv=snakemake.input.split,
    dataset_dir=snakemake.input.dataset,
    image_size=snakemake.params.image_size,
    out_json=snakemake.output[0],
    threads=snakemake.threads,
)
