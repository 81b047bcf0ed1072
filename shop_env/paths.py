"""Where the embedded sample data lives."""
from __future__ import annotations

import os
from pathlib import Path

SAMPLE_ENV_VAR = "SHOP_R1_SAMPLE_DIR"


def repo_root() -> Path:
    """The source checkout this package was imported from (editable installs)."""
    return Path(__file__).resolve().parent.parent


def sample_data_dir() -> Path:
    """The embedded synthetic sample (``data/sample`` with ``train/`` and ``test/`` stores).

    ``$SHOP_R1_SAMPLE_DIR`` overrides the location (for non-editable installs).
    """
    override = os.environ.get(SAMPLE_ENV_VAR)
    if override:
        return Path(override)
    return repo_root() / "data" / "sample"
