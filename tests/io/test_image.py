"""Tests for restyle.io.image: every image is tiny and generated here, in tmp_path."""

from __future__ import annotations

import io
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import png
import pytest
import tifffile
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from restyle.engine import pyramid
from restyle.errors import ConfigError, ImageError
from restyle.io import (
    DEFAULT_MAX_PIXELS,
    SUPPORTED_WRITE_SUFFIXES,
    ImageData,
    fit_size,
    pil_to_tensor,
    read_image,
    read_metadata,
    tensor_to_pil,
    write_image,
)
from restyle.io import image as image_module

RED, GREEN, BLUE, WHITE = (255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)


# ---- helpers -------------------------------------------------------------------------------------


def pattern(width: int = 24, height: int = 16) -> Image.Image:
    """An asymmetric RGB image, so flips and rotations are detectable."""
    rng = np.random.default_rng(width * 1000 + height)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def as_uint8(pixels: torch.Tensor) -> np.ndarray:
    """(3, H, W) [0, 1] -> (H, W, 3) uint8."""
    return np.rint(pixels.permute(1, 2, 0).numpy() * 255).astype(np.uint8)


def rgb_at(data: ImageData, x: int, y: int) -> tuple[int, ...]:
    return tuple(int(round(v * 255)) for v in data.pixels[:, y, x].tolist())


def check_valid(data: ImageData) -> None:
    assert isinstance(data, ImageData)
    assert data.pixels.dtype == torch.float32 and data.pixels.ndim == 3 and data.pixels.shape[0] == 3
    assert torch.isfinite(data.pixels).all()
    assert data.pixels.min() >= 0 and data.pixels.max() <= 1
    if data.alpha is not None:
        assert data.alpha.dtype == torch.float32
        assert data.alpha.shape == (1, *data.pixels.shape[1:])
        assert data.alpha.min() >= 0 and data.alpha.max() <= 1
    assert data.bit_depth in (8, 16)


def png_bytes(values: np.ndarray, color_type: int, *, interlace: bool = False, chunks=()) -> bytes:
    """A 16-bit PNG written by hand (Pillow cannot write 16-bit RGB/LA): values uint16 (H, W, C)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    def scanlines(a: np.ndarray) -> bytes:
        rows = a.astype(">u2").view(np.uint8).reshape(a.shape[0], -1)
        return np.concatenate([np.zeros((a.shape[0], 1), np.uint8), rows], axis=1).tobytes()

    height, width = values.shape[:2]
    if interlace:  # Adam7: (x start, y start, x step, y step) per pass
        passes = [
            (0, 0, 8, 8),
            (4, 0, 8, 8),
            (0, 4, 4, 8),
            (2, 0, 4, 4),
            (0, 2, 2, 4),
            (1, 0, 2, 2),
            (0, 1, 1, 2),
        ]
        raw = b"".join(scanlines(values[y::dy, x::dx]) for x, y, dx, dy in passes if values[y::dy, x::dx].size)
    else:
        raw = scanlines(values)
    header = struct.pack(">IIBBBBB", width, height, 16, color_type, 0, 0, int(interlace))
    body = b"".join(chunk(kind, data) for kind, data in chunks)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


def swapped_rb_profile() -> bytes:
    """LittleCMS's sRGB profile with the red and blue primaries exchanged: a valid non-sRGB profile."""
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    count = int.from_bytes(data[128:132], "big")
    where = {bytes(data[132 + 12 * i : 136 + 12 * i]): 132 + 12 * i for i in range(count)}
    r, b = where[b"rXYZ"], where[b"bXYZ"]
    data[r + 4 : r + 12], data[b + 4 : b + 12] = data[b + 4 : b + 12], data[r + 4 : r + 12]
    data[84:100] = bytes(16)  # profile ID (MD5) no longer matches: mark it as not computed
    return bytes(data)


