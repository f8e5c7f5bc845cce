"""Decoding (mribench.decoding, through images.load_image): every Pillow mode gives the picture a viewer
shows, high-bit-depth images scaled from their own range, and unusable files give a reason."""

import io

import numpy as np
import pytest
from conftest import bomb_png
from PIL import Image

from mribench import images
from mribench.decoding import UnusableImage, decode, viewer_picture

GRAY = np.array([[0, 50], [200, 255]], np.uint8)


def saved(tmp_path, image, fmt, name="image", **options):
    path = tmp_path / f"{name}.{fmt.lower()}"
    image.save(path, format=fmt, **options)
    return path


def shown(path):
    """The picture as the RGB array every reader gets, at the file's own size."""
    picture = decode(path).picture
    return np.asarray(picture.convert("RGB"))


def gray_rgb(values):
    return np.repeat(np.asarray(values, np.uint8)[..., None], 3, axis=-1)


def with_alpha(mode, colour_values, alpha):
    """An image of `mode` (LA or RGBA) from colour planes and an alpha plane."""
    planes = [Image.fromarray(np.asarray(p, np.uint8)) for p in (*colour_values, alpha)]
    return Image.merge(mode, planes)


ALPHA = np.array([[255, 128], [51, 0]], np.uint8)
PALETTE = [0, 0, 0, 200, 100, 50, 10, 20, 30] + [0] * (256 * 3 - 9)


def palette_image(mode="P"):
    image = Image.fromarray(np.array([[0, 1], [2, 1]], np.uint8), "L").convert("P")
    image.putpalette(PALETTE)
    return image


def composited(colour, alpha):
    return np.rint(np.asarray(colour, np.float64) * (alpha[..., None] / 255.0)).astype(np.uint8)


PALETTE_RGB = np.array([[[0, 0, 0], [200, 100, 50]], [[10, 20, 30], [200, 100, 50]]], np.uint8)


def test_8_bit_and_1_bit_modes_are_shown_as_stored(tmp_path):
    one_bit = Image.fromarray(np.array([[0, 1], [1, 0]], bool))
    assert one_bit.mode == "1"
    np.testing.assert_array_equal(shown(saved(tmp_path, one_bit, "PNG")), gray_rgb([[0, 255], [255, 0]]))
    np.testing.assert_array_equal(shown(saved(tmp_path, Image.fromarray(GRAY), "PNG")), gray_rgb(GRAY))
    rgb = np.random.default_rng(0).integers(0, 256, (2, 2, 3), dtype=np.uint8)
    np.testing.assert_array_equal(shown(saved(tmp_path, Image.fromarray(rgb), "PNG")), rgb)
    np.testing.assert_array_equal(shown(saved(tmp_path, palette_image(), "PNG")), PALETTE_RGB)


@pytest.mark.parametrize(
    "mode, fmt, colour, expected",
    [
        ("CMYK", "TIFF", (0, 255, 255, 0), (255, 0, 0)),  # no cyan, full magenta and yellow: red
        ("CMYK", "TIFF", (0, 0, 0, 255), (0, 0, 0)),
        ("YCbCr", "TIFF", (128, 128, 128), (128, 128, 128)),  # neutral chroma: gray
        ("YCbCr", "TIFF", (76, 85, 255), (254, 0, 0)),  # red, within rounding
        ("LAB", "TIFF", (128, 128, 128), (119, 119, 119)),  # L* 50, a* = b* = 0: mid gray in sRGB
    ],
)
def test_colour_spaces_are_converted_to_rgb(tmp_path, mode, fmt, colour, expected):
    path = saved(tmp_path, Image.new(mode, (2, 2), colour), fmt)
    assert decode(path).mode == mode
    np.testing.assert_allclose(shown(path), np.full((2, 2, 3), expected), atol=1)


