"""Stable 64-bit hashes of ids and the seeded hash that assigns sessions to splits."""
from __future__ import annotations

import hashlib

import numpy as np


def stable_hash(text: str | None) -> int:
    """64-bit hash that is the same on every run and machine (0 for ``None``)."""
    if text is None:
        return 0
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def unit_interval(keys: np.ndarray, seed: int) -> np.ndarray:
    """SplitMix64 of (key xor seed) mapped to [0, 1): a seeded, vectorised hash."""
    with np.errstate(over="ignore"):
        z = keys.astype(np.uint64) ^ np.uint64((seed * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF)
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
