"""A new job's request: the two images (sniffed by content, limited in bytes and pixels) and its JSON fields.

The checks run in this order, each with its status: a missing file or a bad JSON field (400), a file over
the byte limit (413), then -- in the route, after the settings are checked (422) -- the images' content
(:func:`sniff`: 415 not an image or another format, 413 too many pixels, 400 empty or corrupt).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from PIL import Image, UnidentifiedImageError
from starlette.datastructures import FormData, UploadFile

from restyle.web.schema import Limits

__all__ = ["FORMATS", "IMAGE_FIELDS", "MEDIA", "Submission", "Upload", "read_submission", "sniff"]

#: Formats accepted (Pillow's names) and the file suffix each upload is stored under.
FORMATS = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "TIFF": ".tif", "BMP": ".bmp", "GIF": ".gif"}
MEDIA = {".png": "image/png", ".jpg": "image/jpeg", ".webp": "image/webp", ".tif": "image/tiff"}
MEDIA |= {".bmp": "image/bmp", ".gif": "image/gif"}
#: The image fields of a new job, in the order they are read and checked.
IMAGE_FIELDS = ("content", "style")


@dataclass(frozen=True)
class Upload:
    """One uploaded image as received (not yet sniffed)."""

    filename: str  #: the client's file name, shortened: shown on the page, never used as a path
    data: bytes


@dataclass(frozen=True)
class Submission:
    """The parts of ``POST /api/jobs``: the images by field, the settings, and the sweep's axes if any."""

    uploads: dict[str, Upload]
    overrides: Any  #: the ``config`` field's JSON (checked later by :func:`~restyle.web.schema.web_config`)
    sweep: Any | None  #: the ``sweep`` field's JSON, None without one


def _json_field(form: FormData, name: str, *, blank: Any, strip: bool) -> Any:
    """A JSON text field; ``blank`` when missing or empty (with ``strip``: also when only whitespace)."""
    raw = form.get(name) or ""
    if not isinstance(raw, str):
        raise HTTPException(400, f"{name} must be a JSON text field")
    if not (raw.strip() if strip else raw):
        return blank
    try:
        return json.loads(raw)
    except json.JSONDecodeError as e:
        raise HTTPException(400, f"{name} is not valid JSON: {e}") from None


async def _read_image(form: FormData, name: str, limits: Limits) -> Upload:
    item = form.get(name)
    if not isinstance(item, UploadFile):
        raise HTTPException(400, f"{name}: an image file is required (multipart field {name!r})")
    data = await item.read(limits.max_upload_bytes + 1)
    if len(data) > limits.max_upload_bytes:
        raise HTTPException(413, f"{name}: larger than this server's limit of {limits.max_upload_bytes / 1e6:g} MB")
    return Upload(Path(item.filename or name).name[:100], data)


async def read_submission(request: Request, limits: Limits) -> Submission:
    """The multipart form of a new job: both images (400 if missing, 413 over the byte limit) and the JSON
    fields ``config`` (default ``{}``) and ``sweep`` (optional); 400 for a field that is not JSON text."""
    form = await request.form(max_files=2, max_fields=3, max_part_size=1_000_000)
    uploads = {name: await _read_image(form, name, limits) for name in IMAGE_FIELDS}
    overrides = _json_field(form, "config", blank={}, strip=False)
    sweep = _json_field(form, "sweep", blank=None, strip=True)
    return Submission(uploads, overrides, sweep)


def sniff(name: str, data: bytes, limits: Limits) -> str:
    """The stored suffix of an uploaded image; HTTPException 415/413/400 naming the upload."""
    if not data:
        raise HTTPException(400, f"{name}: the file is empty")
    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt = im.format or ""
            width, height = im.size
            if fmt not in FORMATS:
                raise HTTPException(
                    415, f"{name}: {fmt} images are not accepted; use PNG, JPEG, WebP, TIFF, BMP or GIF"
                )
            if width * height > limits.max_input_pixels:
                raise HTTPException(
                    413,
                    f"{name}: {width}x{height} is {width * height / 1e6:.1f} megapixels; this server accepts at most "
                    f"{limits.max_input_pixels / 1e6:g}",
                )
            im.load()
    except UnidentifiedImageError:
        raise HTTPException(415, f"{name}: not an image (PNG, JPEG, WebP, TIFF, BMP or GIF expected)") from None
    except Image.DecompressionBombError:
        raise HTTPException(413, f"{name}: the image has too many pixels") from None
    except HTTPException:
        raise
    except Exception as e:  # truncated or corrupt data: Pillow raises OSError, SyntaxError, ValueError...
        raise HTTPException(400, f"{name}: the image is corrupt or truncated ({type(e).__name__})") from None
    return FORMATS[fmt]
