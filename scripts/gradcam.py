from mribench.jobs import start_job

start_job(snakemake, snakemake.params.backend)

from pathlib import Path

from mribench.gradcam import write_gradcam
from mribench.targets import Target

write_gradcam(
    target=Target.from_wildcards(snakemake.wildcards),
    model_path=snakemake.input.model,
    predictions_csv=snakemake.input.predictions,
    dataset_dir=snakemake.input.dataset,
    classes=snakemake.params.classes,
    per_class=snakemake.params.per_class,
    seed=snakemake.params.seed,
    out_dir=Path(snakemake.output.gallery).parent,
)
