"""Take the grey-level shortcut away: every image's histogram matched exactly to one reference.

The Kaggle set's classes come from different sources and scanners, so an image's grey-level
distribution alone tells its class (the intensity_histogram baseline: 90.9 % on the Testing folder).
Matching every image's histogram to ONE reference, pooled over the training images of all classes,
makes that distribution the same for every image and so uninformative, while the anatomy stays:
the transform is monotone (a darker pixel never becomes brighter than a brighter one), so edges,
shapes and the lesion's contrast with its surroundings survive.

Why exact histogram specification, not per-image standardisation or classic matching:

* Standardising each image (zero mean, unit variance, or min..max to 0..255) moves and stretches
  the histogram but keeps its shape: the share of dark background, the skew, the peaks. A forest on
  the 32-bin histogram still separates the classes.
* Classic histogram matching maps each grey level to one level of the reference. It cannot split a
  level, so an image whose background is 40 % black keeps 40 % in its darkest bin, whatever the
  reference says: the background share, a strong class signal here, survives.
* Exact specification (Coltuc, Bolon and Chassery 2006) orders all pixels by grey level, ties by
  their 3 x 3 neighbourhood's mean (then by position), and hands out the reference's levels in that
  order: the matched image has the reference histogram to within one pixel per grey level.

Images are matched as the models receive them: decoded by mribench.decoding (16-bit, colour,
palette and alpha inputs alike), resized and made RGB by mribench.images.load_image. A grey image
(three equal channels, nearly all MRI) is matched on one channel and copied to three; a colour
image's three channels are matched together (one order over all values), so every channel keeps
its pixels' order and the pooled histogram, what the histogram baseline reads, is the reference.
"""

import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.ndimage import uniform_filter

from mribench import split

LEVELS = 256
NEIGHBOURHOOD = 3  # pixels per side of the window whose mean orders ties


def grey_level_histogram(pixels):
    """Share of an image's values (all channels) at each of the 256 grey levels."""
    return np.bincount(np.asarray(pixels, np.uint8).ravel(), minlength=LEVELS) / pixels.size


def reference_histogram(histograms, labels):
    """The mean over classes of each class's mean histogram: one reference for all, whatever the
    classes' sizes, so that no class's distribution counts more because it has more images."""
    histograms, labels = np.asarray(histograms, float), np.asarray(labels)
    per_class = [histograms[labels == label].mean(axis=0) for label in sorted(set(labels))]
    return np.mean(per_class, axis=0)


def match(pixels, reference):
    """`pixels` (H, W, 3 uint8, as images.load_image gives) with the `reference` histogram (256 shares).

    Monotone: a pixel darker than another in the image is never brighter than it after matching."""
    pixels = np.asarray(pixels, np.uint8)
    if (pixels == pixels[..., :1]).all():  # grey: one channel, copied
        return np.repeat(match_values(pixels[..., :1], reference), 3, axis=-1)
    return match_values(pixels, reference)


def match_values(pixels, reference):
    """Exact specification of an (H, W, C) array: all values in one order, the reference's levels
    handed out along it."""
    values = pixels.ravel()
    local_mean = uniform_filter(pixels.astype(np.float32), size=(NEIGHBOURHOOD, NEIGHBOURHOOD, 1))
    order = np.lexsort((local_mean.ravel(), values))  # by value, ties by local mean, then position
    cdf = np.cumsum(np.asarray(reference, float))
    ranks = (np.arange(values.size) + 0.5) / values.size * cdf[-1]  # each pixel's place in the reference
    levels = np.minimum(np.searchsorted(cdf, ranks, side="right"), LEVELS - 1)
    matched = np.empty(values.size, np.uint8)
    matched[order] = levels
    return matched.reshape(pixels.shape)


def matched_copy(pixels, reference, threads=1):
    """Every image of an (N, H, W, 3) array matched to `reference`, in a new array: the
    counterfactual view of images already decoded for the original one, without decoding them again."""
    matched = np.empty_like(pixels)

    def match_one(index):
        matched[index] = match(pixels[index], reference)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(match_one, range(len(pixels))))
    return matched


def write_reference(split_csv, dataset_dir, image_size, out_json, threads=1):
    """intensity_reference.json: the reference histogram over the train split's images only (never a
    validation or test image), as the models receive them at `image_size`."""
    from mribench import images  # here: images imports this module, whose match it applies

    train = split.read_split(split_csv, "train")

    def histogram(path):
        return grey_level_histogram(images.load_image(Path(dataset_dir, path), image_size))

    with ThreadPoolExecutor(max_workers=threads) as pool:
        histograms = list(pool.map(histogram, train.path))
    record = {
        "levels": LEVELS,
        "image_size": image_size,
        "n_images": len(train),
        "classes": sorted(set(train.label)),
        "pooled": "mean over classes of each class's mean histogram, train split only",
        "transform": "exact histogram specification (ties ordered by the 3 x 3 mean, then position)",
        "reference": reference_histogram(histograms, train.label).tolist(),
    }
    Path(out_json).write_text(json.dumps(record, indent=2) + "\n")


def read_reference(reference_json):
    """The reference histogram of an intensity_reference.json."""
    return np.asarray(json.loads(Path(reference_json).read_text())["reference"])


@dataclass(frozen=True)
class CounterfactualView:
    """What a job that scores a test set also scores it on: the same images matched to `reference`
    (256 shares), its results written to `metrics` (metrics.json) and `predictions` (predictions.csv)."""

    reference: np.ndarray | None  # None for a classifier that reads no pixels (the metadata baseline)
    metrics: str
    predictions: str

    @classmethod
    def of(cls, reference_json, metrics, predictions):
        return cls(None if reference_json is None else read_reference(reference_json), metrics, predictions)

    @classmethod
    def of_job(cls, job):
        """The view a Snakemake job scores: its input `intensity_reference` (none for the metadata
        baseline) and outputs `counterfactual_metrics` and `counterfactual_predictions`; None for a job
        without those outputs (a cross-validation fold's, scored on the original view only)."""
        if "counterfactual_metrics" not in job.output.keys():
            return None
        return cls.of(
            job.input.get("intensity_reference"),
            job.output.counterfactual_metrics,
            job.output.counterfactual_predictions,
        )


def model_reference(metadata):
    """The reference histogram a model was trained on (preprocessing.intensity matched), or None: every
    reader of images for that model matches them to it, as its training did."""
    reference = metadata.get("intensity_reference")
    return None if reference is None else np.asarray(reference)