def gray_profile(gamma: float) -> bytes:
    """A minimal ICC v2 grayscale display profile (ImageCms cannot create gray profiles)."""

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    d50 = s15(0.9642) + s15(1.0) + s15(0.8249)
    tags = [
        (b"wtpt", b"XYZ " + bytes(4) + d50),
        (b"kTRC", b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)),
        (b"desc", b"desc" + bytes(4) + struct.pack(">I", 5) + b"gray\x00" + bytes(78)),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table = data = b""
    for signature, body in tags:
        body += bytes(-len(body) % 4)
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    header = (
        struct.pack(">I", offset + len(data))
        + bytes(4)
        + bytes([2, 0x10, 0, 0])
        + b"mntrGRAYXYZ "
        + bytes(12)
        + b"acsp"
        + bytes(28)  # platform, flags, device, attributes, intent
        + d50  # illuminant
        + bytes(48)  # creator, profile ID, reserved
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def exif_orientation(value: int) -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = value
    return exif


def assert_image_error(path: Path, **kwargs) -> str:
    with pytest.raises(ImageError) as info:
        read_image(path, **kwargs)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    return message


# ---- modes ---------------------------------------------------------------------------------------


def test_rgb_png_is_exact(tmp_path: Path) -> None:
    image = pattern()
    image.save(tmp_path / "a.png")
    data = read_image(tmp_path / "a.png")
    check_valid(data)
    assert np.array_equal(as_uint8(data.pixels), np.asarray(image))
    assert data.alpha is None and data.bit_depth == 8
    assert data.original_size == (24, 16) and data.source == str(tmp_path / "a.png")


@pytest.mark.parametrize("mode", ["1", "L"])
def test_grayscale_becomes_three_equal_channels(tmp_path: Path, mode: str) -> None:
    gray = pattern().convert("L").convert(mode)
    gray.save(tmp_path / "g.png")
    data = read_image(tmp_path / "g.png")
    expected = np.asarray(gray.convert("L"))
    for c in range(3):
        assert np.array_equal(as_uint8(data.pixels)[:, :, c], expected)
    assert data.alpha is None


def test_la_keeps_alpha(tmp_path: Path) -> None:
    image = Image.new("LA", (8, 4), (200, 255))
    image.putpixel((0, 0), (10, 0))
    image.save(tmp_path / "la.png")
    data = read_image(tmp_path / "la.png")
    assert data.alpha is not None and data.alpha[0, 0, 0] == 0 and data.alpha[0, 0, 1] == 1
    assert rgb_at(data, 1, 0) == (200, 200, 200)


def test_palette_with_transparency(tmp_path: Path) -> None:
    image = Image.new("P", (8, 4), 1)
    image.putpalette([*RED, *BLUE] + [0] * 762)
    image.putpixel((0, 0), 0)
    image.info["transparency"] = 0
    image.save(tmp_path / "p.png", transparency=0)
    data = read_image(tmp_path / "p.png")
    assert data.alpha is not None
    assert data.alpha[0, 0, 0] == 0 and data.alpha[0, 0, 1] == 1
    assert rgb_at(data, 1, 0) == BLUE
    composited = read_image(tmp_path / "p.png", alpha="composite", background=(0, 255, 0))
    assert composited.alpha is None and rgb_at(composited, 0, 0) == GREEN


def test_palette_without_transparency_and_pa(tmp_path: Path) -> None:
    pattern().convert("P").save(tmp_path / "p.gif")
    data = read_image(tmp_path / "p.gif")
    assert data.alpha is None and data.pixels.shape == (3, 16, 24)
    pa = Image.new("PA", (4, 4))
    pa.putpalette([*RED] + [0] * 765)
    pa.putpixel((1, 1), (0, 128))
    rgba = pa.convert("RGBA")
    rgba.save(tmp_path / "pa.png")
    data = read_image(tmp_path / "pa.png")
    assert data.alpha is not None and abs(float(data.alpha[0, 1, 1]) - 128 / 255) < 1e-6


def test_rgba_keep_and_composite(tmp_path: Path) -> None:
    image = Image.new("RGBA", (8, 4), (*RED, 255))
    image.putpixel((0, 0), (*RED, 0))
    image.putpixel((1, 0), (*RED, 128))
    image.save(tmp_path / "a.png")

    kept = read_image(tmp_path / "a.png")
    assert kept.alpha is not None and kept.alpha.shape == (1, 4, 8)
    assert kept.alpha[0, 0, 0] == 0 and abs(float(kept.alpha[0, 0, 1]) - 128 / 255) < 1e-6
    assert rgb_at(kept, 0, 0) == RED  # colour is not premultiplied

    over_black = read_image(tmp_path / "a.png", alpha="composite", background=(0, 0, 0))
    assert over_black.alpha is None
    assert rgb_at(over_black, 0, 0) == (0, 0, 0)
    assert rgb_at(over_black, 1, 0) == (128, 0, 0)
    assert rgb_at(over_black, 5, 2) == RED
    assert rgb_at(read_image(tmp_path / "a.png", alpha="composite"), 0, 0) == WHITE


def test_opaque_alpha_is_dropped(tmp_path: Path) -> None:
    Image.new("RGBA", (4, 4), (*RED, 255)).save(tmp_path / "o.png")
    assert read_image(tmp_path / "o.png").alpha is None


@pytest.mark.parametrize("suffix", [".jpg", ".tif"])
def test_cmyk(tmp_path: Path, suffix: str) -> None:
    # Pillow writes CMYK JPEGs Adobe-style (inverted values), which exercises the inverted path.
    image = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red
    image.paste((0, 0, 0, 255), (0, 0, 4, 8))  # black
    image.save(tmp_path / f"c{suffix}")
    data = read_image(tmp_path / f"c{suffix}")
    assert all(abs(a - b) <= 3 for a, b in zip(rgb_at(data, 6, 4), RED, strict=True))
    assert all(v <= 3 for v in rgb_at(data, 1, 4))


def test_webp_lossless_with_alpha(tmp_path: Path) -> None:
    image = pattern().convert("RGBA")
    image.putpixel((0, 0), (1, 2, 3, 0))
    image.save(tmp_path / "w.webp", lossless=True, exact=True)
    data = read_image(tmp_path / "w.webp")
    assert np.array_equal(as_uint8(data.pixels), np.asarray(image)[:, :, :3])
    assert data.alpha is not None and data.alpha[0, 0, 0] == 0


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_first_frame_of_animation(tmp_path: Path, suffix: str) -> None:
    frames = [Image.new("RGB", (8, 8), c) for c in (RED, GREEN, BLUE)]
    frames[0].save(tmp_path / f"anim{suffix}", save_all=True, append_images=frames[1:], lossless=True)
    with Image.open(tmp_path / f"anim{suffix}") as check:
        assert check.n_frames == 3
    assert rgb_at(read_image(tmp_path / f"anim{suffix}"), 4, 4) == RED


def test_content_not_suffix_decides(tmp_path: Path) -> None:
    pattern().save(tmp_path / "really_a_png.jpg", format="PNG")
    data = read_image(tmp_path / "really_a_png.jpg")
    assert np.array_equal(as_uint8(data.pixels), np.asarray(pattern()))


def test_gray16_and_float_tiff(tmp_path: Path) -> None:
    values = (np.arange(16 * 24).reshape(16, 24) * 171).astype(np.uint16)
    Image.fromarray(values).save(tmp_path / "g16.png")  # mode I;16
    Image.fromarray(values).save(tmp_path / "g16.tif")
    for name in ("g16.png", "g16.tif"):
        data = read_image(tmp_path / name)
        assert data.bit_depth == 16
        assert np.abs(data.pixels[1].numpy() * 65535 - values).max() < 0.01
    floats = np.linspace(-0.5, 1.5, 24 * 16, dtype=np.float32).reshape(16, 24)
    Image.fromarray(floats).save(tmp_path / "f.tif")
    data = read_image(tmp_path / "f.tif")
    assert np.allclose(data.pixels[0].numpy(), np.clip(floats, 0, 1))


# ---- 16 bit --------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("with_alpha", [False, True])
def test_16bit_round_trip(tmp_path: Path, suffix: str, with_alpha: bool) -> None:
    generator = torch.Generator().manual_seed(1)
    pixels = torch.rand(3, 19, 33, generator=generator)
    pixels[:, 0, 0] = torch.tensor([0.0, 1.0, 0.5])
    alpha = torch.rand(1, 19, 33, generator=generator) if with_alpha else None
    path = tmp_path / f"x{suffix}"
    write_image(path, pixels, alpha=alpha, bit_depth=16)
    data = read_image(path)
    assert data.bit_depth == 16
    assert (data.pixels - pixels).abs().max() <= 2 / 65535
    if with_alpha:
        assert data.alpha is not None and (data.alpha - alpha).abs().max() <= 2 / 65535
    else:
        assert data.alpha is None
    # The file is valid for other readers: Pillow's own (8-bit) decode sees the high bytes.
    with Image.open(path) as plain:
        plain.verify()
    with Image.open(path) as plain:
        expected = np.rint(pixels.permute(1, 2, 0).numpy() * 65535).astype(np.uint16) >> 8
        assert np.array_equal(np.asarray(plain.convert("RGB")), expected.astype(np.uint8))


def test_16bit_png_values_need_both_bytes(tmp_path: Path) -> None:
    # Values that differ only in the low byte: an 8-bit decode would make them equal.
    values = np.full((4, 4, 3), 0x1200, np.uint16)
    values[0, 0] = (0x1201, 0x12FF, 0x1280)
    (tmp_path / "low.png").write_bytes(png_bytes(values, 2))
    data = read_image(tmp_path / "low.png")
    assert data.bit_depth == 16
    assert np.rint(data.pixels[:, 0, 0].numpy() * 65535).tolist() == [0x1201, 0x12FF, 0x1280]
    assert np.rint(data.pixels[:, 1, 1].numpy() * 65535).tolist() == [0x1200] * 3


def test_16bit_png_gray_alpha_transparency_interlace(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    la = rng.integers(0, 65536, (9, 11, 2), dtype=np.uint16)
    (tmp_path / "la16.png").write_bytes(png_bytes(la, 4))
    data = read_image(tmp_path / "la16.png")
    assert data.bit_depth == 16 and data.alpha is not None
    assert np.abs(data.pixels[2].numpy() * 65535 - la[:, :, 0]).max() < 0.01
    assert np.abs(data.alpha[0].numpy() * 65535 - la[:, :, 1]).max() < 0.01

    rgb = rng.integers(0, 65536, (13, 10, 3), dtype=np.uint16)
    (tmp_path / "adam7.png").write_bytes(png_bytes(rgb, 2, interlace=True))
    data = read_image(tmp_path / "adam7.png")
    assert np.abs(data.pixels.permute(1, 2, 0).numpy() * 65535 - rgb).max() < 0.01

    rgb[2, 3] = (1, 2, 0x0300)
    trns = (b"tRNS", struct.pack(">HHH", 1, 2, 0x0300))
    (tmp_path / "trns.png").write_bytes(png_bytes(rgb, 2, chunks=[trns]))
    data = read_image(tmp_path / "trns.png")
    assert data.alpha is not None and data.alpha[0, 2, 3] == 0 and data.alpha.sum() == rgb.shape[0] * rgb.shape[1] - 1


@pytest.mark.parametrize("planar", [False, True])
@pytest.mark.parametrize("compression", [None, "zlib", "lzw", "packbits"])
def test_16bit_tiff_compressions_and_layouts(tmp_path: Path, compression: str | None, planar: bool) -> None:
    # Written by other software, not by write_image: LZW is Photoshop's usual choice.
    if compression == "lzw":
        pytest.importorskip("imagecodecs")  # tifffile's LZW codec (a restyle dependency)
    values = np.random.default_rng(5).integers(0, 65536, (7, 9, 3), dtype=np.uint16)
    stored = np.moveaxis(values, -1, 0) if planar else values
    path = tmp_path / "x.tif"
    tifffile.imwrite(
        path, stored, photometric="rgb", planarconfig="separate" if planar else "contig", compression=compression
    )
    data = read_image(path)
    assert data.bit_depth == 16 and data.alpha is None
    assert np.array_equal(np.rint(data.pixels.permute(1, 2, 0).numpy() * 65535), values)


@pytest.mark.parametrize("extra", ["unassalpha", "assocalpha", "unspecified"])
def test_16bit_tiff_alpha_kinds(tmp_path: Path, extra: str) -> None:
    rng = np.random.default_rng(6)
    alpha = rng.integers(20000, 65536, (5, 6), dtype=np.uint16)
    alpha[0, 0] = 0
    color = rng.integers(0, 65536, (5, 6, 3), dtype=np.uint16)
    stored = color.copy()
    if extra == "assocalpha":  # premultiplied
        stored = np.rint(color * (alpha[:, :, None] / 65535)).astype(np.uint16)
    tifffile.imwrite(tmp_path / "a.tif", np.dstack([stored, alpha]), photometric="rgb", extrasamples=[extra])
    data = read_image(tmp_path / "a.tif")
    assert data.bit_depth == 16
    if extra == "unspecified":  # Pillow calls it RGBX: padding, not alpha
        assert data.alpha is None
        return
    assert data.alpha is not None and np.array_equal(np.rint(data.alpha[0].numpy() * 65535), alpha)
    got = data.pixels.permute(1, 2, 0).numpy() * 65535
    tolerance = 0.01 if extra == "unassalpha" else 2.0  # 16-bit rounding of the premultiplied values
    assert np.abs(got - color)[alpha > 0].max() <= tolerance
    if extra == "assocalpha":
        assert (got[0, 0] == 0).all()  # fully transparent premultiplied pixel: colour unknown, black
    else:
        assert np.abs(got[0, 0] - color[0, 0]).max() <= 0.01  # straight alpha keeps it


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_second_decode_failure_keeps_8_bits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    pixels = torch.rand(3, 6, 7, generator=torch.Generator().manual_seed(2))
    write_image(tmp_path / f"x{suffix}", pixels, bit_depth=16)

    def refuse(*args, **kwargs):
        raise ValueError("no thanks")

    monkeypatch.setattr(png.Reader, "read", refuse)
    monkeypatch.setattr(tifffile.TiffPage, "asarray", refuse)
    with pytest.warns(RuntimeWarning, match="16-bit precision.*no thanks"):
        data = read_image(tmp_path / f"x{suffix}")
    assert data.bit_depth == 8
    high_bytes = np.rint(pixels.permute(1, 2, 0).numpy() * 65535).astype(np.uint16) >> 8
    assert np.array_equal(as_uint8(data.pixels), high_bytes.astype(np.uint8))


def test_16bit_png_with_a_long_zlib_tail_is_not_inflated(tmp_path: Path) -> None:
    # 4x4 pixels, then 64 MiB of zeros in the same zlib stream: Pillow stops after the last row, but
    # pypng would inflate the whole chunk at once. A guard refuses it first; Pillow's 8 bits are used.
    values = np.arange(48, dtype=np.uint16).reshape(4, 4, 3) * 1000
    rows = np.concatenate([np.zeros((4, 1), np.uint8), values.astype(">u2").view(np.uint8).reshape(4, -1)], axis=1)
    compressor = zlib.compressobj(9)
    idat = compressor.compress(rows.tobytes())
    zeros = bytes(1 << 20)
    idat += b"".join(compressor.compress(zeros) for _ in range(64)) + compressor.flush()
    good = png_bytes(values, 2)
    header = good[: 8 + 25]  # signature and IHDR
    tail = struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    (tmp_path / "tail.png").write_bytes(header + tail + good[-12:])  # ... and IEND
    with pytest.warns(RuntimeWarning, match="inflates to more than"):
        data = read_image(tmp_path / "tail.png")
    assert data.bit_depth == 8 and np.array_equal(as_uint8(data.pixels), (values >> 8).astype(np.uint8))


def test_16bit_tiff_with_a_long_zlib_tail_is_not_inflated(tmp_path: Path) -> None:
    # The TIFF twin of the PNG case: imagecodecs (tifffile's codec) inflates into a buffer of the strip's
    # size, so the 64 MiB tail is refused rather than allocated; Pillow's 8 bits are used.
    values = np.arange(48, dtype=np.uint16).reshape(4, 4, 3) * 1000
    path = tmp_path / "tail.tif"
    tifffile.imwrite(path, values, photometric="rgb")
    compressor = zlib.compressobj(9)
    strip = compressor.compress(values.astype("<u2").tobytes())
    strip += b"".join(compressor.compress(bytes(1 << 20)) for _ in range(64)) + compressor.flush()
    end = path.stat().st_size
    with path.open("ab") as f:
        f.write(strip)
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tags = tif.pages[0].tags
        tags["StripOffsets"].overwrite([end])
        tags["StripByteCounts"].overwrite([len(strip)])
        tags["Compression"].overwrite(8)  # Adobe Deflate
    with pytest.warns(RuntimeWarning, match="16-bit precision"):
        data = read_image(path)
    assert data.bit_depth == 8 and np.array_equal(as_uint8(data.pixels), (values >> 8).astype(np.uint8))


def test_16bit_only_for_png_and_tiff(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="16-bit"):
        write_image(tmp_path / "x.jpg", torch.rand(3, 4, 4), bit_depth=16)
    with pytest.raises(ImageError, match="bit_depth"):
        write_image(tmp_path / "x.png", torch.rand(3, 4, 4), bit_depth=12)
    assert list(tmp_path.iterdir()) == []


# ---- orientation, colour management --------------------------------------------------------------

INVERSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,  # tag 6 means "rotate 90 degrees clockwise to display"
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_png(tmp_path: Path, orientation: int) -> None:
    upright = pattern(12, 7)
    stored = upright.transpose(INVERSE[orientation]) if orientation in INVERSE else upright
    stored.save(tmp_path / "o.png", exif=exif_orientation(orientation))
    data = read_image(tmp_path / "o.png")
    assert np.array_equal(as_uint8(data.pixels), np.asarray(upright))
    assert data.original_size == (12, 7)


def test_exif_orientation_jpeg(tmp_path: Path) -> None:
    # Stored 32x16: top half red, bottom half blue. Tag 6: rotate 90 clockwise -> 16x32 with red on the
    # right and blue on the left.
    image = Image.new("RGB", (32, 16), RED)
    image.paste(BLUE, (0, 8, 32, 16))
    image.save(tmp_path / "o.jpg", exif=exif_orientation(6), quality=95)
    data = read_image(tmp_path / "o.jpg")
    assert data.pixels.shape == (3, 32, 16) and data.original_size == (16, 32)
    right, left = rgb_at(data, 13, 16), rgb_at(data, 2, 16)
    assert right[0] > 200 and right[2] < 60 and left[2] > 200 and left[0] < 60
    small = read_image(tmp_path / "o.jpg", max_side=8)
    assert small.pixels.shape == (3, 8, 4) and small.original_size == (16, 32)


def test_exif_orientation_16bit(tmp_path: Path) -> None:
    values = np.zeros((4, 6, 3), np.uint16)
    values[0, 0] = (65535, 1, 0)
    exif = exif_orientation(6).tobytes().removeprefix(b"Exif\x00\x00")
    (tmp_path / "o16.png").write_bytes(png_bytes(values, 2, chunks=[(b"eXIf", exif)]))
    data = read_image(tmp_path / "o16.png")
    assert data.bit_depth == 16 and data.pixels.shape == (3, 6, 4)
    # Clockwise rotation moves the top-left pixel to the top-right.
    assert np.rint(data.pixels[:, 0, 3].numpy() * 65535).tolist() == [65535, 1, 0]


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".tif", ".webp"])
def test_icc_profile_is_converted_to_srgb(tmp_path: Path, suffix: str) -> None:
    image = Image.new("RGB", (8, 8), RED)
    image.paste(GREEN, (0, 0, 4, 8))
    image.save(tmp_path / f"icc{suffix}", icc_profile=swapped_rb_profile(), quality=100)
    data = read_image(tmp_path / f"icc{suffix}")
    # Red in a profile whose red primary is sRGB blue is blue.
    assert all(abs(a - b) <= 4 for a, b in zip(rgb_at(data, 6, 4), BLUE, strict=True))
    assert all(abs(a - b) <= 4 for a, b in zip(rgb_at(data, 1, 4), GREEN, strict=True))


