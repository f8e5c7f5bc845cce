from mribench.jobs import start_job

start_job(snakemake)

from mribench.weights import fetch_imagenet_weights

fetch_imagenet_weights(snakemake.params.model, snakemake.params.image_size, snakemake.output[0])
