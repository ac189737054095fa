"""A static batch: `batch` identical requests of `input` prompt tokens producing `output` tokens."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import require


@dataclass(frozen=True)
class Workload:
    """`samples` sequences per request (parallel sampling or beams) share the prompt's KV cache;
    `cached_prefix` prompt tokens are already in a prefix cache and skip their prefill."""

    batch: object = 1
    input: object = 1024
    output: object = 256
    samples: int = 1
    cached_prefix: object = 0

    def __post_init__(self):
        for name in ("batch", "input", "output", "samples"):
            value = np.asarray(getattr(self, name))
            require(np.issubdtype(value.dtype, np.number) and bool(np.all(value >= 1)), name,
                    getattr(self, name), "must be a number >= 1")
        prefix = np.asarray(self.cached_prefix)
        require(bool(np.all((prefix >= 0) & (prefix < np.asarray(self.input)))), "cached_prefix", self.cached_prefix,
                "must be >= 0 and leave at least the last prompt token to prefill")
