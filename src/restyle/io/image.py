"""Reading and writing images: the one place restyle touches image files.

Everything that leaves :func:`read_image` is a float32 ``(3, H, W)`` tensor of sRGB-encoded values in
[0, 1] (plus an optional ``(1, H, W)`` alpha), whatever the file held: palette, grayscale, CMYK, 16-bit,
an embedded ICC profile or an EXIF rotation. Every problem with a file is reported as one
:class:`~restyle.errors.ImageError` line that names the path.

Reading (by content, not by suffix): PNG (1/2/4/8/16-bit, gray, gray+alpha, RGB, RGBA, palette with
transparency, APNG first frame), JPEG (gray, RGB, CMYK incl. Adobe-inverted), WebP (first frame),
GIF (first frame), TIFF (8-bit; 16-bit gray/RGB/RGBA), BMP, PPM/PGM, QOI, ICO, PSD, AVIF and
JPEG 2000 where this Pillow build has them. Other formats Pillow knows (EPS, which runs Ghostscript,
and the many exotic ones) are refused on purpose.

16-bit precision: Pillow has no 16-bit RGB(A) or gray+alpha image mode and keeps only the high byte
of such PNG/TIFF data. Pillow still identifies, size-checks and decodes every file (which catches
truncation and gives EXIF and ICC), then pypng (PNG) or tifffile (TIFF) decodes the same file once
more at full precision (TIFF: any compression imagecodecs has, chunky or planar, straight or
premultiplied alpha). 16-bit gray (``I;16``) and float TIFF come from Pillow directly. If the second
decode fails (data pypng or tifffile rejects, a zlib stream longer than the image, a photometric
other than RGB), the 8-bit values are used, ``bit_depth`` says 8 and a RuntimeWarning says why.

Writing: PNG, JPEG, WebP, TIFF and BMP chosen by suffix, always atomically
(:func:`restyle.io.files.atomic_write`). 16-bit output is written for PNG by pypng and for TIFF by
tifffile (Pillow cannot hold 16-bit RGB).
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import logging
import os
import stat
import threading
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, Literal

import numpy as np
import png  # pypng
import tifffile
import torch
from PIL import Image, ImageCms, PngImagePlugin, UnidentifiedImageError

from restyle.errors import ConfigError, ImageError
from restyle.io.files import atomic_write

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "MAX_PIXELS_ENV",
    "SUPPORTED_WRITE_SUFFIXES",
    "ImageData",
    "fit_size",
    "pil_to_tensor",
    "read_image",
    "read_metadata",
    "tensor_to_pil",
    "write_image",
]

DEFAULT_MAX_PIXELS: int = 178_956_970
"""Images with more pixels than this are refused (decompression-bomb guard); twice Pillow's default."""

MAX_PIXELS_ENV = "RESTYLE_MAX_PIXELS"
"""Environment variable that overrides :data:`DEFAULT_MAX_PIXELS` when ``max_pixels`` is not given."""

SUPPORTED_WRITE_SUFFIXES: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")

METADATA_KEY = "restyle"  # name of the PNG text chunk that holds write_image's metadata
JPEG_QUALITY = 95
WEBP_QUALITY = 95

_WRITE_FORMATS = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
}
_ALPHA_FORMATS = {"PNG", "WEBP", "TIFF"}
_16BIT_FORMATS = {"PNG", "TIFF"}

# Raster formats identified by their content. Restricting Image.open to these keeps exotic plugins
# (and EPS, which shells out to Ghostscript) away from untrusted uploads.
_WANTED_READ_FORMATS = (
    "PNG",
    "JPEG",
    "MPO",
    "GIF",
    "WEBP",
    "TIFF",
    "BMP",
    "PPM",
    "QOI",
    "ICO",
    "PSD",
    "AVIF",
    "JPEG2000",
)

# EXIF orientation -> the transpose that shows the image upright (same table as ImageOps.exif_transpose).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_ORIENTATION_TAG = 0x0112

# Pillow's decompression-bomb limit is a process-wide global; we lift it only briefly and under this
# lock, so concurrent reads cannot leave it lifted.
_PILLOW_LIMIT_LOCK = threading.Lock()


@dataclass
class ImageData:
    """A decoded image, ready for the model.

    Attributes:
        pixels: float32 ``(3, H, W)``, RGB, sRGB-encoded values in [0, 1].
        alpha: float32 ``(1, H, W)`` in [0, 1], or None when the image had no transparency (or it was
            composited away).
        bit_depth: 8 or 16: the precision of the source data that ``pixels`` was computed from.
        source: the path as given, for messages.
        original_size: ``(width, height)`` of the full-resolution image, upright (after EXIF
            orientation), before any downscale.
    """

    pixels: torch.Tensor
    alpha: torch.Tensor | None
    bit_depth: int
    source: str
    original_size: tuple[int, int]

    def to_pil(self) -> Image.Image:
        """Return an 8-bit RGB (RGBA when there is alpha) Pillow image, e.g. for thumbnails."""
        return tensor_to_pil(self.pixels, self.alpha)


# --------------------------------------------------------------------------------------------------
# Tensor <-> Pillow
# --------------------------------------------------------------------------------------------------


