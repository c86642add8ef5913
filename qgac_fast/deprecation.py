"""Names that moved or were renamed: each keeps working for one release and warns where it is used.

* :func:`moved_names`: a module-level ``__getattr__`` (PEP 562) for names that now live in
  another module; an old module sets ``__getattr__ = moved_names(__name__, {...})``.
* :func:`renamed_argument`: the value of a keyword argument given under its old name.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable
from typing import Any

__all__ = ["moved_names", "renamed_argument", "warn_deprecated"]


def warn_deprecated(old: str, new: str, *, stacklevel: int = 3) -> None:
    """Warn that ``old`` is deprecated in favour of ``new`` (a ``DeprecationWarning``, attributed
    ``stacklevel`` frames up: 3 is the caller of the function that calls this one)."""
    warnings.warn(f"{old} is deprecated and will be removed in the next release; use {new}",
                  DeprecationWarning, stacklevel=stacklevel)


def moved_names(module: str, moved: dict[str, str]) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` for ``module`` (its ``__name__``) that serves each name of
    ``moved`` from where it lives now (``moved[name]``: a dotted path, module then name, e.g.
    ``"qgac_fast.cli.run"``), with a ``DeprecationWarning`` naming the new place.

    Raises (from the returned function):
        AttributeError: a name that is neither in the module nor in ``moved``.
    """

    def __getattr__(name: str) -> Any:
        if name not in moved:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        warn_deprecated(f"{module}.{name}", moved[name])
        where, new = moved[name].rsplit(".", 1)
        return getattr(importlib.import_module(where), new)

    return __getattr__


def renamed_argument(old: str, old_value: Any, new: str, new_value: Any, default: Any, *,
                     stacklevel: int = 2) -> Any:
    """The value of keyword argument ``new`` when the caller may have used its old name ``old``:
    ``new_value`` if ``old_value`` is None (the old name not used), else ``old_value``, with a
    ``DeprecationWarning`` attributed ``stacklevel`` frames up from the function that calls this
    one (2: its caller, who passed ``old``).

    Raises:
        TypeError: both names given (``new_value`` is not ``default``).
    """
    if old_value is None:
        return new_value
    if new_value != default:
        raise TypeError(f"got both {old}= and {new}=; {old}= is the deprecated name of {new}=: give {new}= only")
    warn_deprecated(f"{old}=", f"{new}=", stacklevel=stacklevel + 2)
    return old_value
