"""A static batch: `batch` identical requests of `input` prompt tokens producing `output` tokens."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import require
from .fields import WORKLOAD_OPTIONS, checked


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
        for name, spec in WORKLOAD_OPTIONS.items():
            object.__setattr__(self, name, checked(name, getattr(self, name), spec.metadata))
        prefix = np.asarray(self.cached_prefix)
        require(bool(np.all(prefix < np.asarray(self.input))), "cached_prefix", self.cached_prefix,
                "must leave at least the last prompt token to prefill (less than input)")
