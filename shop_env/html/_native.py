"""The optional C accelerator of the simplifier (``_speedups.c``), or None.

Built by ``pip install`` when a C compiler is at hand; every function in it has a Python
reference in this package that it must match exactly (tests compare the two). Set
``SHOP_R1_PURE_PYTHON=1`` to run the Python references instead.
"""
from __future__ import annotations

import os
from types import ModuleType


def _load() -> ModuleType | None:
    if os.environ.get("SHOP_R1_PURE_PYTHON", "").strip() not in ("", "0"):
        return None
    try:
        from shop_env.html import _speedups
    except ImportError:
        return None
    return _speedups


speedups: ModuleType | None = _load()
