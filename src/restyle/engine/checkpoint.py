"""Checkpoints of a run in progress: enough to continue to the same result as an uninterrupted run."""

from __future__ import annotations

import io
import os
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from restyle.errors import RestyleError
from restyle.io.files import atomic_write_bytes

FORMAT_VERSION = 1


class CheckpointError(RestyleError):
    """A checkpoint file is missing, corrupt or from an incompatible version."""


@dataclass
class Checkpoint:
    """State between two steps of :meth:`Stylizer.run`.

    Holds the input images as loaded (so a resume does not depend on the files still being
    there), the current iterate, the optimiser state and where in the pyramid the run is.
    """

    config: dict[str, Any]
    content: torch.Tensor  #: (3, H, W) content pixels as loaded
    styles: list[torch.Tensor]  #: style pixels as loaded
    scale: int  #: pyramid scale index the run is in
    scale_step: int  #: steps done within that scale
    step: int  #: steps done in total
    pixels: torch.Tensor  #: (1, 3, h, w) current iterate
    optimizer: dict[str, Any]  #: optimiser state_dict
    lr: float
    elapsed: float
    history: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    alpha: torch.Tensor | None = None  #: (1, H, W) alpha of the content image, if kept
    output: str | None = None  #: where the CLI writes the final image (for `restyle resume`)
    masks: list[torch.Tensor] = field(default_factory=list)  #: region masks as loaded
    mask_styles: list[torch.Tensor | None] = field(default_factory=list)  #: their paintings (None: keep)
    average: dict[str, Any] | None = None  #: the iterate's moving average (``--ema``), IterateAverage.state_dict
    style_weight: float | None = None  #: the style weight in use (calibrated from ``strength``, or as given)
    calibration: dict[str, Any] | None = None  #: the strength calibration's record, if one ran
    #: the precision the run computed in (``precision=auto`` resolved): a resume keeps it on any machine
    precision: str | None = None
    version: int = FORMAT_VERSION


def save_checkpoint(checkpoint: Checkpoint, path: str | os.PathLike) -> None:
    """Write ``checkpoint`` atomically (temp file + rename): a crash never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(asdict(checkpoint), buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; CheckpointError if unusable."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {str(path)!r} does not exist") from None
    except IsADirectoryError:
        raise CheckpointError(f"checkpoint {str(path)!r} is a directory") from None
    except Exception as e:  # torch raises many types for corrupt files
        raise CheckpointError(
            f"checkpoint {str(path)!r} is not a readable restyle checkpoint ({type(e).__name__})"
        ) from None
    if not isinstance(data, dict) or data.get("version") != FORMAT_VERSION:
        raise CheckpointError(f"checkpoint {str(path)!r} is not a restyle checkpoint of version {FORMAT_VERSION}")
    try:
        return Checkpoint(**data)
    except TypeError:
        raise CheckpointError(f"checkpoint {str(path)!r} is missing fields; written by another version?") from None
