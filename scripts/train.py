from mribench.jobs import start_job

training = snakemake.params.settings["training"]
start_job(snakemake, training["backend"], training["deterministic"], claim_gpu=True)

from mribench.targets import Target
from mribench.training import StartRun, TrainingJob, TrainingOutputs, train_target

inputs = snakemake.input
train_target(
    TrainingJob(
        target=Target.from_wildcards(snakemake.wildcards),
        settings=snakemake.params.settings,
        split_csv=inputs.split,
        dataset_dir=inputs.dataset,
        weights=inputs.get("weights"),
        start=(
            StartRun(inputs.start_model, inputs.start_history, inputs.start_train)
            if "start_model" in inputs.keys()
            else None
        ),
        intensity_reference=inputs.get("intensity_reference"),
    ),
    TrainingOutputs(**snakemake.output),
    threads=snakemake.threads,
)
