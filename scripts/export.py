from mribench.jobs import start_job

# SavedModel and TFLite are TensorFlow's formats: TensorFlow's backend wherever it is installed
start_job(snakemake, snakemake.params.backend, prefer_tensorflow=True)

from mribench.export import export_target
from mribench.targets import Target

export_target(
    target=Target.from_wildcards(snakemake.wildcards),
    model_path=snakemake.input.model,
    split_csv=snakemake.input.split,
    dataset_dir=snakemake.input.dataset,
    formats=snakemake.params.formats,
    latency_runs=snakemake.params.latency_runs,
    threads=snakemake.threads,
    out_dir=snakemake.output.exports,
    out_json=snakemake.output.json,
)
