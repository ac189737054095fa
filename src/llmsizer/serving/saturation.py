"""The saturation rate: the largest request rate whose queue stays bounded, found by bisection.

A run at rate r is sustained when, at its last arrival, fewer than QUEUE_SHARE of its requests are
still waiting to start: below saturation the queue hovers around a small length whatever the
run's length, above it the queue grows by (r - capacity) x time and holds a fixed share of the
requests. The search starts from the throughput of the same requests sent all at once (what the
engine reaches saturated), brackets it and halves the bracket until it is narrower than `tolerance`
(relative).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: share of a run's requests still waiting at its last arrival above which the queue is unbounded
QUEUE_SHARE = 0.05


def waiting_at_last_arrival(result) -> int:
    """Requests arrived but not started (queued, or preempted and waiting) at the last arrival."""
    steps = result.steps_frame()
    last = float(np.nanmax(result.requests.arrival))
    before = steps[steps["start"] <= last]
    if before.empty:
        return 0
    return int(before.groupby("replica")["waiting"].last().sum())


def sustained(result) -> bool:
    return waiting_at_last_arrival(result) < QUEUE_SHARE * len(result.requests)


@dataclass(frozen=True)
class Saturation:
    rate: float            # requests/s: the largest sustained rate found
    offline_rate: float    # requests/s of the same requests sent at once
    runs: int


def saturation_rate(run_at, offline, tolerance: float = 0.02, max_runs: int = 16) -> Saturation:
    """Bisect `run_at(rate) -> SimulationResult` between brackets around `offline()`'s request rate."""
    capacity = offline().summary["request_throughput_per_s"]
    low, high, runs = 0.5 * capacity, 1.2 * capacity, 1
    while sustained(run_at(high)) and runs < max_runs:  # widen until the top is clearly unsustained
        low, high, runs = high, 1.5 * high, runs + 1
    while not sustained(run_at(low)) and runs < max_runs:
        low, high, runs = 0.5 * low, low, runs + 1
    while high - low > tolerance * high and runs < max_runs:
        mid = 0.5 * (low + high)
        runs += 1
        if sustained(run_at(mid)):
            low = mid
        else:
            high = mid
    return Saturation(low, capacity, runs)