def test_icc_profile_16bit(tmp_path: Path) -> None:
    values = np.zeros((4, 4, 3), np.uint16)
    values[..., 0] = 65535
    values[0, 0] = (32768, 32768, 32768)
    iccp = (b"iCCP", b"swapped\x00\x00" + zlib.compress(swapped_rb_profile()))
    (tmp_path / "icc16.png").write_bytes(png_bytes(values, 2, chunks=[iccp]))
    data = read_image(tmp_path / "icc16.png")
    assert data.bit_depth == 16
    assert np.allclose(data.pixels[:, 2, 2].numpy(), [0, 0, 1], atol=3 / 255)
    assert np.allclose(data.pixels[:, 0, 0].numpy(), 0.5, atol=3 / 255)  # gray stays gray


def test_gray_icc_profile(tmp_path: Path) -> None:
    # Gray 128 in a linear (gamma 1.0) profile is 50% light: sRGB-encoded that is about 188.
    linear = gray_profile(1.0)
    Image.new("L", (4, 4), 128).save(tmp_path / "g.jpg", icc_profile=linear)
    Image.fromarray(np.full((4, 4), 32896, np.uint16)).save(tmp_path / "g16.png", icc_profile=linear)
    assert rgb_at(read_image(tmp_path / "g.jpg"), 1, 1) == (188, 188, 188)
    data = read_image(tmp_path / "g16.png")
    assert data.bit_depth == 16 and np.allclose(data.pixels[:, 1, 1].numpy(), 188 / 255, atol=1.5 / 255)


