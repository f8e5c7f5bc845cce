"""Decode images once and cache them as one uint8 array (mribench.pipeline feeds it to Keras)."""

import math
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

from mribench import intensity
from mribench.decoding import decode

# Decoded datasets above this share of physical memory go to a file cache instead of RAM.
MEMORY_SHARE = 0.25


def load_image(path, image_size, reference=None):
    """Any image Pillow reads, whatever its extension, as the picture a viewer shows
    (mribench.decoding) in RGB uint8 of image_size x image_size; raises decoding.UnusableImage.
    With a `reference` histogram (a model trained with preprocessing.intensity matched, or the
    counterfactual view), its grey-level histogram is matched to it (mribench.intensity).

    A grayscale picture is resized before it becomes RGB: the same pixels, a third of the work."""
    picture = decode(path).picture
    pixels = np.asarray(picture.resize((image_size, image_size), Image.Resampling.BILINEAR).convert("RGB"))
    return pixels if reference is None else intensity.match(pixels, reference)


def load_images(root, paths, image_size, threads=2, cache_dir=None, reference=None):
    """Decode `paths` (relative to `root`) into an (N, size, size, 3) uint8 array, each image once,
    each matched to the `reference` histogram where one is given (load_image).

    The array lives in memory when it fits comfortably (MEMORY_SHARE of RAM), otherwise in a
    numpy memmap in `cache_dir` that the pipeline reads batch by batch.
    """
    root, paths = Path(root), list(paths)
    shape = (len(paths), image_size, image_size, 3)
    if cache_dir is not None and math.prod(shape) > MEMORY_SHARE * physical_memory():
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cache_dir, prefix=".images-", suffix=".npy") as cache:
            # The mapping outlives the file's name, so no cache is left behind, even by a killed job.
            pixels = np.lib.format.open_memmap(cache.name, mode="w+", dtype=np.uint8, shape=shape)
    else:
        pixels = np.empty(shape, np.uint8)

    def decode_into(index):
        pixels[index] = load_image(root / paths[index], image_size, reference)

    with ThreadPoolExecutor(max_workers=threads) as pool:
        list(pool.map(decode_into, range(len(paths))))
    return pixels


def physical_memory():
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
