"""Synthetic "phantom" brain-MRI slices laid out like the Kaggle Brain Tumor MRI Dataset.

Why this exists: the demo workflow and the test suite need a dataset shaped like
the real one -- ``Training/`` and ``Testing/`` folders, one sub-folder per class,
Kaggle-style file names (``Tr-gl_0000.jpg``), a mix of grayscale and RGB JPEGs of
varying size -- that is built offline in seconds, with no account and no download.

Each image is a cartoon axial T1-contrast slice: dark background, bright scalp,
dark skull, grey/white matter with smooth texture and sulci, two dark ventricles.
The class is carried by a lesion that roughly follows the real pathology:

* glioma     -- irregular mass inside the brain, often a bright rim around a darker
  necrotic core, with a faint oedema halo;
* meningioma -- smooth, round, homogeneous bright mass against the inner skull;
* pituitary  -- small bright round mass at the midline near the skull base
  (bottom centre of the brain);
* notumor    -- no lesion.

Lesion size, place and contrast, head shape, gain, bias field, blur and Rician
noise all vary, so a small CNN can learn the classes but a linear model on pixels
cannot solve them perfectly. Everything is drawn from numpy Generators, and every
file from its own one, so the same arguments always give byte-identical files.

A `Scanner` shifts the acquisition (tissue contrast, noise level, resolution), so
``generate_test_set`` can write an "external" test set that looks like another
hospital's scanner took it: the demo's check of whether a model generalises.
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

__all__ = ["KNOWN_CLASSES", "Scanner", "generate_dataset", "generate_test_set", "render_phantom"]

SPLITS = ("Training", "Testing")
KNOWN_CLASSES = ("glioma", "meningioma", "notumor", "pituitary")

BRAIN = 0.86  # radius of the brain surface, in units of the head outline (= 1)
INNER_SKULL = 0.885  # inner edge of the skull, same units
JPEG_QUALITY = 90
EXTERNAL = 2  # the split index of generate_test_set's images: never the same draws as Training or Testing


@dataclass(frozen=True)
class Scanner:
    """How a scanner departs from the one the training phantoms come from (the defaults).

    contrast_gamma: tissue intensities are raised to this power before blurring (below 1 flattens
      the contrast between lesion and brain, above 1 raises it);
    noise_factor: multiplies the Rician noise level;
    resolution_factor: the slice is acquired on a matrix this fraction of the image size and
      interpolated back up, as a scanner with a coarser protocol would.
    """

    contrast_gamma: float = 1.0
    noise_factor: float = 1.0
    resolution_factor: float = 1.0


TRAINING_SCANNER = Scanner()


@dataclass
class Head:
    """Pixel grid of one slice plus the head ellipse it is drawn around.

    ``u``/``v`` are coordinates in the head's own rotated frame, scaled so the
    head outline is the unit circle (``v`` points to the bottom of the image);
    ``r`` is the radius in that frame.
    """

    x: np.ndarray
    y: np.ndarray
    cx: float
    cy: float
    a: float  # semi-axis along u, in pixels
    b: float  # semi-axis along v, in pixels
    cos: float
    sin: float
    u: np.ndarray
    v: np.ndarray
    r: np.ndarray

    @property
    def scale(self) -> float:
        """Pixels per unit of head radius (the shorter semi-axis)."""
        return min(self.a, self.b)

    def around(self, x: float, y: float, reach: float) -> tuple[tuple[slice, slice], Head]:
        """The window of pixels within `reach` of pixel (x, y), and this head cut to it
        (drawing a small lesion on the window is much cheaper than on the whole slice)."""
        size = self.x.shape[0]
        rows = slice(max(0, int(y - reach)), max(0, min(size, int(y + reach) + 2)))
        cols = slice(max(0, int(x - reach)), max(0, min(size, int(x + reach) + 2)))
        window = (rows, cols)
        cut = {name: getattr(self, name)[window] for name in ("x", "y", "u", "v", "r")}
        return window, replace(self, **cut)

    def to_pixels(self, u: float, v: float) -> tuple[float, float]:
        """Pixel (x, y) of the head-frame point (u, v)."""
        du, dv = u * self.a, v * self.b
        return self.cx + du * self.cos - dv * self.sin, self.cy + du * self.sin + dv * self.cos


def render_phantom(
    label: str, rng: np.random.Generator, size: int = 256, scanner: Scanner = TRAINING_SCANNER
) -> np.ndarray:
    """2-D uint8 grayscale slice (size x size) of class `label`, as `scanner` acquires it.

    Anatomy, lesion and scanner each draw from their own child of `rng`, so for a
    given generator state every class shows the same slice and differs only by
    its lesion (handy for checking where a lesion, or a model, looks).
    """
    draw_lesion = lesion_painter(label)
    anatomy_rng, lesion_rng, scanner_rng = rng.spawn(3)
    head = random_head(anatomy_rng, size)
    image = draw_anatomy(head, anatomy_rng)
    draw_ventricles(image, head, anatomy_rng)
    if draw_lesion is not None:
        draw_lesion(image, head, lesion_rng, lesion_contrast(lesion_rng))
    return acquire(image, scanner_rng, scanner)


def generate_dataset(
    dest: Path,
    classes: Sequence[str],
    train_per_class: int,
    test_per_class: int,
    image_size: int = 256,
    seed: int = 0,
    shortcut_class: str | None = None,
    processes: int = 1,
) -> None:
    """Write dest/Training/<class>/*.jpg and dest/Testing/<class>/*.jpg, in `processes` processes.

    Files are named like Kaggle's (``Tr-gl_0000.jpg``, ``Te-no_0012.jpg``: split,
    first two letters of the class, index) and existing ones are overwritten.
    Image i of a class is drawn from ``default_rng([seed, split, class, i])`` with
    the indices of split and class, so it never depends on what else is generated
    (nor on the number of processes).

    `shortcut_class` plants a source signature, as the merged real set has one: every file of that
    class is stored as RGB at 1.25 x image_size, so its class can be read off the file's metadata
    without looking at the anatomy (the test of the shortcut baselines needs such a set).
    """
    for label in classes:
        lesion_painter(label)  # fail on an unknown class before writing anything
    if shortcut_class is not None and shortcut_class not in classes:
        raise ValueError(f"shortcut_class {shortcut_class!r} is not one of the classes {list(classes)}")
    counts = (train_per_class, test_per_class)
    files = []
    for split_index, (split, count) in enumerate(zip(SPLITS, counts, strict=True)):
        prefix = split[:2]  # "Tr" / "Te", as in the Kaggle file names
        for class_index, label in enumerate(classes):
            folder = Path(dest) / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                key = (seed, split_index, class_index, i)
                path = folder / f"{prefix}-{label[:2]}_{i:04d}.jpg"
                files.append((label, key, image_size, path, TRAINING_SCANNER, label == shortcut_class))
    _write_phantoms(files, processes)


def generate_test_set(
    dest: Path,
    classes: Sequence[str],
    per_class: int,
    image_size: int,
    seed: int,
    scanner: Scanner,
    processes: int = 1,
) -> None:
    """Write dest/<class>/Ex-<cl>_<i>.jpg: phantoms of `classes` acquired by `scanner`.

    Image i of a class is drawn from ``default_rng([seed, EXTERNAL, class, i])``, so with any seed
    it is another slice than every image generate_dataset writes.
    """
    for label in classes:
        lesion_painter(label)
    files = []
    for class_index, label in enumerate(classes):
        folder = Path(dest) / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            key = (seed, EXTERNAL, class_index, i)
            files.append((label, key, image_size, folder / f"Ex-{label[:2]}_{i:04d}.jpg", scanner, False))
    _write_phantoms(files, processes)


def _write_phantoms(files, processes):
    if processes == 1:
        list(map(_write_phantom, files))
        return
    # spawn, not fork: the caller may run JAX or TensorFlow, whose threads a fork would break
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(_write_phantom, files, chunksize=32))


def _write_phantom(file):
    label, key, image_size, path, scanner, shortcut = file
    rng = np.random.default_rng(key)
    if shortcut:
        image = shortcut_file_image(label, rng, image_size)
    else:
        image = phantom_file_image(label, rng, image_size, scanner)
    _save_jpeg(image, path)


def phantom_file_image(
    label: str, rng: np.random.Generator, size: int, scanner: Scanner = TRAINING_SCANNER
) -> Image.Image:
    """A phantom as stored on disk: like the real set, about 1 in 6 is resized to
    a non-square shape near `size`, and about 1 in 4 is RGB with equal channels."""
    image = Image.fromarray(render_phantom(label, rng, size, scanner))
    if rng.random() < 1 / 6:
        width, height = rng.integers(round(0.8 * size), round(1.2 * size), size=2, endpoint=True)
        if width == height:
            height += 1
        image = image.resize((int(width), int(height)), Image.Resampling.BILINEAR)
    if rng.random() < 1 / 4:
        image = image.convert("RGB")
    return image


def shortcut_file_image(label: str, rng: np.random.Generator, size: int) -> Image.Image:
    """A phantom stored as a file from another source would be: RGB, at 1.25 x `size`."""
    other_size = round(1.25 * size)
    image = Image.fromarray(render_phantom(label, rng, size))
    return image.resize((other_size, other_size), Image.Resampling.BILINEAR).convert("RGB")


def _save_jpeg(image: Image.Image, path: Path) -> None:
    """Save via a temporary file and rename, so a reader never sees half a file."""
    partial = path.with_name(path.name + ".part")
    image.save(partial, format="JPEG", quality=JPEG_QUALITY)
    os.replace(partial, path)


# --- anatomy ---------------------------------------------------------------------------


def random_head(rng: np.random.Generator, size: int) -> Head:
    """Head ellipse with random axes, centre jitter and a slight rotation."""
    a = rng.uniform(0.37, 0.42) * size
    b = rng.uniform(0.41, 0.46) * size
    cx, cy = size / 2 + rng.uniform(-0.02, 0.02, size=2) * size
    angle = rng.uniform(-0.12, 0.12)
    cos, sin = float(np.cos(angle)), float(np.sin(angle))
    y, x = _pixel_grid(size)
    u = ((x - cx) * cos + (y - cy) * sin) / a
    v = (-(x - cx) * sin + (y - cy) * cos) / b
    return Head(x, y, cx, cy, a, b, cos, sin, u, v, np.hypot(u, v))


@functools.lru_cache(maxsize=4)
def _pixel_grid(size: int) -> np.ndarray:
    grid = np.mgrid[0:size, 0:size].astype(np.float32)
    grid.flags.writeable = False
    return grid


def smooth_noise(rng: np.random.Generator, size: int, cells: int) -> np.ndarray:
    """Zero-mean, unit-variance noise that varies over about size / cells pixels."""
    coarse = rng.standard_normal((cells, cells)).astype(np.float32)
    field = np.asarray(Image.fromarray(coarse).resize((size, size), Image.Resampling.BICUBIC))
    return (field - field.mean()) / (field.std() + 1e-6)


def draw_anatomy(head: Head, rng: np.random.Generator) -> np.ndarray:
    """Scalp, skull, CSF and brain as a float image (0 = black, ~1 = bright fat)."""
    shell = np.interp(
        head.r,
        [INNER_SKULL - 0.02, INNER_SKULL, 0.93, 0.945, 1.0, 1.015],
        [0.12, 0.14, 0.16, rng.uniform(0.65, 0.85), 0.7, 0.0],
    )
    return np.where(head.r < BRAIN, brain_tissue(head, rng), shell).astype(np.float32)


def brain_tissue(head: Head, rng: np.random.Generator) -> np.ndarray:
    """White matter inside grey matter with a wavy boundary, slow intensity drift,
    dark sulci in the cortex and a dark interhemispheric fissure."""
    size = head.x.shape[0]
    wavy_r = head.r + 0.03 * smooth_noise(rng, size, 10)
    white, grey = rng.uniform(0.5, 0.53), rng.uniform(0.43, 0.46)
    tissue = np.interp(wavy_r, [0.0, 0.5, 0.68], [white, white, grey])
    tissue *= 1 + 0.04 * smooth_noise(rng, size, 6)
    folds = smooth_noise(rng, size, max(8, size // 6))
    cortex = np.clip((head.r - 0.55) / 0.2, 0, 1)
    tissue -= 0.25 * cortex * np.exp(-((folds / 0.35) ** 2))
    fissure = (np.abs(head.u * head.a) < 1.0) & (np.abs(head.v) > 0.4)
    tissue[fissure] = 0.15
    return tissue


def draw_ventricles(image: np.ndarray, head: Head, rng: np.random.Generator) -> None:
    """Two dark crescents either side of the midline (the lateral ventricles)."""
    centre_v = rng.uniform(-0.12, 0.02)
    half_width, half_length = rng.uniform(0.07, 0.12), rng.uniform(0.22, 0.32)
    window, head = head.around(head.cx, head.cy, 0.5 * max(head.a, head.b))
    image = image[window]
    for side in (-1, 1):
        centre_u = side * (half_width + rng.uniform(0.01, 0.04))
        tilt = -side * rng.uniform(0.1, 0.3)  # front horns splay apart
        du, dv = head.u - centre_u, head.v - centre_v
        along = dv * np.cos(tilt) + du * np.sin(tilt)
        across = du * np.cos(tilt) - dv * np.sin(tilt)
        outer = (across / half_width) ** 2 + (along / half_length) ** 2 < 1
        caudate = ((across - side * 1.3 * half_width) / half_width) ** 2 + (
            along / (0.6 * half_length)
        ) ** 2 < 1
        image[outer & ~caudate] = 0.1


# --- lesions ---------------------------------------------------------------------------

LesionPainter = Callable[[np.ndarray, Head, np.random.Generator, float], None]


def lesion_contrast(rng: np.random.Generator) -> float:
    """How strongly the lesion shows: usually clear, about one time in seven subtle."""
    return rng.uniform(0.35, 0.55) if rng.random() < 0.15 else rng.uniform(0.65, 1.0)


def blend(image: np.ndarray, weight: np.ndarray, value: np.ndarray | float) -> None:
    """image <- image * (1 - weight) + value * weight, in place."""
    image += weight * (value - image)


def edge_weight(distance: np.ndarray, radius_px: float) -> np.ndarray:
    """1 inside a shape (distance < 1 in shape units), 0 outside, ~1.5 px soft edge."""
    return np.clip((1 - distance) * radius_px / 1.5 + 0.5, 0, 1)


def draw_glioma(image: np.ndarray, head: Head, rng: np.random.Generator, contrast: float) -> None:
    """Irregular intra-axial mass: bright rim, darker necrotic core, oedema halo."""
    radius = rng.uniform(0.24, 0.38) * BRAIN
    reach = np.sqrt(rng.random()) * (BRAIN - 1.3 * radius)
    angle = rng.uniform(0, 2 * np.pi)
    cx, cy = head.to_pixels(reach * np.cos(angle), reach * np.sin(angle))
    radius_px = radius * head.scale
    mottle = smooth_noise(rng, image.shape[0], max(8, image.shape[0] // 10))
    amplitudes, phases = rng.uniform(0, 0.12, size=4), rng.uniform(0, 2 * np.pi, size=4)
    halo_reach = 2 * (1 + amplitudes.sum()) * radius_px  # the halo ends at d = 2
    window, head = head.around(cx, cy, halo_reach + 2)
    patch, mottle = image[window], mottle[window]
    dx, dy = head.x - cx, head.y - cy
    phi = np.arctan2(dy, dx)
    wobble = sum(a * np.cos(k * phi + p) for k, a, p in zip(range(2, 6), amplitudes, phases, strict=True))
    d = np.hypot(dx, dy) / (radius_px * (1 + wobble))
    in_brain = head.r < BRAIN
    halo = np.clip(2 - d, 0, 1) * (d > 1) * in_brain
    patch *= 1 - 0.35 * contrast * halo
    if rng.random() < 0.75:  # high grade: thin enhancing rim round a necrotic core
        core = rng.uniform(0.7, 0.85)
        mass = np.where(d < core, rng.uniform(0.12, 0.3), rng.uniform(0.7, 0.9))
    else:  # low grade: no enhancement, mildly dark
        mass = np.full_like(d, rng.uniform(0.25, 0.35))
    blend(patch, contrast * edge_weight(d, radius_px) * in_brain, mass * (1 + 0.15 * mottle))


def draw_meningioma(image: np.ndarray, head: Head, rng: np.random.Generator, contrast: float) -> None:
    """Smooth round/ovoid homogeneous bright mass pressed against the inner skull."""
    angle = rng.uniform(0, 2 * np.pi)
    radius_px = rng.uniform(0.18, 0.3) * head.scale
    wall_x, wall_y = head.to_pixels(INNER_SKULL * np.cos(angle), INNER_SKULL * np.sin(angle))
    inward = np.array([head.cx - wall_x, head.cy - wall_y])
    inward /= np.linalg.norm(inward)
    cx, cy = np.array([wall_x, wall_y]) + rng.uniform(0.3, 0.75) * radius_px * inward
    window, head = head.around(cx, cy, radius_px + 2)
    dx, dy = head.x - cx, head.y - cy
    radial = dx * inward[0] + dy * inward[1]
    tangential = dx * inward[1] - dy * inward[0]
    d = np.hypot(radial / rng.uniform(0.75, 1.0), tangential) / radius_px
    inside_skull = np.clip((INNER_SKULL - head.r) * head.scale / 1.5 + 0.5, 0, 1)
    blend(image[window], contrast * edge_weight(d, radius_px) * inside_skull, rng.uniform(0.8, 0.95))


def draw_pituitary(image: np.ndarray, head: Head, rng: np.random.Generator, contrast: float) -> None:
    """Small bright round mass on the midline just above the skull base."""
    radius = rng.uniform(0.07, 0.14)
    centre_v = BRAIN - radius * rng.uniform(1.3, 2.5) - 0.05
    cx, cy = head.to_pixels(rng.normal(0, 0.02), centre_v)
    radius_px = radius * head.scale
    tall = rng.uniform(1.0, 1.3)
    window, head = head.around(cx, cy, tall * radius_px + 2)
    d = np.hypot(head.x - cx, (head.y - cy) / tall) / radius_px
    blend(image[window], contrast * edge_weight(d, radius_px), rng.uniform(0.8, 1.0))


_PAINTERS: dict[str, LesionPainter | None] = {
    "glioma": draw_glioma,
    "meningioma": draw_meningioma,
    "notumor": None,
    "no": None,  # "no_tumor" in the older Kaggle set
    "pituitary": draw_pituitary,
}


def lesion_painter(label: str) -> LesionPainter | None:
    """The function that draws `label`'s lesion (None for no tumour).

    Accepts the current Kaggle names and the older ``glioma_tumor``/``no_tumor``
    spellings; any other label is an error.
    """
    try:
        return _PAINTERS[label.lower().removesuffix("_tumor")]
    except KeyError:
        raise ValueError(f"unknown phantom class {label!r}; known: {KNOWN_CLASSES}") from None


# --- acquisition -----------------------------------------------------------------------


def acquire(image: np.ndarray, rng: np.random.Generator, scanner: Scanner = TRAINING_SCANNER) -> np.ndarray:
    """Scanner look: gain, smooth bias field, contrast, blur, acquisition matrix, Rician noise; then uint8."""
    size = image.shape[0]
    bias = 1 + rng.uniform(0.02, 0.1) * smooth_noise(rng, size, 4)
    image = image * bias * rng.uniform(0.9, 1.1)
    image = image**scanner.contrast_gamma
    image = ndimage.gaussian_filter(image, rng.uniform(0.4, 1.3))
    matrix = round(size * scanner.resolution_factor)
    if matrix != size:
        image = _resize(image, matrix)
    sigma = rng.uniform(0.01, 0.06) * scanner.noise_factor
    real = image + sigma * rng.standard_normal(image.shape, dtype=np.float32)
    imaginary = sigma * rng.standard_normal(image.shape, dtype=np.float32)
    magnitude = np.hypot(real, imaginary)
    if matrix != size:
        magnitude = _resize(magnitude, size)
    return np.clip(magnitude * 255, 0, 255).astype(np.uint8)


def _resize(image: np.ndarray, size: int) -> np.ndarray:
    """A float image resampled to size x size (bilinear)."""
    return np.asarray(
        Image.fromarray(image.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR)
    )