def tensor_to_pil(pixels: torch.Tensor, alpha: torch.Tensor | None = None) -> Image.Image:
    """Convert a ``(3, H, W)`` tensor in [0, 1] (and optional ``(1, H, W)`` alpha) to an 8-bit image.

    Values are clamped to [0, 1] and NaN becomes 0, so a preview of a diverging run never fails.
    Returns mode "RGB", or "RGBA" when ``alpha`` is given.
    """
    rgb = _hwc_array(pixels, "pixels", allow_nonfinite=True)
    channels = [rgb]
    if alpha is not None:
        channels.append(_alpha_array(alpha, rgb.shape[:2], allow_nonfinite=True)[:, :, None])
    return Image.fromarray(_to_uint8(np.concatenate(channels, axis=2)))


def pil_to_tensor(image: Image.Image) -> torch.Tensor:
    """Convert a Pillow image to a float32 ``(3, H, W)`` tensor in [0, 1].

    Meant for RGB images; any other mode goes through ``image.convert("RGB")`` (alpha is dropped,
    16-bit modes lose precision). Use :func:`read_image` for files.
    """
    if image.mode != "RGB":
        image = image.convert("RGB")
    array = np.array(image, dtype=np.uint8)  # a writable copy, as torch.from_numpy wants
    return torch.from_numpy(array).permute(2, 0, 1).float().div_(255.0).contiguous()


def _hwc_array(pixels: object, what: str, *, allow_nonfinite: bool) -> np.ndarray:
    """Validate a (3, H, W) tensor (a leading batch of 1 is accepted) -> float32 (H, W, 3) in [0, 1]."""
    if not isinstance(pixels, torch.Tensor):
        raise ImageError(f"{what} must be a torch.Tensor of shape (3, H, W), got {type(pixels).__name__}")
    tensor = pixels.detach()
    if tensor.ndim == 4 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim != 3 or tensor.shape[0] != 3 or tensor.shape[1] < 1 or tensor.shape[2] < 1:
        raise ImageError(f"{what} must have shape (3, H, W), got {tuple(pixels.shape)}")
    return _finite_unit(tensor.permute(1, 2, 0), what, allow_nonfinite)


def _alpha_array(alpha: object, size_hw: tuple[int, ...], *, allow_nonfinite: bool) -> np.ndarray:
    """Validate a (1, H, W) or (H, W) alpha tensor matching ``size_hw`` -> float32 (H, W) in [0, 1]."""
    if not isinstance(alpha, torch.Tensor):
        raise ImageError(f"alpha must be a torch.Tensor of shape (1, H, W), got {type(alpha).__name__}")
    tensor = alpha.detach()
    if tensor.ndim == 3 and tensor.shape[0] == 1:
        tensor = tensor[0]
    if tensor.ndim != 2 or tuple(tensor.shape) != tuple(size_hw):
        raise ImageError(f"alpha must have shape (1, {size_hw[0]}, {size_hw[1]}), got {tuple(alpha.shape)}")
    return _finite_unit(tensor, "alpha", allow_nonfinite)


def _finite_unit(tensor: torch.Tensor, what: str, allow_nonfinite: bool) -> np.ndarray:
    values = tensor.to(device="cpu", dtype=torch.float32)
    if not allow_nonfinite:
        bad = int((~torch.isfinite(values)).sum())
        if bad:
            raise ImageError(f"{what} contain {bad} non-finite values (NaN or inf); refusing to save")
    values = torch.nan_to_num(values, nan=0.0, posinf=1.0, neginf=0.0).clamp_(0.0, 1.0)
    return np.ascontiguousarray(values.numpy())


def _unit(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32) / np.float32(255.0)


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 255.0).astype(np.uint8)


def _to_uint16(values: np.ndarray) -> np.ndarray:
    return np.rint(values * 65535.0).astype(np.uint16)


# --------------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------------


def read_image(
    path: str | os.PathLike[str],
    *,
    max_side: int | None = None,
    alpha: Literal["keep", "composite"] = "keep",
    background: tuple[int, int, int] = (255, 255, 255),
    max_pixels: int | None = None,
) -> ImageData:
    """Read an image file into an :class:`ImageData`.

    The format is detected from the content (the suffix does not matter). The first frame of
    animations is used. EXIF orientation is applied and an embedded ICC profile is converted to sRGB
    (if that conversion fails, the raw values are used and a RuntimeWarning is issued).

    Args:
        path: the file to read.
        max_side: if given, downscale (never upscale) so that the longer side is at most this many
            pixels. JPEGs are decoded at a reduced scale (``draft``) first, so a huge photo loads fast.
        alpha: "keep" returns the alpha channel separately (None when the image is fully opaque);
            "composite" blends the image onto ``background`` and returns alpha None.
        background: 8-bit RGB colour used by ``alpha="composite"``.
        max_pixels: refuse images that would decode to more pixels than this. Defaults to the
            ``RESTYLE_MAX_PIXELS`` environment variable, else :data:`DEFAULT_MAX_PIXELS`. For a JPEG
            read with ``max_side`` the reduced decode size counts.

    Raises:
        ImageError: the file is missing, unreadable, empty, not an image, corrupt or truncated, or too
            large. The message is one line naming the path.
        ConfigError: an argument is invalid (e.g. ``max_side=0``).
    """
    source = _display(path)
    if max_side is not None and (isinstance(max_side, bool) or not isinstance(max_side, int) or max_side < 1):
        raise ConfigError(f"max_side must be a positive integer or None, got {max_side!r}")
    if alpha not in ("keep", "composite"):
        raise ConfigError(f"alpha must be 'keep' or 'composite', got {alpha!r}")
    bg = _check_background(background)
    limit = _resolve_max_pixels(max_pixels)

    with _open_for_reading(path, source) as fp:
        color, alpha_values, bit_depth, original_size = _read(fp, source, max_side, limit)

    rgb = torch.from_numpy(color).permute(2, 0, 1).contiguous()
    alpha_tensor: torch.Tensor | None = None
    if alpha_values is not None and float(alpha_values.min()) < 1.0:
        a = torch.from_numpy(alpha_values)[None]
        if alpha == "composite":
            # Blend in sRGB-encoded space, as browsers and image viewers do.
            bg_tensor = torch.tensor(bg, dtype=torch.float32).div_(255.0).view(3, 1, 1)
            rgb = (rgb * a + bg_tensor * (1.0 - a)).clamp_(0.0, 1.0)
        else:
            alpha_tensor = a.contiguous()
    return ImageData(pixels=rgb, alpha=alpha_tensor, bit_depth=bit_depth, source=source, original_size=original_size)