def test_srgb_profile_changes_nothing(tmp_path: Path) -> None:
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    pattern().save(tmp_path / "s.png", icc_profile=srgb)
    assert np.array_equal(as_uint8(read_image(tmp_path / "s.png").pixels), np.asarray(pattern()))


def test_broken_icc_profile_falls_back_to_raw_values(tmp_path: Path) -> None:
    pattern().save(tmp_path / "b.png", icc_profile=b"this is not an ICC profile")
    Image.new("L", (4, 4), 77).save(tmp_path / "wrong_kind.png", icc_profile=swapped_rb_profile())
    with pytest.warns(RuntimeWarning, match="ICC"):
        data = read_image(tmp_path / "b.png")
    assert np.array_equal(as_uint8(data.pixels), np.asarray(pattern()))
    with pytest.warns(RuntimeWarning, match="ICC"):
        assert rgb_at(read_image(tmp_path / "wrong_kind.png"), 0, 0) == (77, 77, 77)


# ---- downscaling ---------------------------------------------------------------------------------


def test_max_side_downscales_never_upscales(tmp_path: Path) -> None:
    pattern(64, 32).save(tmp_path / "a.png")
    data = read_image(tmp_path / "a.png", max_side=16)
    assert data.pixels.shape == (3, 8, 16) and data.original_size == (64, 32)
    assert read_image(tmp_path / "a.png", max_side=1000).pixels.shape == (3, 32, 64)
    assert read_image(tmp_path / "a.png", max_side=64).pixels.shape == (3, 32, 64)
    assert read_image(tmp_path / "a.png", max_side=1).pixels.shape == (3, 1, 1)
    # A flat colour stays that colour through the Lanczos filter.
    Image.new("RGB", (60, 40), (10, 100, 200)).save(tmp_path / "flat.png")
    assert rgb_at(read_image(tmp_path / "flat.png", max_side=7), 3, 2) == (10, 100, 200)


