from mribench.logs import send_output_to

send_output_to(snakemake.log[0])

from mribench.report import write_report  # noqa: E402

write_report(
    run_dirs=snakemake.params.run_dirs,
    split_csv=snakemake.input.split,
    config=snakemake.params.config,
    export_jsons=snakemake.input.exports,
    out_summary=snakemake.output.summary,
    out_html=snakemake.output.html,
)
