from mribench.logs import send_output_to

send_output_to(snakemake.log[0])

from mribench import backend  # noqa: E402

backend.select(snakemake.params.backend)  # before Keras is imported

from pathlib import Path  # noqa: E402

from mribench.gradcam import write_gradcam  # noqa: E402

write_gradcam(
    model_path=snakemake.input.model,
    expected={
        "model": snakemake.wildcards.model,
        "strategy": snakemake.wildcards.strategy,
        "seed": int(snakemake.wildcards.seed),
    },
    predictions_csv=snakemake.input.predictions,
    dataset_dir=snakemake.input.dataset,
    classes=snakemake.params.classes,
    per_class=snakemake.params.per_class,
    seed=snakemake.params.seed,
    out_dir=Path(snakemake.output.gallery).parent,
)