def test_fit_size_is_shared_and_rounds_half_to_even(tmp_path: Path) -> None:
    assert pyramid.fit_size is fit_size  # one implementation, re-exported by the engine
    assert fit_size(64, 32, 16) == (16, 8)
    assert fit_size(16, 8, 64) == (64, 32)  # scales up too (read_image only asks it to shrink)
    assert fit_size(1000, 3, 10) == (10, 1)  # never 0
    assert fit_size(8, 3, 4) == (4, 2) and fit_size(8, 5, 4) == (4, 2)  # 1.5 -> 2 and 2.5 -> 2
    pattern(8, 5).save(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png", max_side=4).pixels.shape == (3, 2, 4)


def test_large_jpeg_uses_draft(tmp_path: Path) -> None:
    # 3000x2000 = 6 MP; with max_side the JPEG decodes at 1/8 scale (375x250), under a 1 MP limit.
    Image.new("RGB", (3000, 2000), (30, 60, 90)).save(tmp_path / "big.jpg", quality=50)
    data = read_image(tmp_path / "big.jpg", max_side=256, max_pixels=1_000_000)
    assert data.pixels.shape == (3, 171, 256) and data.original_size == (3000, 2000)
    assert all(abs(a - b) <= 3 for a, b in zip(rgb_at(data, 100, 100), (30, 60, 90), strict=True))
    message = assert_image_error(tmp_path / "big.jpg", max_pixels=1_000_000)
    assert "6,000,000" in message


@pytest.mark.parametrize("bit_depth", [8, 16])
def test_downscale_does_not_bleed_transparent_colour(tmp_path: Path, bit_depth: int) -> None:
    pixels = torch.zeros(3, 16, 32)
    pixels[0, :, :16] = 1.0  # left: red, fully transparent
    pixels[2, :, 16:] = 1.0  # right: blue, opaque
    alpha = torch.zeros(1, 16, 32)
    alpha[:, :, 16:] = 1.0
    write_image(tmp_path / "a.png", pixels, alpha=alpha, bit_depth=bit_depth)
    data = read_image(tmp_path / "a.png", max_side=8)
    assert data.bit_depth == bit_depth and data.alpha is not None
    visible = data.alpha[0] > 0.02
    assert visible.any() and (data.pixels[0][visible] < 0.02).all()


def test_16bit_downscale(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png", torch.full((3, 20, 40), 0.123456), bit_depth=16)
    data = read_image(tmp_path / "a.png", max_side=10)
    assert data.bit_depth == 16 and data.pixels.shape == (3, 5, 10)
    assert (data.pixels - 0.123456).abs().max() < 2 / 65535


# ---- limits --------------------------------------------------------------------------------------


def test_pixel_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pattern(64, 64).save(tmp_path / "a.png")
    message = assert_image_error(tmp_path / "a.png", max_pixels=1000)
    assert "4,096" in message and "1,000" in message
    assert "max_pixels" in message and "RESTYLE_MAX_PIXELS" in message
    assert read_image(tmp_path / "a.png", max_pixels=4096).pixels.shape == (3, 64, 64)

    monkeypatch.setenv("RESTYLE_MAX_PIXELS", "1000")
    assert "1,000" in assert_image_error(tmp_path / "a.png")
    assert read_image(tmp_path / "a.png", max_pixels=5000).pixels.shape == (3, 64, 64)
    monkeypatch.setenv("RESTYLE_MAX_PIXELS", "lots")
    with pytest.raises(ConfigError, match="RESTYLE_MAX_PIXELS"):
        read_image(tmp_path / "a.png")
    assert DEFAULT_MAX_PIXELS == 178_956_970


@pytest.mark.parametrize("suffix", [".png", ".tif", ".gif"])
def test_our_limit_replaces_pillows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str) -> None:
    # Pillow's own (global) limit must not refuse what max_pixels allows; TIFF re-checks in load().
    pattern(64, 64).save(tmp_path / f"a{suffix}")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert read_image(tmp_path / f"a{suffix}").pixels.shape == (3, 64, 64)
    assert Image.MAX_IMAGE_PIXELS == 100


def test_decompression_bomb_header_is_refused_before_decoding(tmp_path: Path) -> None:
    # Claims 100000 x 100000 16-bit RGBA (80 GB) but holds almost nothing.
    header = struct.pack(">IIBBBBB", 100_000, 100_000, 16, 6, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + header
    data += struct.pack(">I", zlib.crc32(b"IHDR" + header))
    idat = zlib.compress(b"\x00" * 1000)
    data += struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    (tmp_path / "bomb.png").write_bytes(data)
    limit_before = Image.MAX_IMAGE_PIXELS
    message = assert_image_error(tmp_path / "bomb.png")
    assert "10,000,000,000" in message and f"{DEFAULT_MAX_PIXELS:,}" in message
    assert Image.MAX_IMAGE_PIXELS == limit_before  # Pillow's global is restored


@pytest.mark.parametrize(
    "kwargs",
    [{"max_side": 0}, {"max_side": 2.5}, {"alpha": "drop"}, {"background": (1, 2)}, {"max_pixels": -1}],
)
def test_bad_arguments(tmp_path: Path, kwargs: dict) -> None:
    pattern().save(tmp_path / "a.png")
    with pytest.raises(ConfigError):
        read_image(tmp_path / "a.png", **kwargs)


# ---- read errors ---------------------------------------------------------------------------------


def good_png() -> bytes:
    buffer = io.BytesIO()
    pattern(40, 30).save(buffer, "PNG")
    return buffer.getvalue()


def good_jpeg() -> bytes:
    buffer = io.BytesIO()
    pattern(40, 30).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "content", "expected"),
    [
        ("empty.png", b"", "empty"),
        ("text.png", b"hello, this is not an image at all\n", "not a recognised image"),
        ("truncated.png", good_png()[:200], "truncated"),
        ("truncated.jpg", good_jpeg()[: len(good_jpeg()) // 2], "truncated"),
        ("header_only.jpg", good_jpeg()[:30], "cannot read"),
        ("bad_crc.png", good_png()[:20] + b"\xff" + good_png()[21:], "corrupt"),
        ("eps.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", "not a recognised image"),
    ],
)
def test_bad_files(tmp_path: Path, name: str, content: bytes, expected: str) -> None:
    (tmp_path / name).write_bytes(content)
    assert expected in assert_image_error(tmp_path / name)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    assert "no such file" in assert_image_error(tmp_path / "nope.png")
    assert "no such file" in assert_image_error(tmp_path / "nope" / "deeper.png")
    (tmp_path / "dir.png").mkdir()
    assert "directory" in assert_image_error(tmp_path / "dir.png")
    with pytest.raises(ImageError, match="no such file"):
        read_metadata(tmp_path / "nope.png")


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "secret.png"
    pattern().save(path)
    if os.name == "posix" and os.geteuid() != 0:
        path.chmod(0)
        try:
            assert "permission denied" in assert_image_error(path)
        finally:
            path.chmod(0o644)

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    # Root can read anything, so also simulate the failure where the module opens the file.
    monkeypatch.setattr(image_module, "open", refuse, raising=False)
    assert "permission denied" in assert_image_error(path)


# ---- writing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", SUPPORTED_WRITE_SUFFIXES)
def test_write_every_suffix(tmp_path: Path, suffix: str) -> None:
    lossy = suffix in (".jpg", ".jpeg", ".webp")
    # Lossy codecs get a smooth image (noise would be smeared by 4:2:0 WebP); lossless ones noise.
    y, x = torch.meshgrid(torch.linspace(0, 1, 16), torch.linspace(0, 1, 24), indexing="ij")
    pixels = torch.stack([x, y, (x + y) / 2]) if lossy else pil_to_tensor(pattern())
    write_image(tmp_path / f"out{suffix}", pixels)
    data = read_image(tmp_path / f"out{suffix}")
    error = (data.pixels - pixels).abs().max().item()
    assert error < (0.05 if lossy else 1e-7)
    assert [p.name for p in tmp_path.iterdir()] == [f"out{suffix}"]  # no temp files left


@pytest.mark.parametrize("suffix", [".png", ".webp", ".tif"])
def test_write_alpha(tmp_path: Path, suffix: str) -> None:
    pixels = torch.zeros(3, 8, 8)
    pixels[0] = 1
    alpha = torch.ones(1, 8, 8)
    alpha[:, :4] = 0.0
    write_image(tmp_path / f"a{suffix}", pixels, alpha=alpha)
    data = read_image(tmp_path / f"a{suffix}")
    assert data.alpha is not None and (data.alpha - alpha).abs().max() < 1 / 255 + 1e-6


@pytest.mark.parametrize("suffix", [".jpg", ".bmp"])
def test_write_alpha_without_support_composites_on_white(tmp_path: Path, suffix: str) -> None:
    pixels = torch.zeros(3, 8, 8)
    alpha = torch.ones(1, 8, 8)
    alpha[:, :4] = 0.0
    write_image(tmp_path / f"a{suffix}", pixels, alpha=alpha)
    data = read_image(tmp_path / f"a{suffix}")
    assert data.alpha is None
    assert min(rgb_at(data, 1, 1)) > 245 and max(rgb_at(data, 1, 6)) < 10


def test_write_clamps_and_accepts_batch_and_gpu_like_inputs(tmp_path: Path) -> None:
    pixels = torch.full((1, 3, 4, 4), 2.0, requires_grad=True)
    write_image(tmp_path / "a.png", pixels * 1)
    assert rgb_at(read_image(tmp_path / "a.png"), 0, 0) == WHITE


def test_metadata_round_trip(tmp_path: Path) -> None:
    meta = {"style": "starry_night.jpg", "weights": [1.0, 1e-3], "note": "ünïcode ✓", "nested": {"a": None}}
    write_image(tmp_path / "m.png", torch.rand(3, 4, 4), metadata=meta)
    assert read_metadata(tmp_path / "m.png") == meta
    write_image(tmp_path / "m16.png", torch.rand(3, 4, 4), metadata=meta, bit_depth=16)
    assert read_metadata(tmp_path / "m16.png") == meta
    write_image(tmp_path / "m.jpg", torch.rand(3, 4, 4), metadata=meta)  # silently not stored
    assert read_metadata(tmp_path / "m.jpg") is None
    write_image(tmp_path / "plain.png", torch.rand(3, 4, 4))
    assert read_metadata(tmp_path / "plain.png") is None
    (tmp_path / "text.png").write_text("not an image")
    with pytest.raises(ImageError, match="text.png"):
        read_metadata(tmp_path / "text.png")
    with pytest.raises(ImageError, match="JSON"):
        write_image(tmp_path / "bad.png", torch.rand(3, 4, 4), metadata={"x": object()})
    assert not (tmp_path / "bad.png").exists()


@pytest.mark.parametrize(
    ("name", "kwargs", "expected"),
    [
        ("out.gif", {}, ".png, .jpg"),
        ("noext", {}, "no suffix"),
        ("missing_dir/out.png", {}, "does not exist"),
        ("out.png", {"pixels": torch.rand(4, 4)}, "(3, H, W)"),
        ("out.png", {"pixels": torch.rand(1, 4, 4)}, "(3, H, W)"),
        ("out.png", {"pixels": torch.full((3, 2, 2), float("nan"))}, "NaN"),
        ("out.png", {"alpha": torch.rand(1, 3, 3)}, "alpha"),
        ("out.png", {"pixels": np.zeros((3, 2, 2))}, "torch.Tensor"),
    ],
)
def test_write_errors(tmp_path: Path, name: str, kwargs: dict, expected: str) -> None:
    pixels = kwargs.pop("pixels", torch.rand(3, 4, 4))
    with pytest.raises(ImageError) as info:
        write_image(tmp_path / name, pixels, **kwargs)
    message = str(info.value)
    assert expected in message and str(tmp_path / name) in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []


def test_write_to_directory_or_unwritable_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match="is a directory"):
        write_image(tmp_path / "dir.png", torch.rand(3, 4, 4))
    real_open = os.open

    def refuse(path, *args, **kwargs):
        if str(path).startswith(str(tmp_path)):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(ImageError, match="not writable"):
        write_image(tmp_path / "out.png", torch.rand(3, 4, 4))
    assert [p.name for p in tmp_path.iterdir()] == ["dir.png"]


def test_write_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "out.png"
    write_image(target, torch.zeros(3, 4, 4))
    before = target.read_bytes()

    def explode(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG partial data")
        raise OSError("disk full")

    monkeypatch.setattr(Image.Image, "save", explode)
    with pytest.raises(ImageError, match="disk full"):
        write_image(target, torch.ones(3, 4, 4))
    with pytest.raises(ImageError):
        write_image(tmp_path / "new.png", torch.ones(3, 4, 4))
    assert target.read_bytes() == before  # the old image is intact
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]  # no partial file, no temp file

    monkeypatch.setattr(image_module.zlib, "compressobj", lambda *a: 1 / 0)
    with pytest.raises(ImageError):
        write_image(tmp_path / "new16.png", torch.ones(3, 4, 4), bit_depth=16)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


@pytest.mark.parametrize("metadata", [None, {"a": 1}])
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_16bit_write_is_atomic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str, metadata: dict | None
) -> None:
    target = tmp_path / f"out{suffix}"
    write_image(target, torch.zeros(3, 4, 4), bit_depth=16)
    before = target.read_bytes()

    def explode(*args, **kwargs):
        fp = next(a for a in args if isinstance(a, io.IOBase))
        fp.write(b"partial data")
        raise OSError("disk full")

    monkeypatch.setattr(png.Writer, "write_packed", explode)
    monkeypatch.setattr(tifffile, "imwrite", explode)
    with pytest.raises(ImageError, match="disk full"):
        write_image(target, torch.ones(3, 4, 4), bit_depth=16, metadata=metadata)
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == [f"out{suffix}"]


