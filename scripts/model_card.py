from mribench.jobs import start_job

start_job(snakemake)

from mribench.model_card import write_model_card

write_model_card(
    train_json=snakemake.input.train,
    metrics_json=snakemake.input.metrics,
    split_csv=snakemake.input.split,
    dataset=snakemake.params.dataset,
    training=snakemake.params.training,
    out_md=snakemake.output[0],
    export_json=snakemake.input.get("export"),
    stats_json=snakemake.input.stats,
    audit_json=snakemake.input.audit,
    selection_json=snakemake.input.get("selection"),
    counterfactual=(snakemake.input.counterfactual_metrics, snakemake.input.counterfactual_stats),
    external=list(
        zip(
            snakemake.params.external_sets,
            snakemake.input.external_metrics,
            snakemake.input.external_stats,
            snakemake.input.external_audit,
            strict=True,
        )
    ),
)
