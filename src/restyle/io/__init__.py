"""Image input/output: see :mod:`restyle.io.image` (and :mod:`restyle.io.files` for atomic writes)."""

from restyle.io.image import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    SUPPORTED_WRITE_SUFFIXES,
    ImageData,
    fit_size,
    pil_to_tensor,
    read_image,
    read_metadata,
    tensor_to_pil,
    write_image,
)

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
