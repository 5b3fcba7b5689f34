"""Image input/output: see :mod:`restyle.io.image`."""

from restyle.io.image import (
    DEFAULT_MAX_PIXELS,
    MAX_PIXELS_ENV,
    SUPPORTED_WRITE_SUFFIXES,
    ImageData,
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
    "pil_to_tensor",
    "read_image",
    "read_metadata",
    "tensor_to_pil",
    "write_image",
]
