from mribench.jobs import start_job

start_job(snakemake, snakemake.params.backend)

from mribench.evaluation import evaluate_target
from mribench.intensity import CounterfactualView
from mribench.targets import Target

evaluate_target(
    target=Target.from_wildcards(snakemake.wildcards),
    model_path=snakemake.input.model,
    history_csv=snakemake.input.history,
    split_csv=snakemake.input.split,
    dataset_dir=snakemake.input.dataset,
    classes=snakemake.params.classes,
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    out_metrics=snakemake.output.metrics,
    out_predictions=snakemake.output.predictions,
    out_confusion=snakemake.output.confusion,
    out_curves=snakemake.output.curves,
    counterfactual=CounterfactualView.of_job(snakemake),
)
