from mribench.jobs import start_job

start_job(snakemake)

from mribench.report import write_report

write_report(
    run_dirs=snakemake.params.run_dirs,
    split_csv=snakemake.input.split,
    audit_json=snakemake.input.audit,
    audit_csv=snakemake.input.audit_csv,
    dataset_dir=snakemake.input.dataset,
    stats_json=snakemake.input.stats,
    config=snakemake.params.config,
    workflow_dir=snakemake.params.workflow_dir,
    benchmark_dir="benchmarks",
    export_jsons=snakemake.input.exports,
    external_sets=snakemake.params.external_sets,
    cross_validation_json=snakemake.input.cross_validation[0] if snakemake.input.cross_validation else None,
    selection_jsons=snakemake.input.selections,
    counterfactual_stats=snakemake.input.counterfactual_stats[0],
    out_summary=snakemake.output.summary,
    out_html=snakemake.output.html,
)
