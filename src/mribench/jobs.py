"""The start of every job script, in the one order that works: output to the job's log first (so
that even an import error lands there), the config's plugins (so the job knows the workflow's
strategies), a GPU of its own for training, then the Keras backend, which must be chosen before
anything imports Keras. Scripts import the library functions they call after this."""

from mribench.logs import console, send_output_to
from mribench.strategies import load_plugins


def start_job(snakemake, keras_backend=None, deterministic=False, claim_gpu=False, prefer_tensorflow=False):
    """Prepare this job's process; `keras_backend` (tensorflow | jax) for jobs that run a model,
    overridden by TensorFlow wherever it is installed with `prefer_tensorflow` (export: its formats
    are TensorFlow's). Returns a stream to Snakemake's console (logs.console)."""
    send_output_to(snakemake.log[0])
    load_plugins(snakemake.config["plugins"])
    if claim_gpu:
        from mribench.devices import use_own_gpu

        use_own_gpu()  # before the backend starts
    if keras_backend:
        from mribench import backend

        if prefer_tensorflow and backend.tensorflow_available():
            keras_backend = "tensorflow"
        backend.select(keras_backend, deterministic)
    return console()
