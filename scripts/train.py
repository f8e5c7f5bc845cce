from mribench.logs import send_output_to

send_output_to(snakemake.log[0])

from mribench.devices import use_own_gpu  # noqa: E402

use_own_gpu()  # before the backend starts

from mribench import backend  # noqa: E402

training = snakemake.params.settings["training"]
backend.select(training["backend"], training["deterministic"])  # before Keras is imported

from mribench.training import train_target  # noqa: E402

start = None
if snakemake.wildcards.strategy == "fine_tuning":
    start = {
        "model": snakemake.input.start_model,
        "history": snakemake.input.start_history,
        "train": snakemake.input.start_train,
    }
train_target(
    strategy=snakemake.wildcards.strategy,
    base_name=snakemake.wildcards.model,
    seed=int(snakemake.wildcards.seed),
    settings=snakemake.params.settings,
    split_csv=snakemake.input.split,
    dataset_dir=snakemake.input.dataset,
    out_model=snakemake.output.model,
    out_history=snakemake.output.history,
    out_train=snakemake.output.train,
    out_tensorboard=snakemake.output.tensorboard,
    threads=snakemake.threads,
    weights=snakemake.input.get("weights"),
    start=start,
)
