"""Load on the engine: how requests arrive and how long they are, drawn from one seed.

Arrivals, as benchmark clients send them:
- `rate`: open loop at `rate` requests/s; gaps are exponential (Poisson) or, with `arrival` gamma,
  gamma-distributed with shape `burstiness` and the same mean (below 1: burstier), as
  `vllm bench serve --burstiness` draws them;
- `concurrency`: closed loop, `concurrency` clients each sending its next request the moment its
  previous answer is complete (GenAI-Perf's concurrency mode, `vllm bench serve --max-concurrency`
  with an unbounded rate);
- `offline`: every request at time 0.
Lengths: `fixed`, or `uniform`, `normal` or `lognormal` around `input` and `output` with coefficient of
variation `spread` (uniform: over mean x (1 +- spread x sqrt 3), which has that spread), rounded to
whole tokens and at least 1. A share of requests may start with one of `prefix_groups` shared
prefixes of `prefix_tokens` tokens (a system prompt), which a prefix cache can hold.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import require
from .requests import Requests

ARRIVALS = ("poisson", "gamma")
LENGTHS = ("fixed", "uniform", "normal", "lognormal")


@dataclass(frozen=True)
class Load:
    requests: int = 1000
    rate: float | None = None
    concurrency: int | None = None
    offline: bool = False
    arrival: str = "poisson"
    burstiness: float = 1.0
    input: int = 1024
    output: int = 256
    lengths: str = "fixed"
    spread: float = 0.5
    prefix_tokens: int = 0
    prefix_groups: int = 1
    seed: int = 0

    def __post_init__(self):
        modes = (self.rate is not None) + (self.concurrency is not None) + bool(self.offline)
        require(modes == 1, "load", (self.rate, self.concurrency, self.offline),
                "give exactly one of a rate, a concurrency or offline")
        require(self.requests >= 1, "requests", self.requests, "must be >= 1")
        require(self.rate is None or self.rate > 0, "rate", self.rate, "must be > 0 requests/s")
        require(self.concurrency is None or self.concurrency >= 1, "concurrency", self.concurrency, "must be >= 1")
        require(self.arrival in ARRIVALS, "arrival", self.arrival, f"must be one of {', '.join(ARRIVALS)}")
        require(self.burstiness > 0, "burstiness", self.burstiness, "must be > 0")
        require(self.lengths in LENGTHS, "lengths", self.lengths, f"must be one of {', '.join(LENGTHS)}")
        require(self.input >= 1 and self.output >= 1, "input/output", (self.input, self.output), "must be >= 1")
        require(self.spread >= 0, "spread", self.spread, "must be >= 0")
        require(0 <= self.prefix_tokens < self.input or self.prefix_tokens == 0, "prefix_tokens", self.prefix_tokens,
                "must be below the mean prompt length")
        require(self.prefix_groups >= 1, "prefix_groups", self.prefix_groups, "must be >= 1")


def draw_lengths(kind: str, mean: float, spread: float, count: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "fixed" or spread == 0:
        values = np.full(count, float(mean))
    elif kind == "uniform":
        half = mean * spread * np.sqrt(3.0)
        values = rng.uniform(mean - half, mean + half, count)
    elif kind == "normal":
        values = rng.normal(mean, spread * mean, count)
    else:
        sigma2 = np.log1p(spread**2)
        values = rng.lognormal(np.log(mean) - sigma2 / 2, np.sqrt(sigma2), count)
    return np.maximum(np.rint(values), 1).astype(int)


def arrival_times(load: Load, rng: np.random.Generator) -> np.ndarray:
    n = load.requests
    if load.offline:
        return np.zeros(n)
    if load.concurrency is not None:
        times = np.full(n, np.nan)
        times[:load.concurrency] = 0.0  # the first answer of each client sends its next request
        return times
    if load.arrival == "gamma":
        gaps = rng.gamma(load.burstiness, 1.0 / (load.rate * load.burstiness), n)
    else:
        gaps = rng.exponential(1.0 / load.rate, n)
    gaps[0] = 0.0
    return np.cumsum(gaps)


def make_requests(load: Load) -> Requests:
    """The requests of `load`, the same for the same seed."""
    rng = np.random.default_rng(load.seed)
    arrival = arrival_times(load, rng)
    prompt = draw_lengths(load.lengths, load.input, load.spread, load.requests, rng)
    output = draw_lengths(load.lengths, load.output, load.spread, load.requests, rng)
    if load.prefix_tokens:
        group = rng.integers(0, load.prefix_groups, load.requests)
        prompt = np.maximum(prompt, load.prefix_tokens + 1)
        prefix = np.full(load.requests, load.prefix_tokens)
    else:
        group, prefix = None, None
    return Requests(arrival, prompt, output, group, prefix)
