"""Collective times on a system's network: latency terms plus bytes over link bandwidth.

A group of `n` devices uses the innermost network dimensions that hold it; its bandwidth is the
slowest of them, its hop latency the sum. On a fully connected dimension a group smaller than the
dimension only uses its share of each device's links, (n - 1) / (size - 1).
Ring algorithms: an all-reduce moves 2 (n-1)/n of the message per device in 2 (n-1) steps, an
all-gather (n-1)/n of the gathered message in n-1 steps.
"""

from __future__ import annotations

import numpy as np

from ..hardware.spec import System


def group_link(system: System, n: int) -> tuple[float, float]:
    """(bandwidth per device per direction, per-hop latency) seen by a group of `n` devices."""
    bandwidth, latency, covered = np.inf, 0.0, 1
    for dim in system.network:
        if covered >= n:
            break
        used = min(dim.size, -(-n // covered))
        share = (used - 1) / (dim.size - 1) if dim.topology == "fully_connected" and dim.size > 1 else 1.0
        bandwidth = min(bandwidth, dim.bandwidth * share)
        latency += dim.latency
        covered *= dim.size
    if covered < n:
        raise ValueError(f"a group of {n} devices does not fit {system.name} ({covered} devices)")
    return bandwidth, latency


def collective_time(kind: str, message_bytes, n: int, system: System, link_efficiency: float,
                    overhead_s: float):
    """Seconds for one collective of `message_bytes` (the full tensor) over `n` devices."""
    message_bytes = np.asarray(message_bytes, dtype=float)
    if n <= 1:
        return np.zeros_like(message_bytes)
    bandwidth, latency = group_link(system, n)
    bandwidth *= link_efficiency
    if kind == "all_reduce":
        steps, volume = 2 * (n - 1), 2 * (n - 1) / n * message_bytes
    elif kind == "all_gather":
        steps, volume = n - 1, (n - 1) / n * message_bytes
    elif kind == "p2p":
        steps, volume = 1, message_bytes
    else:
        raise ValueError(f"unknown collective {kind!r}")
    return overhead_s + steps * latency + volume / bandwidth
