from mribench.logs import send_output_to

send_output_to(snakemake.log[0])

from mribench import backend  # noqa: E402

backend.select(snakemake.params.backend)  # before Keras is imported

from mribench.evaluation import evaluate_external  # noqa: E402

evaluate_external(
    model_path=snakemake.input.model,
    expected={
        "model": snakemake.wildcards.model,
        "strategy": snakemake.wildcards.strategy,
        "seed": int(snakemake.wildcards.seed),
    },
    audit_csv=snakemake.input.audit,
    dataset_dir=snakemake.input.dataset,
    classes=snakemake.params.classes,
    set_classes=snakemake.params.set_classes,
    batch_size=snakemake.params.batch_size,
    threads=snakemake.threads,
    out_metrics=snakemake.output.metrics,
    out_predictions=snakemake.output.predictions,
)
