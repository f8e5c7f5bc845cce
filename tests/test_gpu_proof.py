"""The GPU proof (bench/gpu_proof.py) at a tiny size on the CPU, where TensorFlow cannot be imported:
as on the GPU machines, it needs only JAX, Keras and the repository."""

import json
import os
import subprocess
import sys

from conftest import REPO, refusing_imports

TINY = ["--classes", "2", "--train-per-class", "8", "--test-per-class", "4", "--phantom-size", "48",
        "--image-size", "32", "--epochs", "1", "--models", "vgg16", "--processes", "2",
        "--pipeline-batches", "5"]  # fmt: skip


def test_gpu_proof_runs_without_tensorflow(tmp_path):
    out = tmp_path / "proof"
    code = refusing_imports("tensorflow") + (
        "import runpy; "
        f"sys.argv = ['gpu_proof.py', '--out', {str(out)!r}, *{TINY!r}]; "
        f"runpy.run_path({str(REPO / 'bench' / 'gpu_proof.py')!r}, run_name='__main__')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=os.environ | {"KERAS_BACKEND": ""}
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    summary = json.loads((out / "gpu_proof.json").read_text())
    assert summary["backend"]["name"] == "jax" and summary["gpus"] == []
    assert [row["target"] for row in summary["targets"]] == ["vgg16_feature_extraction", "vgg16_fine_tuning"]
    for row in summary["targets"]:
        assert row["epochs"] == 1 and row["train img/s"] > 0 and 0 <= row["test acc"] <= 1
        assert row["GPU util %"] is None  # no GPU, no samples
    assert summary["pipeline_img_per_s"] > 0
    assert "all targets:" in result.stdout and "TensorBoard logs skipped" in result.stdout
    assert len(list((out / "dataset" / "Training").glob("*/*.jpg"))) == 16
