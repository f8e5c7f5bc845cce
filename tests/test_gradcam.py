import numpy as np
import pandas as pd
import pytest

from mribench import gradcam
from mribench.model import build_model

keras = pytest.importorskip("keras")


# The Grad-CAM layer's map side at 64 px (ConvNeXtTiny's: the base's output, layer-normalised). The
# split is the same Keras graph on every backend and the gradient the backend's own: the JAX pass runs
# a base whose layer has layers after it in the base (VGG16) and one whose layer ends it (ConvNeXtTiny).
@pytest.mark.parametrize(
    "base, side",
    [
        pytest.param("vgg16", 4, marks=pytest.mark.backends),
        ("resnet50v2", 2),
        pytest.param("convnexttiny", 2, marks=pytest.mark.backends),
        ("efficientnetv2b0", 2),
    ],
)
def test_split_model_reproduces_the_model_and_gives_normalised_heatmaps(base, side):
    keras.utils.set_random_seed(0)
    model = build_model(base, n_classes=4, image_size=64, weights=None, dense_units=8)
    batch = np.random.default_rng(0).uniform(0, 255, (3, 64, 64, 3)).astype("float32")
    image_to_conv, conv_to_probabilities = gradcam.split_at_last_conv(model, base)
    conv = image_to_conv(batch)
    probabilities = keras.ops.convert_to_numpy(conv_to_probabilities(conv))
    np.testing.assert_allclose(probabilities, model.predict(batch, verbose=0), atol=1e-5)
    assert conv.shape[:3] == (3, side, side)

    maps = gradcam.heatmaps(model, base, batch, probabilities.argmax(axis=1))
    assert maps.shape == (3, side, side)
    assert maps.min() >= 0 and maps.max() <= 1
    assert all(m.max() in (0.0, 1.0) for m in maps)
    assert any(m.max() == 1.0 for m in maps)


@pytest.mark.backends
def test_the_gradient_is_the_backends_gradient_of_the_sum():
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(gradcam.gradient(lambda v: v**2, x)), 2 * x)


def test_selection_is_seeded_and_per_class():
    classes = ["a", "b"]
    predictions = pd.DataFrame(
        {
            "file": [f"f{i}" for i in range(12)],
            "true": ["a"] * 6 + ["b"] * 6,
            "predicted": ["a", "a", "a", "a", "b", "b"] + ["b"] * 6,
        }
    )
    chosen = gradcam.select_images(predictions, classes, per_class=2, seed=0)
    assert chosen.groupby(["true", "correct"]).size().to_dict() == {
        ("a", False): 2,
        ("a", True): 2,
        ("b", True): 2,  # class b has no misclassified image
    }
    assert chosen.file.tolist() == gradcam.select_images(predictions, classes, 2, seed=0).file.tolist()
    assert chosen.file.tolist() != gradcam.select_images(predictions, classes, 2, seed=3).file.tolist()
