"""The epoch backup is resumed only when it is complete and was made for the same job."""

import json

import keras
import numpy as np
import pytest

from mribench.batch_norm import PreciseBatchNorm
from mribench.pipeline import EvaluationBatches
from mribench.resume import ResumableTraining


def fit_with_backup(backup_dir, fingerprint, epochs):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.Dropout(0.5)])
    model.add(keras.layers.Dense(2, activation="softmax"))
    model.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy")
    early_stopping = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    reduce_lr = keras.callbacks.ReduceLROnPlateau(patience=1)
    resumable = ResumableTraining(backup_dir, fingerprint, early_stopping, reduce_lr)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 2, 2)
    model.fit(x, y, validation_data=(x, y), epochs=epochs, callbacks=[early_stopping, reduce_lr, resumable])
    return resumable


@pytest.fixture
def two_epoch_backup(tmp_path):
    backup_dir = tmp_path / "_resume"
    fit_with_backup(backup_dir, {"settings": 1}, epochs=2)
    return backup_dir


def test_backup_of_the_same_job_is_resumed(two_epoch_backup):
    resumed = fit_with_backup(two_epoch_backup, {"settings": 1}, epochs=3)
    assert resumed.finished_epochs == 2
    assert [row["epoch"] for row in resumed.history] == [1, 2, 3]


def test_backup_for_other_settings_is_discarded(two_epoch_backup):
    fresh = fit_with_backup(two_epoch_backup, {"settings": 2}, epochs=1)
    assert fresh.finished_epochs == 0
    assert [row["epoch"] for row in fresh.history] == [1]


def test_backup_interrupted_while_being_written_is_discarded(two_epoch_backup):
    state = json.loads((two_epoch_backup / "state.json").read_text())
    (two_epoch_backup / "state.json").write_text(json.dumps(state | {"epoch": 3}))  # Keras' file says 2
    fresh = fit_with_backup(two_epoch_backup, {"settings": 1}, epochs=1)
    assert fresh.finished_epochs == 0
    assert [row["epoch"] for row in fresh.history] == [1]


def test_backup_of_a_run_early_stopping_had_ended_trains_no_further(two_epoch_backup):
    state = json.loads((two_epoch_backup / "state.json").read_text())
    (two_epoch_backup / "state.json").write_text(json.dumps(state | {"stopped": True}))
    resumed = fit_with_backup(two_epoch_backup, {"settings": 1}, epochs=5)
    assert resumed.finished_epochs == 2
    assert [row["epoch"] for row in resumed.history] == [1, 2]


def fit_with_precise_batch_norm(backup_dir, epochs):
    """A model with BatchNormalization and Dropout whose statistics are recomputed before every
    validation (batch_norm.PreciseBatchNorm), backed up epoch by epoch."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8), keras.layers.BatchNormalization()])
    model.add(keras.layers.Dropout(0.5))
    model.add(keras.layers.Dense(2, activation="softmax"))
    model.compile(keras.optimizers.Adam(1e-2), "categorical_crossentropy")
    early_stopping = keras.callbacks.EarlyStopping(patience=5, restore_best_weights=True)
    reduce_lr = keras.callbacks.ReduceLROnPlateau(patience=1)
    resumable = ResumableTraining(backup_dir, {"settings": 1}, early_stopping, reduce_lr)
    x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
    y = keras.utils.to_categorical(np.arange(16) % 2, 2)
    precise = PreciseBatchNorm(EvaluationBatches(x, batch_size=4), steps=3)
    model.fit(
        x, y, batch_size=4, shuffle=False, validation_data=(x, y), epochs=epochs,
        callbacks=[precise, early_stopping, reduce_lr, resumable], verbose=0,
    )  # fmt: skip
    return model, resumable


@pytest.mark.backends
def test_resumed_run_with_precise_batch_norm_ends_where_an_uninterrupted_one_does(tmp_path):
    uninterrupted, _ = fit_with_precise_batch_norm(tmp_path / "uninterrupted", epochs=4)
    fit_with_precise_batch_norm(tmp_path / "interrupted", epochs=2)
    resumed, backup = fit_with_precise_batch_norm(tmp_path / "interrupted", epochs=4)
    assert backup.finished_epochs == 2
    for a, b in zip(resumed.weights, uninterrupted.weights, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b), a.path)
