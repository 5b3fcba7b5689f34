"""Exceptions raised for bad input. Each carries one clear line for the user."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class RestyleError(Exception):
    """Base class: a problem with the user's input or environment, not a bug.

    The CLI prints ``str(error)`` on one line and exits with code 2.
    """


class ConfigError(RestyleError, ValueError):
    """A run setting is invalid (unknown layer, negative weight, bad size, ...)."""


class ImageError(RestyleError):
    """An image could not be read or written."""


class WeightsError(RestyleError):
    """Model weights are missing, corrupt, of an unknown format or fail verification."""


class NumericalError(RestyleError, FloatingPointError):
    """The optimisation diverged (NaN/inf loss) and retrying with smaller steps did not help."""


def suggest(value: str, choices: Iterable[str], n: int = 3) -> str:
    """Return ``" (did you mean: a, b?)"`` for the closest ``choices``, or ``""``."""
    close = difflib.get_close_matches(value, list(choices), n=n, cutoff=0.5)
    return f" (did you mean: {', '.join(close)}?)" if close else ""
