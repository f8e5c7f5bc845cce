"""The Keras backend a job runs on (TensorFlow or JAX), and the GPUs it sees.

Keras reads KERAS_BACKEND once, when it is first imported, and JAX reads its XLA flags once, when it
starts; so every script calls `select` before it imports anything that imports Keras.
"""

import importlib
import importlib.metadata
import os
import sys

from mribench import devices

BACKENDS = ("tensorflow", "jax")
# Set to 1 to train on the CPU although nvidia-smi lists a GPU (it is not a result-changing setting,
# so it is an environment variable and not a config key that would re-run training).
ALLOW_CPU = "MRIBENCH_ALLOW_CPU"


class BackendError(RuntimeError):
    pass


def select(name, deterministic=False):
    """Make the next `import keras` use backend `name`, with the settings it reads at start-up."""
    if name not in BACKENDS:
        raise BackendError(f"unknown Keras backend {name!r}; mribench runs on {' or '.join(BACKENDS)}")
    if "keras" in sys.modules:
        import keras

        if keras.backend.backend() != name:
            raise BackendError(
                f"Keras already runs on {keras.backend.backend()} in this process, so it cannot switch to "
                f"{name}: choose the backend before importing Keras (KERAS_BACKEND={name})"
            )
        return
    os.environ["KERAS_BACKEND"] = name
    if name == "jax":
        # Memory as needed, not 75 % of the GPU up front, so two jobs can share a GPU (as
        # TensorFlow's memory growth allows).
        os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
        if deterministic:
            flags = os.environ.get("XLA_FLAGS", "")
            if "xla_gpu_deterministic_ops" not in flags:
                os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()


def current():
    import keras

    return keras.backend.backend()


def version():
    """The backend library's version, e.g. {"name": "jax", "version": "0.10.2"}."""
    name = current()
    module = importlib.import_module(name)
    return {"name": name, "version": module.__version__}


def tensorflow_available():
    """Whether TensorFlow can be imported here (SavedModel, TFLite and TensorBoard need it)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


def gpus():
    """The GPUs the backend can use, by name ([] when it runs on the CPU)."""
    if current() == "tensorflow":
        import tensorflow as tf

        return [
            tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
            for gpu in tf.config.list_physical_devices("GPU")
        ]
    import jax

    return [device.device_kind for device in jax.devices() if device.platform == "gpu"]


def supports_float16():
    """Tensor cores (compute capability 7.0 and later) make float16 faster than float32."""
    if current() == "tensorflow":
        import tensorflow as tf

        gpu = tf.config.list_physical_devices("GPU")[0]
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability", (0, 0))
        return capability >= (7, 0)
    import jax

    gpu = next(device for device in jax.devices() if device.platform == "gpu")
    major, minor = str(getattr(gpu, "compute_capability", "0.0")).split(".")[:2]
    return (int(major), int(minor)) >= (7, 0)


def configure(seed, deterministic, threads):
    """Seed everything, and on TensorFlow set op determinism, thread pools and GPU memory growth.

    Returns the GPUs in use. JAX needs no more here: `select` set its flags before it started.
    """
    import keras

    keras.utils.set_random_seed(seed)
    if current() == "tensorflow":
        import tensorflow as tf

        if deterministic:
            tf.config.experimental.enable_op_determinism()
        try:
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(min(threads, 2))
        except RuntimeError:  # TensorFlow already runs in this process (a caller other than the workflow)
            print(
                f"TensorFlow is already initialised: its thread pools stay as they are, not {threads} threads"
            )
        for gpu in tf.config.list_physical_devices("GPU"):
            # Two jobs sharing a GPU would otherwise fail: TensorFlow reserves all of its memory.
            tf.config.experimental.set_memory_growth(gpu, True)
    return gpus()


def check_gpu_is_used(in_use):
    """Stop before training when nvidia-smi lists a GPU that the backend cannot use: training would
    run on the CPU, many times slower, and say nothing."""
    listed = devices.count_gpus()
    if in_use or not listed or os.environ.get(ALLOW_CPU) == "1":
        return
    name = current()
    if name == "tensorflow":
        build = "tensorflow-cpu" if installed("tensorflow-cpu") else "tensorflow"
        cause = f"the installed TensorFlow ({build} {version()['version']}) finds no CUDA device"
        fix = (
            "run `make setup GPU=1` (it installs tensorflow[and-cuda] in place of tensorflow-cpu)"
            if build == "tensorflow-cpu"
            else 'check that its CUDA libraries match the driver (python -c "import tensorflow as tf; '
            "print(tf.config.list_physical_devices('GPU'))\" says why)"
        )
    else:
        cause = f"the installed jaxlib ({version()['version']}) has no CUDA plugin or finds no CUDA device"
        fix = "run `make setup GPU=1` (it installs jax[cuda12]; JAX_CUDA=cuda13 for CUDA 13 drivers)"
    hidden = os.environ.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None:
        cause += f" (CUDA_VISIBLE_DEVICES={hidden!r})"
    raise BackendError(
        f"nvidia-smi lists {listed} GPU(s), but Keras' {name} backend sees none: {cause}. "
        f"Training would run on the CPU. To fix it, {fix}. "
        f"To train on the CPU on purpose, set {ALLOW_CPU}=1."
    )


def installed(distribution):
    try:
        importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True