def read_metadata(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """Return the metadata dict that :func:`write_image` stored in a PNG, or None.

    None means: not a PNG, no "restyle" text chunk, or the chunk is not a JSON object. Only the
    header is read, not the pixels.

    Raises:
        ImageError: the file is missing, unreadable, empty or not an image.
    """
    source = _display(path)
    with _open_for_reading(path, source) as fp:
        with _reading_errors(source):
            im = _open_image(fp)
            with im:
                text = im.info.get(METADATA_KEY)
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _read(
    fp: IO[bytes], source: str, max_side: int | None, limit: int
) -> tuple[np.ndarray, np.ndarray | None, int, tuple[int, int]]:
    """Decode ``fp`` -> (color float32 (H, W, 3), alpha float32 (H, W) or None, bit depth, size)."""
    with _reading_errors(source):
        im = _open_image(fp)
    with im, _reading_errors(source):
        stored_size = im.size
        target = None
        if max_side is not None and max(stored_size) > max_side:  # downscale only, never up
            target = fit_size(*stored_size, max_side)
        if target is not None:
            # JPEG decodes at 1/2, 1/4 or 1/8 scale (never below target); a no-op for other formats.
            im.draft(None, target)
        _check_pixel_limit(source, stored_size, im.size, limit)

        _load(im)  # Pillow decodes every file: that detects truncation, even where pypng/tifffile decode again
        # After load(): a PNG's eXIf chunk may follow the image data (and PNG getexif() loads anyway).
        orientation = _orientation(im)
        icc = im.info.get("icc_profile") or None
        high = None
        try:
            high = _decode_high_precision(im, fp)
        except Exception as exc:  # an unusual layout: keep the 8-bit values Pillow gave us
            warnings.warn(
                f"{source}: could not keep 16-bit precision ({_one_line(exc)}); using 8 bits",
                RuntimeWarning,
                stacklevel=3,  # the caller of read_image
            )
        if high is not None:
            color, alpha = _convert_high(high, icc, source)
            color, alpha = _resize_float(color, alpha, target)
            color, alpha = _orient_float(color, alpha, orientation)
            bit_depth = 16
        else:
            rgb_image, alpha_image = _convert_8bit(im, icc, source)
            rgb_image, alpha_image = _resize_8bit(rgb_image, alpha_image, target)
            if orientation is not None:
                rgb_image = rgb_image.transpose(orientation)
                alpha_image = alpha_image.transpose(orientation) if alpha_image is not None else None
            color = _unit(rgb_image)
            alpha = None if alpha_image is None else _unit(alpha_image)
            bit_depth = 8
    swap = orientation in (
        Image.Transpose.TRANSPOSE,
        Image.Transpose.TRANSVERSE,
        Image.Transpose.ROTATE_90,
        Image.Transpose.ROTATE_270,
    )
    original_size = (stored_size[1], stored_size[0]) if swap else stored_size
    return np.ascontiguousarray(color, dtype=np.float32), alpha, bit_depth, original_size


def _display(path: object) -> str:
    try:
        name = os.fspath(path)  # type: ignore[arg-type]
    except TypeError:
        raise ImageError(f"image path must be a string or path-like, got {type(path).__name__}") from None
    return os.fsdecode(name)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:197] + "..."


def _check_background(background: object) -> tuple[int, int, int]:
    ok = (
        isinstance(background, tuple | list)
        and len(background) == 3
        and all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 255 for v in background)
    )
    if not ok:
        raise ConfigError(f"background must be three integers 0-255 (R, G, B), got {background!r}")
    return (int(background[0]), int(background[1]), int(background[2]))  # type: ignore[index]


def _resolve_max_pixels(max_pixels: int | None) -> int:
    if max_pixels is None:
        raw = os.environ.get(MAX_PIXELS_ENV, "").strip()
        if not raw:
            return DEFAULT_MAX_PIXELS
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value < 1:
            raise ConfigError(f"{MAX_PIXELS_ENV} must be a positive integer, got {raw!r}")
        return value
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ConfigError(f"max_pixels must be a positive integer or None, got {max_pixels!r}")
    return max_pixels