def test_written_file_permissions_follow_umask(tmp_path: Path) -> None:
    if os.name != "posix":
        pytest.skip("POSIX permissions")
    old = os.umask(0o022)
    try:
        write_image(tmp_path / "a.png", torch.rand(3, 4, 4))
    finally:
        os.umask(old)
    assert (tmp_path / "a.png").stat().st_mode & 0o777 == 0o644


# ---- conversions ---------------------------------------------------------------------------------


def test_tensor_pil_conversions() -> None:
    image = pattern()
    tensor = pil_to_tensor(image)
    assert tensor.dtype == torch.float32 and tensor.shape == (3, 16, 24)
    assert np.array_equal(np.asarray(tensor_to_pil(tensor)), np.asarray(image))
    assert pil_to_tensor(image.convert("L")).shape == (3, 16, 24)
    clamped = tensor_to_pil(torch.tensor([[[-1.0]], [[0.5]], [[float("nan")]]]))
    assert clamped.mode == "RGB" and clamped.getpixel((0, 0)) == (0, 128, 0)
    rgba = tensor_to_pil(tensor, torch.full((1, 16, 24), 0.5))
    assert rgba.mode == "RGBA" and rgba.getpixel((0, 0))[3] == 128
    data = ImageData(tensor, torch.ones(1, 16, 24), 8, "x", (24, 16))
    assert data.to_pil().mode == "RGBA" and data.to_pil().size == (24, 16)


