from mribench.jobs import start_job

start_job(snakemake)

from mribench.tuning import write_selection

write_selection(
    point_ids=snakemake.params.points,
    train_jsons=snakemake.input.train,
    history_csvs=snakemake.input.history,
    select_on=snakemake.params.select_on,
    out_json=snakemake.output.selection,
)
