"""The first epoch's tracing on TensorFlow: `model.compile` alone against mribench's
`training.compile_and_build` (compile, then create the optimizer's and metrics' variables before fit).

Without a distribution strategy Keras creates those variables inside the first trace of the training
step, and TensorFlow traces a function that creates variables a second time. Each way trains a fresh
model for one epoch in its own process (traces are per process), on one thread, and reports the fit's
CPU time, how often the training step's Python ran (once per trace) and a checksum of the weights
after the epoch, which must be equal.

    PYTHONPATH=src nice -n 10 .venv/bin/python bench/bench_trace.py [--base mobilenetv2] [--size 32]
"""

import argparse
import json
import subprocess
import sys
import time

from common import Run, print_table

WAYS = ("compile", "compile_and_build")


def one_fit(way, base, size, n_images, batch):
    """Train `base` for one epoch on random images, compiled `way`; returns what main reports."""
    import keras
    import numpy as np
    import tensorflow as tf

    from mribench import training
    from mribench.model import build_model

    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (n_images, size, size, 3)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 4, n_images), 4)
    model = build_model(base, 4, size, None, dense_units=16, from_scratch=True)
    settings = {
        "optimizer": keras.optimizers.Adam(1e-3),
        "loss": "categorical_crossentropy",
        "metrics": ["accuracy"],
    }
    if way == "compile":
        model.compile(**settings)
    else:
        training.compile_and_build(model, settings, (x[:batch], y[:batch]))
    traces = []
    step = model.train_step
    model.train_step = lambda data: traces.append(1) or step(data)
    started = time.process_time()
    model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
    return {
        "way": way,
        "fit CPU s": time.process_time() - started,
        "traces": len(traces),
        "sum |w|": float(sum(np.abs(w).sum() for w in model.get_weights())),
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--base", default="mobilenetv2")
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--way", choices=WAYS, help="run one way in this process and print it as JSON")
    args = parser.parse_args()
    if args.way:
        print(json.dumps(one_fit(args.way, args.base, args.size, args.images, args.batch)))
        return
    run = Run("trace")
    results = []
    for way in WAYS:
        command = [sys.executable, *sys.argv, "--way", way]
        results.append(json.loads(subprocess.run(command, check=True, capture_output=True).stdout))
    print(f"{args.base} from scratch, {args.size} px, {args.images} images, batch {args.batch}")
    print_table(results)
    run.save(results, {key: value for key, value in vars(args).items() if key != "way"})


if __name__ == "__main__":
    main()
