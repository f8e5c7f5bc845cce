"""Epoch-level backup of a training job, so a job killed by SIGKILL, SIGTERM (a time limit) or a
preempted node continues from its last finished epoch when it is started again.

Keras' BackupAndRestore keeps the model's weights, the optimizer (including its learning rate) and
the epoch number. It does not keep what else decides the rest of the run: the state of EarlyStopping
and ReduceLROnPlateau, the model's random-number state (Dropout), the history of the epochs already
run and the time they took. `ResumableTraining` keeps those too, so that a resumed run ends exactly
where an uninterrupted one would. The input pipeline needs no state: its shuffle order and
augmentation are keyed by epoch and batch number, so it simply starts at the first unfinished epoch.
"""

import json
import os
import shutil
import time
from pathlib import Path

import keras
import numpy as np


class ResumableTraining(keras.callbacks.BackupAndRestore):
    """BackupAndRestore plus the state it leaves out; place it after the callbacks it restores.

    `fingerprint` identifies what is being trained (settings, data): a backup made for anything else
    is discarded rather than resumed.
    """

    def __init__(self, backup_dir, fingerprint, early_stopping, reduce_lr):
        super().__init__(backup_dir, delete_checkpoint=False)
        self.fingerprint = fingerprint
        self.early_stopping = early_stopping
        self.reduce_lr = reduce_lr
        self.state_path = Path(backup_dir) / "state.json"
        self.state = self._valid_state()
        self.history = self.state["history"] if self.state else []
        self.earlier_seconds = self.state["seconds"] if self.state else 0.0
        self._started = None

    @property
    def finished_epochs(self):
        """Epochs the backup holds; 0 for a fresh start."""
        return self.state["epoch"] if self.state else 0

    @property
    def seconds(self):
        """Training time over every attempt, without the epochs a killed attempt did not finish."""
        return self.earlier_seconds + (time.perf_counter() - self._started if self._started else 0.0)

    def on_train_begin(self, logs=None):
        if not self.state:
            shutil.rmtree(self.backup_dir, ignore_errors=True)
        super().on_train_begin(logs)
        self._started = time.perf_counter()
        if not self.state:
            return
        print(
            f"Resuming from the backup in {self.backup_dir}: {self.finished_epochs} epoch(s) done", flush=True
        )
        for callback, saved in ((self.early_stopping, "early_stopping"), (self.reduce_lr, "reduce_lr")):
            for name, value in self.state[saved].items():
                setattr(callback, name, value)
        best_epoch = self.state["early_stopping"]["best_epoch"]
        best_weights = Path(self.backup_dir) / f"best-epoch{best_epoch}.npz"
        if best_weights.exists():
            with np.load(best_weights) as saved:
                self.early_stopping.best_weights = [saved[f"arr_{i}"] for i in range(len(saved.files))]
        for variable, value in zip(random_state(self.model), self.state["random_state"], strict=True):
            variable.assign(np.array(value, dtype=variable.dtype))
        if self.state.get("stopped"):  # EarlyStopping had ended the run when the job was killed
            self.model._initial_epoch = self.params["epochs"]

    def on_epoch_end(self, epoch, logs=None):
        self.history.append({"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}})
        super().on_epoch_end(epoch, logs)

    def _save_model(self):
        """Write the extra state first and Keras' epoch counter last: a job killed in between leaves
        a backup whose epochs disagree, which `_valid_state` discards instead of resuming wrongly."""
        Path(self.backup_dir).mkdir(parents=True, exist_ok=True)
        early_stopping = self.early_stopping
        best_weights = Path(self.backup_dir) / f"best-epoch{early_stopping.best_epoch}.npz"
        if early_stopping.best_weights is not None and not best_weights.exists():
            partial = best_weights.with_suffix(".partial.npz")
            np.savez(partial, *early_stopping.best_weights)
            os.replace(partial, best_weights)
        state = {
            "fingerprint": self.fingerprint,
            "epoch": self._current_epoch,
            "stopped": bool(self.model.stop_training),
            "seconds": self.seconds,
            "history": self.history,
            "early_stopping": {
                "wait": early_stopping.wait,
                "best": _plain(early_stopping.best),
                "best_epoch": early_stopping.best_epoch,
            },
            "reduce_lr": {
                "wait": self.reduce_lr.wait,
                "best": _plain(self.reduce_lr.best),
                "cooldown_counter": self.reduce_lr.cooldown_counter,
            },
            "random_state": [np.asarray(v.numpy()).tolist() for v in random_state(self.model)],
        }
        partial = self.state_path.with_suffix(".partial")
        partial.write_text(json.dumps(state))
        os.replace(partial, self.state_path)
        super()._save_model()
        for stale in Path(self.backup_dir).glob("best-epoch*.npz"):
            if stale != best_weights:
                stale.unlink()

    def _valid_state(self):
        """The saved state if the backup is complete and made for this very job, else None."""
        try:
            state = json.loads(self.state_path.read_text())
            keras_epoch = json.loads(Path(self._training_metadata_path).read_text())["epoch"]
        except (OSError, ValueError, KeyError):
            return None
        if state.get("fingerprint") != self.fingerprint or state.get("epoch") != keras_epoch:
            print(f"Discarding the backup in {self.backup_dir}: it is incomplete or for other settings")
            return None
        return state


def random_state(model):
    """The model's SeedGenerator states: what its variables hold besides the weights."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _plain(value):
    return None if value is None else float(value)
