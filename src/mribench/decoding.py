"""Decode any image file Pillow opens into the picture an image viewer shows.

Every reader of images goes through `decode`: the audit (which hashes the picture), training,
evaluation, Grad-CAM, the report's thumbnails and `mribench predict` (through images.load_image).
So a file the audit accepted is decoded the same way everywhere, whatever its mode:

* 8-bit modes are shown as stored (1 as black and white, P through its palette, CMYK, YCbCr and
  LAB converted to RGB; LAB through an ICC transform, since Pillow's own conversion is wrong).
* High-bit-depth grayscale (I;16 in any byte order, I, F) is scaled linearly from the image's own
  minimum..maximum to 0..255, as MRI viewers display a slice without a stored window (ImageJ's
  and 3D Slicer's default, DICOM's full-dynamic-range window). MRI intensities have no absolute
  unit (unlike CT's Hounsfield units), and exports use any part of the 16-bit range (12-bit scanners
  store 0..4095), so scaling from the type's full range would show most slices nearly black, and
  clipping at 255, Pillow's own conversion, saturates them. A constant image is black; NaN is 0.
  Pillow reads 16-bit RGB as 8 bits per channel (the high bytes): that is the type's full range.
* Transparency (an alpha channel, premultiplied or not, or a transparent colour) is composited
  on black, the background of an MRI slice.
* Multi-frame files (multi-page TIFF, animated GIF/PNG/WebP, MPO) give their first frame.
* An EXIF orientation is applied: every viewer shows the picture upright, so this is what whoever
  labelled the image saw (DICOM exports and the Kaggle JPEGs carry none).

A file that cannot give a picture raises UnusableImage with a reason (never a Pillow exception),
including an image with more pixels than the limit, checked from its header before its pixels are
decoded: a 40000 x 40000 PNG of zeros is 194 KB on disk and 1.6 GB decoded.
"""

import functools
import re
from dataclasses import dataclass

import numpy as np
from PIL import ExifTags, Image, ImageCms, ImageOps

# Bits per sample of each mode as Pillow holds it; a file may store fewer (see bit_depth).
MODE_BITS = {"1": 1, "I;16": 16, "I;16B": 16, "I;16L": 16, "I;16N": 16, "I": 32, "F": 32}
HIGH_BIT_DEPTH = {"I;16", "I;16B", "I;16L", "I;16N", "I", "F"}
ALPHA = {"LA", "La", "PA", "RGBA", "RGBa"}


class UnusableImage(ValueError):
    """A file that gives no picture: `reason` is a short category, `detail` the specifics."""

    def __init__(self, reason, detail=""):
        super().__init__(f"{reason} ({detail})" if detail else reason)
        self.reason, self.detail = reason, detail


@dataclass
class Decoded:
    picture: Image.Image  # mode L or RGB, what a viewer shows
    format: str
    mode: str  # the mode Pillow opened the file in
    bit_depth: int  # bits per sample stored in the file
    multi_frame: bool
    width: int
    height: int


def decode(source, max_pixels=None):
    """Decode a path or binary file into the viewer's picture (mode L or RGB).

    `max_pixels` defaults to Pillow's own limit (Image.MAX_IMAGE_PIXELS), the largest value
    audit.max_image_pixels may take, so any file the audit accepted decodes here too.
    """
    limit = Image.MAX_IMAGE_PIXELS if max_pixels is None else max_pixels
    try:
        image = Image.open(source)
    except Image.UnidentifiedImageError:
        raise UnusableImage("not an image") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise UnusableImage("too large", f"more than {limit} pixels: {error}") from None
    except Exception as error:  # a header Pillow recognises but cannot parse
        raise UnusableImage("cannot be decoded", str(error)) from None
    with image:
        pixels = image.width * image.height
        if limit is not None and pixels > limit:
            raise UnusableImage(
                "too large", f"{image.width} x {image.height} = {pixels} pixels, above {limit}"
            )
        try:
            described = {
                "format": image.format,
                "mode": image.mode,
                "bit_depth": bit_depth(image),
                "multi_frame": bool(getattr(image, "is_animated", False)),
                "width": image.width,
                "height": image.height,
            }
            image.load()
            picture = viewer_picture(upright(image))
        except Exception as error:  # any decoder failure: truncated, corrupt, unsupported codec
            raise UnusableImage("cannot be decoded", str(error)) from None
    return Decoded(picture, **described)


def bit_depth(image):
    """Bits per sample in the file: from the decoder's raw mode where it says ("P;4", "RGB;16B",
    "F;32F"), otherwise the mode's. Read before load(), which clears the tiles."""
    rawmode = image.tile[0].args if image.tile else None
    rawmode = rawmode[0] if isinstance(rawmode, tuple) and rawmode else rawmode
    found = re.search(r";(\d+)", rawmode) if isinstance(rawmode, str) else None
    return int(found.group(1)) if found else MODE_BITS.get(image.mode, 8)


def upright(image):
    orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
    if orientation == 1:
        return image  # no copy: the common case stays as fast as before
    return ImageOps.exif_transpose(image)


def viewer_picture(image):
    """An image of any Pillow mode as the L or RGB picture a viewer shows (see the module docstring)."""
    mode = image.mode
    if mode in HIGH_BIT_DEPTH:
        return scaled_to_8_bits(image)
    if mode in ALPHA or "transparency" in image.info:
        return on_black(image)
    if mode in ("L", "RGB"):
        return image
    if mode == "LAB":
        return ImageCms.applyTransform(image, lab_to_srgb())
    if mode == "1":
        return image.convert("L")
    return image.convert("RGB")  # P, CMYK, YCbCr, RGBX, HSV


def scaled_to_8_bits(image):
    """Grayscale of any depth scaled linearly from its own finite min..max onto 0..255."""
    values = np.asarray(image, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return Image.new("L", image.size)
    low, high = values[finite].min(), values[finite].max()
    scale = 255.0 / (high - low) if high > low else 0.0
    scaled = np.where(finite, (values - low) * scale, 0.0)
    return Image.fromarray(np.rint(scaled).astype(np.uint8), "L")


def on_black(image):
    """Composite on black: each pixel's colour times its opacity."""
    if image.mode in ("La", "RGBa"):  # premultiplied: the colour bands are that composite already
        return Image.merge(image.mode[:-1], image.split()[:-1])
    black = Image.new("RGBA", image.size, (0, 0, 0, 255))
    return Image.alpha_composite(black, image.convert("RGBA")).convert("RGB")


@functools.cache
def lab_to_srgb():
    """Pillow's LAB (8-bit L, a and b offset by 128) to sRGB."""
    return ImageCms.buildTransform(
        ImageCms.createProfile("LAB"), ImageCms.createProfile("sRGB"), "LAB", "RGB"
    )