@contextlib.contextmanager
def _open_for_reading(path: str | os.PathLike[str], source: str) -> Iterator[IO[bytes]]:
    """Open ``path`` for binary reading, turning every file-system problem into one ImageError line."""
    prefix = f"cannot read image '{source}'"
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise ImageError(f"{prefix}: no such file") from None
    except PermissionError:
        raise ImageError(f"{prefix}: permission denied") from None
    except (OSError, ValueError) as exc:  # ValueError: embedded NUL byte
        raise ImageError(f"{prefix}: {_one_line(exc)}") from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageError(f"{prefix}: it is a directory, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageError(f"{prefix}: not a regular file")  # a FIFO or device could block forever
    if info.st_size == 0:
        raise ImageError(f"{prefix}: the file is empty (0 bytes)")
    try:
        fp = open(path, "rb")
    except PermissionError:
        raise ImageError(f"{prefix}: permission denied") from None
    except OSError as exc:
        raise ImageError(f"{prefix}: {_one_line(exc)}") from None
    with fp:
        yield fp


@contextlib.contextmanager
def _reading_errors(source: str) -> Iterator[None]:
    """Turn whatever Pillow raises on a bad file into one ImageError line naming ``source``."""
    prefix = f"cannot read image '{source}'"
    try:
        yield
    except ImageError:
        raise
    except UnidentifiedImageError:
        formats = _read_format_list()
        raise ImageError(f"{prefix}: not a recognised image (corrupt, or not one of {formats})") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # Only reachable for sizes Pillow checks on its own (e.g. GIF frames); keep its numbers.
        raise ImageError(
            f"{prefix}: too many pixels ({_one_line(exc)}); raise the limit with max_pixels= "
            f"or the {MAX_PIXELS_ENV} environment variable"
        ) from None
    except MemoryError:
        raise ImageError(f"{prefix}: not enough memory to decode it") from None
    except Warning:
        raise  # warnings turned into errors by the caller (-W error) keep their meaning
    except Exception as exc:
        # Pillow signals corrupt data with many types (OSError, SyntaxError, ValueError, struct.error,
        # EOFError, ...), so anything escaping the decoder means the file is bad.
        detail = _one_line(exc)
        what = "truncated" if "truncated" in detail.lower() else "corrupt or truncated"
        raise ImageError(f"{prefix}: the file is {what} ({detail})") from exc


@functools.cache
def _read_formats() -> tuple[str, ...]:
    Image.init()
    return tuple(f for f in _WANTED_READ_FORMATS if f in Image.OPEN)


def _read_format_list() -> str:
    return ", ".join(f for f in _read_formats() if f != "MPO")


def _open_image(fp: IO[bytes]) -> Image.Image:
    """Identify the image in ``fp`` from its header, without Pillow's own pixel-count check.

    restyle applies its own limit right after (it depends on max_pixels and on JPEG draft scaling),
    so Pillow's global check is lifted for the header parse only; no pixel memory is allocated here.
    """
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            return Image.open(fp, formats=_read_formats())
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def _load(im: Image.Image) -> None:
    """Fully decode ``im`` (so truncation is detected), past Pillow's limit when ours allowed it."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is None or im.size[0] * im.size[1] <= limit:
        im.load()
        return
    # Some plugins (TIFF) re-check the size while loading; the size already passed our limit.
    with _PILLOW_LIMIT_LOCK:
        saved = Image.MAX_IMAGE_PIXELS
        Image.MAX_IMAGE_PIXELS = None
        try:
            im.load()
        finally:
            Image.MAX_IMAGE_PIXELS = saved


def fit_size(width: int, height: int, longest: int) -> tuple[int, int]:
    """(width, height) scaled, aspect ratio kept, so that the longer side is ``longest``; each side >= 1.

    Scales up as well as down; the shorter side is rounded with Python's ``round`` (half to even). The one
    implementation of this rule: :func:`read_image` uses it for ``max_side`` (only to shrink) and
    ``restyle.engine.pyramid`` re-exports it for the scales of a run.

    >>> fit_size(64, 32, 16)
    (16, 8)
    >>> fit_size(3, 1000, 10)
    (1, 10)
    """
    scale = longest / max(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _check_pixel_limit(source: str, stored: tuple[int, int], decoded: tuple[int, int], limit: int) -> None:
    count = decoded[0] * decoded[1]
    if count <= limit:
        return
    if decoded != stored:
        size = f"decodes to {decoded[0]}x{decoded[1]} = {count:,} pixels even at reduced scale"
    else:
        size = f"is {decoded[0]}x{decoded[1]} = {count:,} pixels"
    raise ImageError(
        f"cannot read image '{source}': it {size}, above the limit of {limit:,} (a guard against "
        f"decompression bombs); raise it with max_pixels= or the {MAX_PIXELS_ENV} environment variable"
    )


def _orientation(im: Image.Image) -> Image.Transpose | None:
    """The transpose given by the EXIF orientation tag; a broken EXIF block is ignored, not fatal."""
    try:
        value = im.getexif().get(_EXIF_ORIENTATION_TAG, 1)
    except Exception:
        return None
    return _ORIENTATION.get(value) if isinstance(value, int) else None


# ---- 8-bit route ---------------------------------------------------------------------------------


def _convert_8bit(im: Image.Image, icc: bytes | None, source: str) -> tuple[Image.Image, Image.Image | None]:
    """Any Pillow mode -> (RGB image in sRGB, L alpha or None)."""
    mode = im.mode
    has_transparency = im.info.get("transparency") is not None
    if mode == "1":
        im, mode = im.convert("L"), "L"
    if mode in ("P", "PA"):
        # Palette colours are RGB; the ICC profile (if any) then applies to the RGB values.
        mode = "RGBA" if (mode == "PA" or has_transparency) else "RGB"
        im = im.convert(mode)
    elif mode in ("L", "RGB") and has_transparency:
        mode = mode + "A"
        im = im.convert(mode)
    elif mode in ("La", "RGBa"):
        mode = mode.upper()
        im = im.convert(mode)
    elif mode in ("RGBX", "YCbCr", "HSV"):
        mode = "RGB"
        im = im.convert(mode)
    elif mode not in ("L", "LA", "RGB", "RGBA", "CMYK", "LAB"):
        mode = "RGBA" if "A" in mode else "RGB"
        im = im.convert(mode)

    alpha = None
    color = im
    if mode in ("LA", "RGBA"):
        alpha = im.getchannel("A")
        color = im.convert(mode[:-1])

    if color.mode == "LAB":
        # Pillow's LAB mode (CIELab TIFF) is not RGB at all: convert with LittleCMS's Lab profile.
        lab = ImageCms.createProfile("LAB")
        color = ImageCms.applyTransform(color, ImageCms.buildTransform(lab, _srgb_profile(), "LAB", "RGB"))
    elif icc:
        color = _apply_icc_8bit(color, icc, source)
    return color.convert("RGB"), alpha


@functools.cache
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _icc_transform(icc: bytes, in_mode: str) -> ImageCms.ImageCmsTransform | None:
    """LittleCMS transform from the embedded profile to sRGB; None when the profile acts as sRGB."""
    profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    transform = ImageCms.buildTransform(profile, _srgb_profile(), in_mode, "RGB")
    # Most embedded RGB profiles are sRGB; skipping them saves time and avoids +-1 rounding. Test
    # what the transform does rather than trusting the profile's name.
    if in_mode == "RGB" and _is_identity(transform):
        return None
    return transform


def _is_identity(transform: ImageCms.ImageCmsTransform) -> bool:
    levels = np.arange(0, 256, 15, dtype=np.uint8)  # 18 levels, 0..255
    grid = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, len(levels), 3)
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(grid), transform))
    return int(np.abs(out.astype(np.int16) - grid).max()) <= 1


def _apply_icc_8bit(color: Image.Image, icc: bytes, source: str) -> Image.Image:
    try:
        transform = _icc_transform(icc, color.mode)
        if transform is None:
            return color
        result = ImageCms.applyTransform(color, transform)
        assert result is not None
        return result
    except Exception as exc:
        _warn_icc(source, exc, stacklevel=6)  # -> _apply_icc_8bit, _convert_8bit, _read, read_image, caller
        return color


def _warn_icc(source: str, exc: BaseException, stacklevel: int) -> None:
    warnings.warn(
        f"{source}: could not convert the embedded ICC profile to sRGB ({_one_line(exc)}); using raw values",
        RuntimeWarning,
        stacklevel=stacklevel,
    )


def _resize_8bit(
    color: Image.Image, alpha: Image.Image | None, target: tuple[int, int] | None
) -> tuple[Image.Image, Image.Image | None]:
    if target is None or color.size == target:
        return color, alpha
    # reducing_gap: cheap integer reduce() first, then Lanczos for the last factor <= 3.
    if alpha is None:
        return color.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0), None
    # Pillow premultiplies RGBA while resampling, so transparent pixels do not bleed colour.
    merged = Image.merge("RGBA", (*color.split(), alpha))
    merged = merged.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0)
    return merged.convert("RGB"), merged.getchannel("A")


# ---- 16-bit route --------------------------------------------------------------------------------
# Pillow has no 16-bit RGB(A) or gray+alpha mode: it decodes such PNG and TIFF files to 8 bits. Once Pillow
# has read a file, pypng or tifffile decode it again at full precision; Pillow's own 16-bit gray ("I;16")
# and float ("F") modes are exact already.

_PILLOW_HIGH_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")

# tifffile logs odd tags of damaged files (which Pillow already accepted) as warnings. With no handler
# configured, Python would print them to stderr; a NullHandler keeps them for apps that configure logging.
logging.getLogger("tifffile").addHandler(logging.NullHandler())


@dataclass
class _High:
    color: np.ndarray  # float32 (H, W, 1 or 3) in [0, 1]
    alpha: np.ndarray | None  # float32 (H, W)


def _decode_high_precision(im: Image.Image, fp: IO[bytes]) -> _High | None:
    """``im`` (already loaded from ``fp``) at more than 8 bits, or None when the file has only 8."""
    if im.mode in _PILLOW_HIGH_MODES:
        return _from_pillow(im)
    if im.format == "PNG" and im.mode in ("RGB", "RGBA"):  # Pillow shows 16-bit gray+alpha as RGBA too
        fp.seek(0)
        return _read_png16(fp, im.size)
    if im.format == "TIFF" and im.mode in ("RGB", "RGBA", "RGBX") and _tiff_bits(im) == {16}:
        fp.seek(0)
        return _read_tiff16(fp, im.size, keep_alpha=im.mode == "RGBA")  # RGBX: the 4th sample is padding
    return None


def _from_pillow(im: Image.Image) -> _High:
    raw = np.asarray(im)
    if im.mode == "F":
        color = np.clip(np.nan_to_num(raw.astype(np.float32)), 0.0, 1.0)
    else:  # I;16* and I (which Pillow also uses for 16-bit data): 0..65535
        color = np.clip(raw.astype(np.float32), 0.0, 65535.0) / np.float32(65535.0)
    trns = im.info.get("transparency")
    alpha = (raw != trns).astype(np.float32) if isinstance(trns, int) and im.mode != "F" else None
    return _High(color[:, :, None], alpha)


def _tiff_bits(im: Image.Image) -> set[int]:
    """The BitsPerSample values of a Pillow TIFF image (its public ``tag_v2`` directory)."""
    bits = getattr(im, "tag_v2", {}).get(258, ())
    return set(bits) if isinstance(bits, tuple) else {bits}


def _read_png16(fp: IO[bytes], size: tuple[int, int]) -> _High | None:
    """Decode a PNG with pypng if it is 16-bit (gray+alpha, RGB or RGBA); None if it is 8-bit."""
    header = png.Reader(file=fp)
    header.process_chunk()  # IHDR, always the first chunk
    if header.bitdepth != 16:
        return None
    planes = header.planes
    fp.seek(0)
    _check_png_inflate(fp, 2 * size[1] * (1 + size[0] * planes * 2))  # twice the raw size (Adam7 adds a little)
    fp.seek(0)
    width, height, rows, info = png.Reader(file=fp).read()
    if (width, height) != size:
        raise ValueError(f"pypng reads {width}x{height}, Pillow {size[0]}x{size[1]}")
    values = np.empty((height, width * planes), dtype=np.uint16)
    count = 0
    for count, row in enumerate(rows, 1):  # too many rows: IndexError
        values[count - 1] = row
    if count != height:
        raise ValueError(f"the image data ends after {count} of {height} rows")
    values = values.reshape(height, width, planes)
    color_planes = 1 if info["greyscale"] else 3
    color = values[:, :, :color_planes]
    alpha = values[:, :, color_planes].astype(np.float32) / np.float32(65535.0) if info["alpha"] else None
    trns = info.get("transparent")  # tRNS: one colour that is fully transparent
    if trns is not None and alpha is None:
        alpha = (~np.all(color == np.array(trns, dtype=np.uint16), axis=2)).astype(np.float32)
    return _High(color.astype(np.float32) / np.float32(65535.0), alpha)


def _check_png_inflate(fp: IO[bytes], limit: int) -> None:
    """Refuse image data that inflates to more than ``limit`` bytes, counted in bounded steps.

    pypng inflates each IDAT chunk in one go, and Pillow (which read the file first) ignores data past the
    last row, so without this a small file with a long zlib tail could claim gigabytes of memory.
    """
    inflater = zlib.decompressobj()
    total = 0
    for kind, data in png.Reader(file=fp).chunks():
        while kind == b"IDAT" and data:
            total += len(inflater.decompress(data, 1 << 20))
            data = inflater.unconsumed_tail
            if total > limit:
                raise ValueError(f"the image data inflates to more than {limit:,} bytes")


def _read_tiff16(fp: IO[bytes], size: tuple[int, int], *, keep_alpha: bool) -> _High:
    """Decode the first page of a 16-bit RGB(A) TIFF with tifffile (which Pillow reads first, too)."""
    with tifffile.TiffFile(fp) as tif:  # reads from fp's position; does not close fp
        page = tif.pages[0]
        if page.photometric != tifffile.PHOTOMETRIC.RGB or page.dtype != np.uint16:
            raise ValueError(f"unsupported TIFF layout ({page.photometric!r}, {page.dtype})")
        values = page.asarray()
        axes = page.axes
        premultiplied = tuple(page.extrasamples[:1]) == (tifffile.EXTRASAMPLE.ASSOCALPHA,)
    if axes == "SYX":  # planar: one plane per sample
        values = np.moveaxis(values, 0, -1)
    elif axes != "YXS":
        raise ValueError(f"unsupported TIFF layout (axes {axes})")
    if values.shape[:2] != (size[1], size[0]) or values.shape[2] < (4 if keep_alpha else 3):
        raise ValueError(f"tifffile reads shape {values.shape}, Pillow {size[0]}x{size[1]}")
    color = values[:, :, :3].astype(np.float32) / np.float32(65535.0)
    if not keep_alpha:
        return _High(color, None)
    alpha = values[:, :, 3].astype(np.float32) / np.float32(65535.0)
    if premultiplied:  # associated alpha: Pillow shows it as RGBA too, having divided it out; do the same
        visible = alpha[:, :, None] > 0
        color = np.where(visible, np.clip(color / np.where(visible, alpha[:, :, None], 1.0), 0.0, 1.0), 0.0)
    return _High(color.astype(np.float32), alpha)


def _convert_high(high: _High, icc: bytes | None, source: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Apply the ICC profile (via a lookup table built with LittleCMS) and make the colour RGB."""
    color = high.color
    if icc:
        try:
            transform = _icc_transform(icc, "L" if color.shape[2] == 1 else "RGB")
            if transform is not None:
                color = _icc_lut_apply(color, transform)
        except Exception as exc:
            _warn_icc(source, exc, stacklevel=5)  # -> _convert_high, _read, read_image, caller
    if color.shape[2] == 1:
        color = np.repeat(color, 3, axis=2)
    return color, high.alpha


def _icc_lut_apply(color: np.ndarray, transform: ImageCms.ImageCmsTransform) -> np.ndarray:
    """Convert float colour to sRGB with a LittleCMS transform sampled on a grid and interpolated.

    Pillow's ImageCms only transforms 8-bit images; sampling the transform at exact 8-bit grid
    points and interpolating keeps 16-bit gradients smooth (no 8-bit banding).
    """
    if color.shape[2] == 1:
        ramp = Image.fromarray(np.arange(256, dtype=np.uint8)[None, :])
        lut = np.asarray(ImageCms.applyTransform(ramp, transform), dtype=np.float32)[0] / 255.0  # (256, 3)
        x = color[:, :, 0] * 255.0
        out = np.stack([np.interp(x, np.arange(256), lut[:, c]) for c in range(3)], axis=2)
        return out.astype(np.float32)

    levels = np.arange(0, 256, 5, dtype=np.uint8)  # 52 exact 8-bit nodes, 5 apart
    n = len(levels)
    r, g, b = np.meshgrid(levels, levels, levels, indexing="ij")
    grid = np.stack([r, g, b], axis=-1).reshape(n * n, n, 3)
    out = np.asarray(ImageCms.applyTransform(Image.fromarray(grid), transform), dtype=np.float32)
    lut = torch.from_numpy(out.reshape(n, n, n, 3) / 255.0).permute(3, 0, 1, 2)[None]  # (1, 3, R, G, B)
    flat = torch.from_numpy(np.ascontiguousarray(color.reshape(-1, 3)))
    result = torch.empty_like(flat)
    chunk = 1 << 20
    for start in range(0, flat.shape[0], chunk):
        part = flat[start : start + chunk]
        # grid_sample's last dim is (x, y, z) = (W, H, D) = (b, g, r); align_corners maps 0/1 to nodes.
        coords = (part.flip(1) * 2.0 - 1.0).view(1, 1, 1, -1, 3)
        sampled = torch.nn.functional.grid_sample(
            lut, coords, mode="bilinear", padding_mode="border", align_corners=True
        )
        result[start : start + chunk] = sampled.view(3, -1).t()
    return result.clamp_(0.0, 1.0).numpy().reshape(color.shape)


def _resize_float(
    color: np.ndarray, alpha: np.ndarray | None, target: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Lanczos-resize float channels (Pillow mode "F"), premultiplied by alpha like Pillow does."""
    if target is None or (color.shape[1], color.shape[0]) == target:
        return color, alpha

    def resize(channel: np.ndarray) -> np.ndarray:
        image = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32))
        return np.asarray(image.resize(target, Image.Resampling.LANCZOS, reducing_gap=3.0), dtype=np.float32)

    if alpha is None:
        out = np.stack([resize(color[:, :, c]) for c in range(3)], axis=2)
        return np.clip(out, 0.0, 1.0), None
    new_alpha = np.clip(resize(alpha), 0.0, 1.0)
    premultiplied = np.stack([resize(color[:, :, c] * alpha) for c in range(3)], axis=2)
    safe = np.where(new_alpha > 0, new_alpha, 1.0)[:, :, None]
    out = np.where(new_alpha[:, :, None] > 0, premultiplied / safe, 0.0)
    return np.clip(out, 0.0, 1.0).astype(np.float32), new_alpha


def _orient_float(
    color: np.ndarray, alpha: np.ndarray | None, orientation: Image.Transpose | None
) -> tuple[np.ndarray, np.ndarray | None]:
    if orientation is None:
        return color, alpha

    def turn(channel: np.ndarray) -> np.ndarray:
        image = Image.fromarray(np.ascontiguousarray(channel, dtype=np.float32))
        return np.asarray(image.transpose(orientation), dtype=np.float32)

    color = np.stack([turn(color[:, :, c]) for c in range(color.shape[2])], axis=2)
    return color, (turn(alpha) if alpha is not None else None)


# --------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------


def write_image(
    path: str | os.PathLike[str],
    pixels: torch.Tensor,
    *,
    alpha: torch.Tensor | None = None,
    bit_depth: int = 8,
    metadata: dict[str, Any] | None = None,
) -> None:
    """Write a ``(3, H, W)`` tensor of sRGB values in [0, 1] to ``path``, atomically.

    The format comes from the suffix (see :data:`SUPPORTED_WRITE_SUFFIXES`). The data goes to a
    temporary file in the same directory which then replaces ``path``, so ``path`` never holds a
    partial image and no temporary file is left behind on failure. Values are clamped to [0, 1].

    Args:
        path: destination; an existing file is replaced.
        pixels: float ``(3, H, W)`` (a leading batch dimension of 1 is accepted), any device.
        alpha: optional ``(1, H, W)`` in [0, 1]. PNG, WebP and TIFF store it (RGBA); JPEG and BMP
            cannot, so the image is composited onto white instead.
        bit_depth: 8, or 16 for PNG and TIFF only.
        metadata: a JSON-serialisable dict stored in a PNG text chunk named "restyle" (read it back
            with :func:`read_metadata`); silently not stored for other formats.

    JPEG is written at quality 95 without chroma subsampling (4:4:4), WebP at quality 95 (lossy),
    TIFF with Deflate compression.

    Raises:
        ImageError: unsupported suffix or bit depth, bad tensor shape or non-finite values, metadata
            that is not JSON-serialisable, a missing or unwritable directory, ``path`` is a directory,
            or the encoder failed.
    """
    target = _display(path)
    prefix = f"cannot write image '{target}'"
    suffix = os.path.splitext(target)[1].lower()
    fmt = _WRITE_FORMATS.get(suffix)
    if fmt is None:
        got = f"suffix '{suffix}'" if suffix else "no suffix"
        choices = ", ".join(SUPPORTED_WRITE_SUFFIXES)
        raise ImageError(f"{prefix}: {got} is not supported; use one of {choices}")
    if bit_depth not in (8, 16) or isinstance(bit_depth, bool):
        raise ImageError(f"{prefix}: bit_depth must be 8 or 16, got {bit_depth!r}")
    if bit_depth == 16 and fmt not in _16BIT_FORMATS:
        raise ImageError(f"{prefix}: 16-bit output is only supported for .png and .tif/.tiff, not {suffix}")
    try:
        rgb = _hwc_array(pixels, "pixels", allow_nonfinite=False)
        a = None if alpha is None else _alpha_array(alpha, rgb.shape[:2], allow_nonfinite=False)
    except ImageError as exc:
        raise ImageError(f"{prefix}: {exc}") from None
    text = None
    if metadata is not None and fmt == "PNG":
        try:
            text = json.dumps(metadata, ensure_ascii=False, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ImageError(f"{prefix}: metadata is not JSON-serialisable ({_one_line(exc)})") from None
    if a is not None and fmt not in _ALPHA_FORMATS:
        rgb = rgb * a[:, :, None] + (1.0 - a[:, :, None])  # composite onto white
        a = None
    values = rgb if a is None else np.concatenate([rgb, a[:, :, None]], axis=2)

    if bit_depth == 16:
        values16 = _to_uint16(values)
        encoder = _png16_writer(values16, text) if fmt == "PNG" else _tiff16_writer(values16)
    else:
        encoder = _pillow_writer(Image.fromarray(_to_uint8(values)), fmt, text)
    _save(target, prefix, encoder)


def _pillow_writer(image: Image.Image, fmt: str, text: str | None) -> Callable[[IO[bytes]], None]:
    options: dict[str, Any] = {}
    if fmt == "PNG" and text is not None:
        info = PngImagePlugin.PngInfo()
        info.add_itxt(METADATA_KEY, text)  # iTXt: UTF-8, unlike tEXt (Latin-1)
        options["pnginfo"] = info
    elif fmt == "JPEG":
        options.update(quality=JPEG_QUALITY, subsampling=0)
    elif fmt == "WEBP":
        options.update(quality=WEBP_QUALITY)
    elif fmt == "TIFF":
        options.update(compression="tiff_adobe_deflate")

    def write(fp: IO[bytes]) -> None:
        image.save(fp, format=fmt, **options)

    return write


def _save(target: str, prefix: str, write: Callable[[IO[bytes]], None]) -> None:
    """:func:`~restyle.io.files.atomic_write` with every failure as one ImageError line."""
    if os.path.isdir(target):
        raise ImageError(f"{prefix}: it is a directory")
    directory = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(directory):
        raise ImageError(f"{prefix}: directory '{directory}' does not exist")
    try:
        atomic_write(target, write)
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(f"{prefix}: directory '{directory}' is not writable") from None
    except Exception as exc:  # the encoder's or the file system's; KeyboardInterrupt & co. pass
        raise ImageError(f"{prefix}: {_one_line(exc)}") from exc


def _png16_writer(values: np.ndarray, text: str | None) -> Callable[[IO[bytes]], None]:
    """16-bit RGB/RGBA PNG by pypng, with the metadata as an iTXt chunk before the image data."""
    height, width, channels = values.shape
    writer = png.Writer(width, height, greyscale=False, alpha=channels == 4, bitdepth=16, compression=6)
    rows = values.astype(">u2").view(np.uint8).reshape(height, -1)  # pypng's "packed" rows: big-endian

    def write(fp: IO[bytes]) -> None:
        if text is None:
            writer.write_packed(fp, rows)
            return
        # pypng writes no text chunks: add one to its chunk list. It goes right after IHDR, before the image
        # data, where Image.open (so read_metadata) finds it without decoding the pixels.
        buffer = io.BytesIO()
        writer.write_packed(buffer, rows)
        chunks = list(png.Reader(bytes=buffer.getvalue()).chunks())
        # iTXt: keyword, NUL, compression flag 0, method 0, empty language tag and translated keyword
        # (each NUL-terminated), then UTF-8 text.
        itxt = METADATA_KEY.encode("latin-1") + b"\x00\x00\x00\x00\x00" + text.encode("utf-8")
        png.write_chunks(fp, [chunks[0], (b"iTXt", itxt), *chunks[1:]])

    return write


def _tiff16_writer(values: np.ndarray) -> Callable[[IO[bytes]], None]:
    """16-bit RGB/RGBA TIFF by tifffile: Deflate (as the 8-bit TIFFs) with the horizontal predictor."""
    extrasamples = ["unassalpha"] if values.shape[2] == 4 else None

    def write(fp: IO[bytes]) -> None:
        tifffile.imwrite(
            fp,
            values,
            photometric="rgb",
            planarconfig="contig",
            extrasamples=extrasamples,
            compression="zlib",  # Adobe Deflate, tag 8
            compressionargs={"level": 6},
            predictor=True,
            resolution=(72, 72),
            metadata=None,  # no tifffile JSON description
            software=False,
        )

    return write
