"""Tests for loading user images (resnet_viz.images.load_image)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from resnet_viz.errors import InputError
from resnet_viz.images import load_image

RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)


def _encode(img: Image.Image, fmt: str, **kwargs) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=fmt, **kwargs)
    return buf.getvalue()


def _two_halves(w: int = 40, h: int = 20) -> Image.Image:
    """Left half red, right half blue."""
    arr = np.zeros((h, w, 3), dtype=np.uint8)
    arr[:, : w // 2] = RED
    arr[:, w // 2 :] = BLUE
    return Image.fromarray(arr, "RGB")


def _close(pixel, colour, tol: int = 40) -> bool:
    return all(abs(int(a) - int(b)) <= tol for a, b in zip(pixel, colour, strict=True))


@pytest.mark.parametrize(
    ("fmt", "kwargs", "lossless"),
    [
        ("PNG", {}, True),
        ("JPEG", {"quality": 95}, False),
        ("WEBP", {"lossless": True}, True),
        ("BMP", {}, True),
        ("GIF", {}, True),
        ("TIFF", {}, True),
    ],
)
def test_common_formats_decode_to_rgb(fmt, kwargs, lossless):
    src = _two_halves(40, 20)
    img = load_image(_encode(src, fmt, **kwargs))
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    assert img.size == (40, 20)
    if lossless:
        assert np.array_equal(np.asarray(img), np.asarray(src))
    else:
        assert _close(img.getpixel((5, 10)), RED) and _close(img.getpixel((35, 10)), BLUE)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (16, 12), c) for c in (GREEN, RED, BLUE)]
    data = _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    img = load_image(data)
    assert img.mode == "RGB" and img.size == (16, 12)
    assert np.all(np.asarray(img) == GREEN)


@pytest.mark.parametrize(
    ("orientation", "size", "top_left"),
    [(1, (40, 20), RED), (6, (20, 40), RED), (8, (20, 40), BLUE), (3, (40, 20), BLUE)],
)
def test_exif_orientation_is_applied(orientation, size, top_left):
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = _encode(_two_halves(40, 20), "JPEG", quality=95, exif=exif)
    img = load_image(data)
    assert img.size == size
    assert _close(img.getpixel((2, 2)), top_left)
    bottom_right = img.getpixel((img.width - 3, img.height - 3))
    assert _close(bottom_right, BLUE if top_left == RED else RED)


def test_rgba_is_composited_on_white():
    arr = np.zeros((4, 3, 4), dtype=np.uint8)
    arr[0, 0] = (255, 0, 0, 255)  # opaque red
    arr[0, 1] = (255, 0, 0, 0)  # transparent red: white
    arr[0, 2] = (0, 0, 0, 128)  # half-transparent black: mid grey
    img = load_image(_encode(Image.fromarray(arr, "RGBA"), "PNG"))
    assert img.mode == "RGB" and img.size == (3, 4)
    assert img.getpixel((0, 0)) == RED
    assert img.getpixel((1, 0)) == (255, 255, 255)
    assert all(abs(v - 127) <= 1 for v in img.getpixel((2, 0)))
    assert img.getpixel((0, 3)) == (255, 255, 255)  # fully transparent everywhere else


def test_grayscale_with_alpha_is_composited_on_white():
    img = Image.new("LA", (2, 1), (0, 0))
    img.putpixel((0, 0), (0, 255))
    out = load_image(_encode(img, "PNG"))
    assert out.getpixel((0, 0)) == (0, 0, 0) and out.getpixel((1, 0)) == (255, 255, 255)


def test_palette_image_with_a_transparent_index():
    img = Image.new("P", (2, 1))
    img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    img.putpixel((0, 0), 0)
    img.putpixel((1, 0), 1)
    out = load_image(_encode(img, "PNG", transparency=1))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == RED and out.getpixel((1, 0)) == (255, 255, 255)


def test_palette_image_without_transparency():
    img = _two_halves(8, 4).convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    out = load_image(_encode(img, "PNG"))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == RED and out.getpixel((7, 3)) == BLUE


def test_grayscale():
    out = load_image(_encode(Image.new("L", (5, 3), 100), "PNG"))
    assert out.mode == "RGB" and out.size == (5, 3)
    assert np.all(np.asarray(out) == 100)


def test_cmyk():
    img = Image.new("CMYK", (2, 1), (0, 0, 0, 0))
    img.putpixel((1, 0), (0, 255, 255, 0))
    out = load_image(_encode(img, "TIFF"))
    assert out.mode == "RGB"
    assert out.getpixel((0, 0)) == (255, 255, 255) and out.getpixel((1, 0)) == RED


def test_sixteen_bit_is_rescaled_by_its_own_range():
    arr = np.array([[1000, 2000], [3000, 5000]], dtype=np.uint16)
    data = _encode(Image.fromarray(arr), "PNG")
    assert Image.open(io.BytesIO(data)).mode in ("I;16", "I")
    out = np.asarray(load_image(data))
    assert out.shape == (2, 2, 3)
    gray = out[..., 0]
    assert np.all(out == gray[..., None])
    assert gray[0, 0] == 0 and gray[1, 1] == 255  # not clipped to white
    assert 0 < gray[0, 1] < gray[1, 0] < 255


def test_flat_sixteen_bit_image_is_black_not_nan():
    data = _encode(Image.fromarray(np.full((2, 2), 777, dtype=np.uint16)), "PNG")
    assert np.all(np.asarray(load_image(data)) == 0)


def test_paths_work(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(_encode(_two_halves(6, 4), "PNG"))
    assert load_image(path).size == (6, 4)
    assert load_image(str(path)).size == (6, 4)


# ---- errors -----------------------------------------------------------------------------------
def _error(data, **kwargs) -> InputError:
    with pytest.raises(InputError) as info:
        load_image(data, **kwargs)
    assert isinstance(info.value, ValueError)
    assert str(info.value)
    return info.value


def test_empty_bytes():
    assert "empty" in str(_error(b""))


def test_not_an_image():
    err = _error(b"hello, this is a text file, not a picture" * 10)
    assert "not an image" in str(err) and "PNG" in str(err)


def test_truncated_png():
    rng = np.random.default_rng(0)
    noisy = Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB")
    data = _encode(noisy, "PNG")
    assert "truncated" in str(_error(data[: len(data) // 2]))


def test_too_many_pixels():
    err = _error(_encode(Image.new("RGB", (10, 10)), "PNG"), max_pixels=99)
    assert "10×10" in str(err) and "Resize" in str(err)
    assert load_image(_encode(Image.new("RGB", (10, 10)), "PNG"), max_pixels=100).size == (10, 10)


# 100 pixels against Pillow's limit: over twice it raises an error, over it a warning.
@pytest.mark.parametrize("pillow_limit", [30, 79])
def test_more_pixels_than_pillow_opens_is_called_too_large_not_unreadable(
    monkeypatch, pillow_limit
):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", pillow_limit)
    err = str(_error(_encode(Image.new("RGB", (10, 10)), "PNG")))
    assert "is too large" in err and "Resize it" in err and "cannot read" not in err


def test_missing_path(tmp_path):
    err = _error(tmp_path / "nope.jpg")
    assert "nope.jpg" in str(err)


def test_a_directory_is_not_an_image(tmp_path):
    _error(tmp_path)


@pytest.mark.parametrize("size", [(640, 480), (333, 1001), (40, 20)])
def test_short_side_downscales_exactly_as_torchvisions_resize(size):
    import torchvision.transforms.v2.functional as TF

    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    got = load_image(_encode(img, "PNG"), short_side=32)
    want = TF.resize(img, 32, antialias=True) if min(size) > 32 else img  # never upscaled
    assert got.size == want.size
    assert np.array_equal(np.asarray(got), np.asarray(want))
    if min(size) > 32:  # the model's own resize of it then changes nothing
        assert TF.resize(got, 32, antialias=True).size == got.size


def test_a_large_jpeg_is_decoded_at_a_reduced_scale(monkeypatch):
    data = _encode(_two_halves(4000, 3000), "JPEG", quality=90)
    sizes = []
    real = Image.Image.load

    def load(self):
        sizes.append(self.size)
        return real(self)

    monkeypatch.setattr(Image.Image, "load", load)
    img = load_image(data, short_side=256)
    assert min(img.size) == 256
    assert sizes[0][0] <= 4000 // 8 + 1  # libjpeg decoded it at 1/8 scale: 500×375
    assert _close(img.getpixel((10, 128)), RED) and _close(img.getpixel((330, 128)), BLUE)


def test_a_large_picture_hands_its_decode_memory_back(monkeypatch):
    from resnet_viz import images

    trimmed = []
    monkeypatch.setattr(images, "release_memory", lambda: trimmed.append(True))
    load_image(_encode(_two_halves(40, 20), "PNG"), short_side=8)
    assert trimmed == []  # small: nothing worth trimming
    monkeypatch.setattr(images, "TRIM_ABOVE_PIXELS", 100)
    load_image(_encode(_two_halves(40, 20), "PNG"), short_side=8)
    assert trimmed == [True]
