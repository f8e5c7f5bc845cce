from mribench.logs import send_output_to

send_output_to(snakemake.log[0])

from mribench.weights import fetch_imagenet_weights  # noqa: E402

fetch_imagenet_weights(snakemake.params.model, snakemake.params.image_size, snakemake.output[0])
