"""Public names that moved: their old modules keep them for one release, with a warning.

An old module sets ``__getattr__ = moved_names(__name__, {name: "new.module.name"})`` and holds
nothing else; reading a name from it imports the new module and warns with a
``DeprecationWarning`` that says where the name lives now.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable

__all__ = ["moved_names"]


def moved_names(old: str, moved: dict[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` (PEP 562) for the module ``old``, whose names ``moved`` maps to
    their dotted paths now (``"qgac_fast.cli.run"``: module, then name); any other name raises
    ``AttributeError``."""
    def __getattr__(name: str) -> object:
        if name not in moved:
            raise AttributeError(f"module {old!r} has no attribute {name!r}")
        module, new = moved[name].rsplit(".", 1)
        warnings.warn(f"{old}.{name} moved to {moved[name]}; the old name goes in the next release",
                      DeprecationWarning, stacklevel=2)
        return getattr(importlib.import_module(module), new)
    return __getattr__
