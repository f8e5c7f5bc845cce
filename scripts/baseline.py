from mribench.jobs import start_job

start_job(snakemake)

from mribench.baselines import train_baseline
from mribench.intensity import CounterfactualView

train_baseline(
    kind=snakemake.wildcards.baseline,
    seed=int(snakemake.wildcards.seed),
    classes=snakemake.params.settings["classes"],
    image_size=snakemake.params.settings.get("image_size"),
    split_csv=snakemake.input.split,
    audit_csv=snakemake.input.get("audit"),
    dataset_dir=snakemake.input.get("dataset"),
    threads=snakemake.threads,
    out_metrics=snakemake.output.metrics,
    out_predictions=snakemake.output.predictions,
    out_train=snakemake.output.train,
    out_confusion=snakemake.output.confusion,
    counterfactual=CounterfactualView.of_job(snakemake),
    intensity=snakemake.params.settings.get("intensity", "none"),
)
