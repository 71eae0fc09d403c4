"""Loading user images safely: any common format becomes an RGB ``PIL.Image``, or an
:class:`~resnet_viz.errors.InputError` that says what is wrong and what to do."""

from __future__ import annotations

import ctypes
import ctypes.util
import io
import sys
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import InputError

MAX_PIXELS = 40_000_000  # ~ a 7700×5200 photo; beyond this decoding alone can take GiBs
MAX_BYTES = 50 * 1024 * 1024


def load_image(
    data: bytes | str | Path, *, max_pixels: int = MAX_PIXELS, short_side: int | None = None
) -> Image.Image:
    """Decode ``data`` (bytes or a file path) to an RGB image, EXIF orientation applied.

    Animated images give their first frame; alpha is composited on white; palette, grayscale,
    CMYK and 16-bit images are converted. ``short_side``: downscale (never up) so the shorter
    side is at most that many pixels, as a model's resize would; a JPEG is then decoded at a
    reduced scale to begin with, so a large photo never exists in memory at full size.
    """
    name = "the image"
    if isinstance(data, str | Path):
        path = Path(data)
        name = path.name
        try:
            if path.stat().st_size > MAX_BYTES:
                raise InputError(f"{name} is larger than {MAX_BYTES // 2**20} MB.")
            data = path.read_bytes()
        except OSError as err:
            raise InputError(f"Cannot read {name}: {err.strerror or err}.") from err
    if not data:
        raise InputError(f"{name} is empty (0 bytes).")
    if len(data) > MAX_BYTES:
        raise InputError(f"{name} is larger than {MAX_BYTES // 2**20} MB.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise InputError(
                    f"{name} is {w}×{h} pixels, more than the {max_pixels:,} allowed. "
                    "Resize it and try again."
                )
            img.seek(0)  # first frame of an animation
            if short_side is not None and img.format == "JPEG":
                # libjpeg's own scaling (1/2, 1/4, 1/8), keeping both sides >= the target.
                scale = short_side / min(w, h)
                img.draft("RGB", (max(1, round(w * scale)), max(1, round(h * scale))))
            img.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        # Pillow refuses to open it at all (over ~89 million pixels): too large, not unreadable.
        raise InputError(
            f"{name} is too large: over {Image.MAX_IMAGE_PIXELS:,} pixels, and this app takes "
            f"at most {max_pixels:,}. Resize it and try again."
        ) from None
    except UnidentifiedImageError:
        raise InputError(
            f"{name} is not an image this app can read (PNG, JPEG, WebP, BMP, GIF or TIFF)."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise InputError(
            f"{name} looks damaged or truncated and cannot be decoded ({err})."
        ) from None
    img = ImageOps.exif_transpose(img) or img
    img = _to_rgb(img)
    if short_side is not None and min(img.size) > short_side:
        large = img.width * img.height > TRIM_ABOVE_PIXELS
        img = _shrink(img, short_side)
        if large:
            release_memory()  # the full-size decode is garbage now
    return img


def _shrink(img: Image.Image, short_side: int) -> Image.Image:
    """Resize so the shorter side is ``short_side``, with the rounding and filter of
    torchvision's resize (bilinear, antialiased), so a model's own resize of the result to
    that size changes nothing."""
    w, h = img.size
    if w <= h:
        size = (short_side, int(short_side * h / w))
    else:
        size = (int(short_side * w / h), short_side)
    return img.resize(size, Image.Resampling.BILINEAR)


# Decoded pictures bigger than this make the process hand its freed memory back at once.
TRIM_ABOVE_PIXELS = 4_000_000


def _libc():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


_LIBC = _libc()


def release_memory() -> None:
    """Return freed heap memory to the system (glibc's malloc_trim), after decoding a large
    picture: the hundreds of MB a full-size decode took are freed, but glibc keeps freed
    blocks of that size for reuse in each thread's arena, so a server decoding many uploads
    would otherwise keep growing (bench/upload_memory.py). A no-op elsewhere."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16/32-bit: rescale to 8 bits by the image's own range rather than clipping.
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        arr = (arr - lo) / (hi - lo) * 255 if hi > lo else np.zeros_like(arr)
        img = Image.fromarray(arr.astype(np.uint8), "L")
    if img.mode == "P":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        background = Image.new("RGB", img.size, (255, 255, 255))
        background.paste(img.convert("RGBA"), mask=img.convert("RGBA").getchannel("A"))
        return background
    return img.convert("RGB")
