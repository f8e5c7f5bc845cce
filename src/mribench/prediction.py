"""Run a trained model.keras, or its ONNX export, on new images, with exactly the preprocessing it was
trained with."""

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from mribench import images
from mribench.decoding import UnusableImage, decode
from mribench.intensity import model_reference
from mribench.model_file import ModelMetadataError
from mribench.sources import walk_images


@dataclass
class Prediction:
    file: str
    predicted: str
    probabilities: dict
    gradcam: str | None = None


@dataclass
class Skipped:
    file: str
    reason: str


@dataclass
class Results:
    classes: list
    predictions: list = field(default_factory=list)
    skipped: list = field(default_factory=list)


def find_images(paths, follow_links_out=False):
    """The files named, and the files under the folders named (at any depth), each with the argument it
    came from; and the entries left out ((path, reason) pairs).

    Folders are read by the policy obtain applies to datasets (sources.walk_images): system and hidden
    files are ignored silently; links out of the folder (unless `follow_links_out`), to nothing or
    into a loop, and special files (never read: a named pipe would block) are left out. Every file is
    offered to Pillow whatever its extension; what it cannot read is skipped later, with the reason.
    """
    found, left_out = [], []
    for argument in map(Path, paths):
        if argument.is_dir():
            files, skipped = walk_images(argument, follow_links_out)
            found += [(file, argument) for file in files]
            left_out += skipped
        elif argument.is_file():
            found.append((argument, argument.parent))
        elif argument.exists():
            left_out.append((argument, "not a regular file (a named pipe, socket or device)"))
        else:
            raise FileNotFoundError(f"{argument}: no such file or folder")
    return found, left_out


class OnnxModel:
    """An exported model.onnx run by ONNX Runtime, with the one method predict_files needs."""

    def __init__(self, path):
        from mribench.export import onnx_runner

        self.run = onnx_runner(path, threads=0)  # 0: ONNX Runtime's default, every core

    def predict_on_batch(self, pixels):
        return self.run(pixels)


def load_onnx_model(model_path):
    """The ONNX model the export rule wrote and the mribench metadata inside it; refuses another
    ONNX file (no image size, classes or preprocessing to go by)."""
    import onnx

    from mribench.export import ONNX_METADATA_KEY

    path = Path(model_path)
    if not path.is_file():
        raise ModelMetadataError(
            f"{path}: no such model file (expected results/runs/<target>/seed<N>/export/model.onnx)"
        )
    try:
        properties = {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}
    except Exception as error:  # onnx raises DecodeError and others for a file that is not ONNX
        raise ModelMetadataError(f"{path} is not an ONNX model ({type(error).__name__}: {error})") from None
    if ONNX_METADATA_KEY not in properties:
        raise ModelMetadataError(
            f"{path} has no mribench metadata: it was not written by mribench's export rule "
            "(export.formats: [onnx])"
        )
    return OnnxModel(path), json.loads(properties[ONNX_METADATA_KEY])


def predict_files(model, metadata, files, batch_size=32, gradcam_dir=None, progress=None):
    """Predict `files` ((path, argument) pairs from find_images) in batches; unreadable files are skipped.

    `progress`, if given, is called with the number of files handled after each batch.
    """
    classes, size = metadata["classes"], metadata["image_size"]
    reference = model_reference(metadata)  # preprocessing.intensity matched: as in training
    results = Results(classes=list(classes))
    overlay_names = OverlayNames(gradcam_dir) if gradcam_dir else None
    for start in range(0, len(files), batch_size):
        batch, pixels = [], []
        for path, argument in files[start : start + batch_size]:
            try:
                pixels.append(images.load_image(path, size, reference))
                batch.append((path, argument))
            except (OSError, UnusableImage) as error:
                results.skipped.append(Skipped(str(path), f"{type(error).__name__}: {error}"))
        if batch:
            inputs = np.stack(pixels).astype("float32")
            probabilities = np.asarray(model.predict_on_batch(inputs))
            if overlay_names is not None:
                from mribench import gradcam

                heatmaps = gradcam.heatmaps(model, metadata["model"], inputs, probabilities.argmax(axis=1))
            for i, ((path, argument), p) in enumerate(zip(batch, probabilities, strict=True)):
                overlay = None
                if overlay_names is not None:
                    overlay = overlay_names.for_image(path, argument)
                    save_overlay(path, heatmaps[i], overlay)
                results.predictions.append(
                    Prediction(
                        file=str(path),
                        predicted=classes[int(p.argmax())],
                        probabilities={name: float(value) for name, value in zip(classes, p, strict=True)},
                        gradcam=None if overlay is None else str(overlay),
                    )
                )
        if progress is not None:
            progress(len(files[start : start + batch_size]))
    return results


class OverlayNames:
    """One PNG per image under the output folder, mirroring the folder it was found in."""

    def __init__(self, out_dir):
        self.out_dir = Path(out_dir)
        self.used = set()

    def for_image(self, path, argument):
        relative = Path(path).relative_to(argument)
        name = self.out_dir / Path(argument).resolve().name / relative.with_suffix(".gradcam.png")
        candidate, n = name, 1
        while candidate in self.used:
            n += 1
            candidate = name.with_name(f"{name.name.removesuffix('.gradcam.png')}-{n}.gradcam.png")
        self.used.add(candidate)
        return candidate


def save_overlay(path, heatmap, out_png):
    """The heatmap in matplotlib's jet colours, blended over the image at its original resolution."""
    from matplotlib import colormaps

    original = decode(path).picture.convert("RGB")
    coloured = colormaps["jet"](heatmap)[..., :3]
    coloured = Image.fromarray((coloured * 255).astype("uint8")).resize(
        original.size, Image.Resampling.BILINEAR
    )
    out_png = Path(out_png)
    out_png.parent.mkdir(parents=True, exist_ok=True)
    Image.blend(original, coloured, alpha=0.4).save(out_png)