def test_transparency_is_composited_on_black(tmp_path):
    rng = np.random.default_rng(1)
    colour = rng.integers(0, 256, (2, 2, 3), dtype=np.uint8)
    rgba = with_alpha("RGBA", [colour[..., i] for i in range(3)], ALPHA)
    np.testing.assert_allclose(shown(saved(tmp_path, rgba, "PNG")), composited(colour, ALPHA), atol=1)
    la = with_alpha("LA", [GRAY], ALPHA)
    np.testing.assert_allclose(shown(saved(tmp_path, la, "PNG")), composited(gray_rgb(GRAY), ALPHA), atol=1)
    pa = palette_image().convert("PA")
    pa.putalpha(Image.fromarray(ALPHA))
    path = saved(tmp_path, pa, "TIFF")
    assert decode(path).mode == "PA"
    np.testing.assert_allclose(shown(path), composited(PALETTE_RGB, ALPHA), atol=1)
    transparent_index = saved(tmp_path, palette_image(), "PNG", name="trns", transparency=1)
    expected = PALETTE_RGB * (np.array([[0, 1], [0, 1]]) != 1)[..., None]
    np.testing.assert_array_equal(shown(transparent_index), expected)


@pytest.mark.parametrize("mode", ["La", "RGBa"])
def test_premultiplied_alpha_is_its_own_composite_on_black(mode):
    premultiplied = Image.new(mode, (2, 2), (100, 128) if mode == "La" else (100, 60, 20, 128))
    expected = (100, 100, 100) if mode == "La" else (100, 60, 20)
    np.testing.assert_array_equal(
        np.asarray(viewer_picture(premultiplied).convert("RGB")), np.full((2, 2, 3), expected)
    )


# A slice as DICOM-to-PNG exports write it: 12 bits used of 16, background at 1000.
SLICE = np.array([[1000, 1600], [2800, 4000]], np.uint16)
SCALED = gray_rgb([[0, 51], [153, 255]])  # (value - 1000) * 255 / 3000


def test_a_16_bit_png_is_scaled_from_its_own_range(tmp_path):
    path = saved(tmp_path, Image.fromarray(SLICE), "PNG")
    decoded = decode(path)
    assert (decoded.mode, decoded.bit_depth) == ("I;16", 16)
    np.testing.assert_array_equal(shown(path), SCALED)
    # Pillow's own conversion saturates every pixel; a realistic slice keeps its contrast
    assert (np.asarray(Image.open(path).convert("L")) == 255).all()
    brain = np.random.default_rng(2).integers(0, 4096, (64, 64)).astype(np.uint16)
    pixels = images.load_image(saved(tmp_path, Image.fromarray(brain), "PNG", name="brain"), 64)
    assert pixels.dtype == np.uint8 and pixels.shape == (64, 64, 3)
    assert (pixels == 255).mean() < 0.01 and pixels.min() == 0 and pixels.max() == 255
    np.testing.assert_array_equal(pixels[..., 0], np.rint((brain - brain.min()) * 255.0 / np.ptp(brain)))


@pytest.mark.parametrize("mode", ["I;16", "I;16B", "I;16L", "I;16N"])
def test_every_16_bit_byte_order_gives_the_same_picture(tmp_path, mode):
    byte_order = {"I;16": "<u2", "I;16L": "<u2", "I;16B": ">u2", "I;16N": "=u2"}[mode]
    image = Image.frombytes(mode, SLICE.shape[::-1], SLICE.astype(byte_order).tobytes())
    assert image.mode == mode
    np.testing.assert_array_equal(np.asarray(viewer_picture(image).convert("RGB")), SCALED)
    if mode in ("I;16", "I;16B"):  # the byte orders TIFF files keep
        path = saved(tmp_path, image, "TIFF")
        assert decode(path).mode == mode
        np.testing.assert_array_equal(shown(path), SCALED)


