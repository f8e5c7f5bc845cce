"""One line per epoch on the console while a training job runs, so a person watching `snakemake`
sees which target is at which epoch, how well it does and about how long it has left; the job's log
keeps Keras' full per-epoch lines."""

import time

import keras

from mribench import logs


class ConsoleProgress(keras.callbacks.Callback):
    """Writes `<target>: epoch 3/10, val_accuracy 0.8125, 4.1 s/epoch, at most 29 s left` to the
    console after every epoch, and a line when the stage ends.

    The time left is an upper bound: the mean epoch time of this process times the epochs still
    allowed; early stopping may end the stage sooner.
    """

    def __init__(self, target, stream=None):
        super().__init__()
        self.target = target
        self.stream = stream
        self.epoch_seconds = []
        self.started = None

    def on_epoch_begin(self, epoch, logs=None):
        self.started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_seconds.append(time.perf_counter() - self.started)
        self.write(epoch_line(self.target, epoch + 1, self.params["epochs"], logs or {}, self.epoch_seconds))

    def on_train_end(self, logs=None):
        self.write(f"{self.target}: stage finished after {format_seconds(sum(self.epoch_seconds))}")

    def write(self, line):
        stream = self.stream or logs.console()
        print(line, file=stream, flush=True)


def epoch_line(target, epoch, epochs, metrics, epoch_seconds):
    """The console line after `epoch` of `epochs` (counted from 1)."""
    per_epoch = sum(epoch_seconds) / len(epoch_seconds)
    parts = [f"{target}: epoch {epoch}/{epochs}"]
    for name in ("val_accuracy", "val_loss"):
        if name in metrics:
            parts.append(f"{name} {float(metrics[name]):.4f}")
    parts.append(f"{per_epoch:.1f} s/epoch")
    left = epochs - epoch
    parts.append(f"at most {format_seconds(left * per_epoch)} left" if left else "last epoch")
    return ", ".join(parts)


def format_seconds(seconds):
    """42 s, 3 min 05 s, 2 h 07 min."""
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
