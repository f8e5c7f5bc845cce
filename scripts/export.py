from mribench.logs import send_output_to

send_output_to(snakemake.log[0])

from mribench import backend  # noqa: E402

# SavedModel and TFLite are TensorFlow's formats: TensorFlow's backend wherever it is installed
backend.select("tensorflow" if backend.tensorflow_available() else snakemake.params.backend)

from mribench.export import export_target  # noqa: E402

export_target(
    model_path=snakemake.input.model,
    expected={
        "model": snakemake.wildcards.model,
        "strategy": snakemake.wildcards.strategy,
        "seed": int(snakemake.wildcards.seed),
    },
    split_csv=snakemake.input.split,
    dataset_dir=snakemake.input.dataset,
    formats=snakemake.params.formats,
    latency_runs=snakemake.params.latency_runs,
    threads=snakemake.threads,
    out_dir=snakemake.output.exports,
    out_json=snakemake.output.json,
)
