"""Independent random streams keyed by purpose, so one change does not reshuffle the rest.

``rng_for(seed, "camera", 3)`` is the same stream whatever the number of
people or the settings of other cameras; every sampler draws from its own key.
"""
from __future__ import annotations

import zlib

import numpy as np


def rng_for(seed: int, purpose: str, *keys: int) -> np.random.Generator:
    """A generator seeded by ``(seed, purpose, *keys)`` through numpy's SeedSequence."""
    return np.random.default_rng([int(seed), zlib.crc32(purpose.encode()), *(int(k) for k in keys)])
