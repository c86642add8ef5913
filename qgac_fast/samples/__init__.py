"""The photos bundled with qgac_fast, by name, wherever the package is installed (licences: ``NOTICE``).

>>> from qgac_fast import samples
>>> samples.names()
['astronaut', 'chelsea']
>>> samples.path("chelsea").endswith("chelsea.png")
True
"""

from __future__ import annotations

import os

__all__ = ["names", "path"]

_FOLDER = os.path.dirname(os.path.abspath(__file__))


def names() -> list[str]:
    """The bundled samples' names (their file names without ``.png``), sorted."""
    return sorted(name[:-4] for name in os.listdir(_FOLDER) if name.endswith(".png"))


def path(name: str) -> str:
    """The path of the bundled sample ``name`` (``"astronaut"``, 512x512 RGB; ``"chelsea"``,
    451x300 RGB), a PNG file in the installed package.

    Raises:
        ValueError: no sample of that name (the message lists them).
    """
    if name not in names():
        raise ValueError(f"no bundled sample named {name!r}; the samples are {', '.join(names())}")
    return os.path.join(_FOLDER, f"{name}.png")