def test_32_bit_integer_and_float_images_are_scaled_from_their_own_range(tmp_path):
    integers = Image.fromarray((SLICE.astype(np.int32) - 2000) * 1000)  # -1e6 .. 2e6, mode I
    assert integers.mode == "I"
    np.testing.assert_array_equal(shown(saved(tmp_path, integers, "TIFF", name="i")), SCALED)
    floats = SLICE.astype(np.float32) / 4000  # 0.25 .. 1.0
    np.testing.assert_array_equal(shown(saved(tmp_path, Image.fromarray(floats), "TIFF", name="f")), SCALED)
    floats[0, 0] = np.nan  # shown black; the range comes from the finite values
    path = saved(tmp_path, Image.fromarray(floats), "TIFF", name="nan")
    assert decode(path).bit_depth == 32
    np.testing.assert_allclose(shown(path), gray_rgb([[0, 0], [128, 255]]), atol=1)  # from 0.4 .. 1.0
    constant = saved(tmp_path, Image.fromarray(np.full((2, 2), 700, np.uint16)), "PNG", name="constant")
    np.testing.assert_array_equal(shown(constant), gray_rgb(np.zeros((2, 2))))


def test_multi_frame_files_give_their_first_frame(tmp_path):
    first = Image.new("RGB", (4, 4), (255, 0, 0))
    second = Image.new("RGB", (4, 4), (0, 0, 255))
    for fmt in ("GIF", "TIFF", "PNG"):  # animated GIF, multi-page TIFF, APNG
        path = saved(tmp_path, first, fmt, save_all=True, append_images=[second])
        decoded = decode(path)
        assert decoded.multi_frame, fmt
        np.testing.assert_array_equal(np.asarray(decoded.picture.convert("RGB")), np.asarray(first), fmt)
    assert not decode(saved(tmp_path, first, "PNG", name="single")).multi_frame


def test_the_exif_orientation_is_applied(tmp_path):
    wide = np.zeros((2, 4), np.uint8)
    wide[0, 0] = 255  # top left as stored
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    path = saved(tmp_path, Image.fromarray(wide), "PNG", exif=exif)
    picture = np.asarray(decode(path).picture)
    assert picture.shape == (4, 2) and picture[0, 1] == 255  # upright: the corner is now top right


def test_a_decompression_bomb_is_refused_before_it_is_decoded(tmp_path):
    bomb = bomb_png(tmp_path / "bomb.png")
    assert bomb.stat().st_size < 300_000
    with pytest.raises(UnusableImage) as refused:
        decode(bomb)  # Pillow's own limit, for readers of files the audit accepted
    assert refused.value.reason == "too large" and "1600000000 pixels" in refused.value.detail
    with pytest.raises(UnusableImage, match=r"too large \(more than 16777216 pixels: .*1600000000 pixels"):
        decode(bomb, max_pixels=16777216)
    with pytest.raises(UnusableImage, match=r"too large \(5000 x 5000 = 25000000 pixels, above 16777216\)"):
        decode(bomb_png(tmp_path / "5000.png", side=5000), max_pixels=16777216)  # below Pillow's limit
    with pytest.raises(UnusableImage, match=r"too large \(64 x 64 = 4096 pixels, above 4000\)"):
        decode(saved(tmp_path, Image.new("L", (64, 64)), "PNG"), max_pixels=4000)


@pytest.mark.parametrize("data", [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40])
def test_a_file_pillow_cannot_identify_is_not_an_image(tmp_path, data):
    (tmp_path / "x.png").write_bytes(data)
    with pytest.raises(UnusableImage) as refused:
        images.load_image(tmp_path / "x.png", 32)
    assert refused.value.reason == "not an image"


def test_a_truncated_file_cannot_be_decoded(tmp_path):
    data = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)).save(data, "PNG")
    (tmp_path / "cut.png").write_bytes(data.getvalue()[:-600])
    with pytest.raises(UnusableImage, match="cannot be decoded"):
        decode(tmp_path / "cut.png")
