from mribench.jobs import start_job

start_job(snakemake, snakemake.params.backend)

from mribench.evaluation import evaluate_external
from mribench.intensity import CounterfactualView
from mribench.targets import Target

evaluate_external(
    target=Target.from_wildcards(snakemake.wildcards),
    model_path=snakemake.input.model,
    audit_csv=snakemake.input.audit,
    dataset_dir=snakemake.input.dataset,
    classes=snakemake.params.classes,
    set_classes=snakemake.params.set_classes,
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    out_metrics=snakemake.output.metrics,
    out_predictions=snakemake.output.predictions,
    out_probabilities=snakemake.output.get("probabilities"),
    counterfactual=CounterfactualView.of_job(snakemake),
)
