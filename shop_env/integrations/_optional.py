"""Optional dependencies: import them on first use, or fail with the pip command that installs them."""
from __future__ import annotations

import importlib
from types import ModuleType

from shop_env.errors import MissingExtraError

__all__ = ["require"]


def require(package: str, extra: str) -> ModuleType:
    """Import and return ``package``; raise :class:`MissingExtraError` naming ``pip install 'shop-r1[extra]'``.

    ``package`` is an importable module name (``"sb3_contrib"``, ``"trl"``, ``"datasets"``);
    ``extra`` the name of the optional-dependency group in ``pyproject.toml`` that provides it.
    """
    try:
        return importlib.import_module(package)
    except ImportError as e:  # also raised when sys.modules[package] is None
        raise MissingExtraError(package, extra) from e
