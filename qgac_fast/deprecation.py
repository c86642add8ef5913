"""Names that moved or were renamed: each keeps working for one release and warns where it is used.

* :func:`moved_names`: a module-level ``__getattr__`` (PEP 562) for names that now live in
  another module.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["moved_names", "warn_deprecated"]


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (a ``DeprecationWarning``, attributed
    ``stacklevel`` frames up: 3 is the caller of the function that calls this one)."""
    warnings.warn(f"{old} is deprecated and will be removed in the next release; use {new}",
                  DeprecationWarning, stacklevel=stacklevel)


def moved_names(module: str, moves: dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``module`` (its ``__name__``) that serves each name of
    ``moves`` from the module it moved to (``moves[name]``, a dotted module path), with a
    ``DeprecationWarning`` naming the new place.

    Raises (from the returned function):
        AttributeError: a name that is neither in the module nor in ``moves``.
    """

    def __getattr__(name: str) -> Any:
        if name not in moves:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn_deprecated(f"{module}.{name}", f"{moves[name]}.{name}")
        return getattr(importlib.import_module(moves[name]), name)

    return __getattr__
