"""A static batch: `batch` identical requests of `input` prompt tokens producing `output` tokens."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import require


@dataclass(frozen=True)
class Workload:
    batch: object = 1
    input: object = 1024
    output: object = 256

    def __post_init__(self):
        for name in ("batch", "input", "output"):
            value = np.asarray(getattr(self, name))
            require(np.issubdtype(value.dtype, np.number) and bool(np.all(value >= 1)), name,
                    getattr(self, name), "must be a number >= 1")
