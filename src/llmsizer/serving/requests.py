"""The requests of a run and what happens to each: arrival, lengths, shared prefix, first token, finish.

Lengths and arrivals are fixed before the run (closed-loop arrivals are filled in as clients get
their answers); the outcome columns are filled by the engines. Plain Python lists, because the
engine loop reads and writes single entries far more often than whole columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import require


@dataclass
class Requests:
    """`arrival` in seconds (NaN: sent by a closed-loop client when its previous answer is in);
    `prefix_group` names the shared prompt prefix of `prefix_tokens` tokens a request starts with
    (-1: none)."""

    arrival: list
    prompt: list
    output: list
    prefix_group: list = field(default=None)
    prefix_tokens: list = field(default=None)

    def __post_init__(self):
        n = len(self.prompt)
        self.prefix_group = list(self.prefix_group) if self.prefix_group is not None else [-1] * n
        self.prefix_tokens = list(self.prefix_tokens) if self.prefix_tokens is not None else [0] * n
        self.arrival = [float(a) for a in self.arrival]
        self.prompt = [int(p) for p in self.prompt]
        self.output = [int(o) for o in self.output]
        require(len(self.arrival) == n == len(self.output) == len(self.prefix_group) == len(self.prefix_tokens),
                "requests", n, "every column needs one value per request")
        require(n > 0, "requests", n, "a run needs at least one request")
        require(min(self.prompt) >= 1 and min(self.output) >= 1, "lengths", (min(self.prompt), min(self.output)),
                "prompt and output lengths must be >= 1 token")
        require(all(math.isnan(a) or a >= 0 for a in self.arrival), "arrival", min(self.arrival),
                "arrival times must be >= 0 seconds")
        nothing = [math.nan] * n
        self.first_token = list(nothing)   # time the first output token is out
        self.finish = list(nothing)        # time the last output token is out
        self.preemptions = [0] * n
        self.replica = [-1] * n

    def __len__(self) -> int:
        return len(self.prompt)

    @property
    def closed_loop(self) -> bool:
        return any(math.isnan(a) for a in self.arrival)

    def columns(self) -> dict:
        """Every column as a numpy array."""
        names = ("arrival", "prompt", "output", "prefix_group", "prefix_tokens", "first_token", "finish",
                 "preemptions", "replica")
        return {name: np.asarray(getattr(self, name)) for name in names}