# ---- fuzzing -------------------------------------------------------------------------------------


def _samples() -> list[bytes]:
    out = []
    for fmt, mode, options in [
        ("PNG", "RGBA", {}),
        ("JPEG", "RGB", {}),
        ("GIF", "P", {}),
        ("WEBP", "RGB", {"lossless": True}),
        ("TIFF", "RGB", {"compression": "tiff_adobe_deflate"}),
        ("BMP", "RGB", {}),
    ]:
        buffer = io.BytesIO()
        pattern(20, 12).convert(mode).save(buffer, fmt, **options)
        out.append(buffer.getvalue())
    out.append(png_bytes(np.arange(12 * 20 * 3, dtype=np.uint16).reshape(12, 20, 3) * 50, 2))
    values = np.arange(12 * 20 * 4, dtype=np.uint16).reshape(12, 20, 4) * 40
    out.append(png_bytes(values, 6))  # 16-bit RGB (above), RGBA, gray+alpha: decoded again by pypng
    out.append(png_bytes(values[:, :, :2], 4, interlace=True))
    for channels in (3, 4):  # 16-bit RGB(A) TIFF: decoded again by tifffile
        buffer = io.BytesIO()
        extrasamples = ["unassalpha"] if channels == 4 else None
        tifffile.imwrite(
            buffer,
            values[:, :, :channels],
            photometric="rgb",
            extrasamples=extrasamples,
            compression="zlib",
            predictor=True,
        )
        out.append(buffer.getvalue())
    return out


SAMPLES = _samples()
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def _read_or_image_error(path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow may warn about odd data; only exceptions matter here
        try:
            data = read_image(path, max_pixels=1_000_000)
        except ImageError as exc:
            assert "\n" not in str(exc) and str(path) in str(exc)
            return
    check_valid(data)


@FUZZ
@given(content=st.binary(min_size=1, max_size=2000))
def test_fuzz_random_bytes(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "random.img"
    path.write_bytes(content)
    _read_or_image_error(path)


@FUZZ
@given(
    sample=st.sampled_from(range(len(SAMPLES))),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(1, 255)), max_size=4),
)
def test_fuzz_damaged_images(tmp_path: Path, sample: int, cut: float, flips: list[tuple[float, int]]) -> None:
    content = bytearray(SAMPLES[sample])
    content = content[: max(1, int(len(content) * cut))] if cut < 0.95 else content
    for where, xor in flips:
        content[int(where * (len(content) - 1))] ^= xor
    path = tmp_path / "damaged.img"
    path.write_bytes(bytes(content))
    _read_or_image_error(path)
