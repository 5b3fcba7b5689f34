"""restyle: neural style transfer (Gatys, Ecker & Bethge) with real VGG weights, offline.

>>> import restyle
>>> image = restyle.stylize("photo.jpg", "painting.jpg", restyle.RunConfig(size=256))  # doctest: +SKIP
"""

from restyle.config import RunConfig
from restyle.engine.events import Iterate
from restyle.engine.stylize import Stylizer, StylizeResult, stylize
from restyle.errors import ConfigError, ImageError, RestyleError, WeightsError

__all__ = [
    "ConfigError",
    "ImageError",
    "Iterate",
    "RestyleError",
    "RunConfig",
    "StylizeResult",
    "Stylizer",
    "WeightsError",
    "stylize",
]
__version__ = "0.1.0"
