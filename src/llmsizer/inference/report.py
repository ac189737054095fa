"""Per-operator breakdown of an estimate (plain rows, or a pandas DataFrame), and a per-block summary.

The rows and the block times need no pandas, so a command that prints them starts quickly."""

from __future__ import annotations

import numpy as np

from ..arrays import first
from ..units import MS


def breakdown_rows(est) -> list[dict]:
    """One row per operator and phase: work, time, share of the step, bound and utilisation."""
    acc = est.scenario.system.accelerator
    rows = []
    for phase_name, phase in (("prefill", est.prefill), ("decode", est.decode)):
        # decode is shown as its mean step over the contexts; prefill has no context axis to average
        mean = est.mean_over_contexts if phase_name == "decode" else (lambda values: values)
        step = first(mean(phase.time))
        for c in phase.costs:
            op = c.op
            time = first(mean(c.total))
            per_instance = first(mean(c.time))
            flops = first(mean(op.flops)) * op.count
            moved = first(mean(op.bytes)) * op.count
            rows.append({
                "phase": phase_name,
                "operator": op.name,
                "block": op.block,
                "kind": op.kind,
                "count": op.count,
                "gflop": flops / 1e9,
                "mbytes": moved / 1e6,
                "message_mb": first(op.message_bytes) * op.count / 1e6,
                "time_ms": time / MS,
                "share": time / step,
                "bound": str(np.asarray(c.bound).reshape(-1)[0]),
                "algorithm": str(np.asarray(c.algorithm.labels).reshape(-1)[0]) if c.algorithm is not None else "",
                "compute_util": (flops / op.count / acc.peak(op.precision) / per_instance)
                if op.kind in ("matmul", "expert_matmul", "attention") else 0.0,
                "memory_util": moved / op.count / acc.memory_bandwidth / per_instance,
            })
        host = first(mean(phase.step_overhead_s))  # the engine's host work: per step, sequence and worker, launches
        rows.append({"phase": phase_name, "operator": "engine_step", "block": "overhead", "kind": "overhead",
                     "count": 1, "gflop": 0.0, "mbytes": 0.0, "message_mb": 0.0,
                     "time_ms": host / MS, "share": host / step,
                     "bound": "overhead", "algorithm": "", "compute_util": 0.0, "memory_util": 0.0})
    return rows


def breakdown_frame(est):
    """`breakdown_rows` as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(breakdown_rows(est))


def block_times(rows) -> list[tuple[str, str, float]]:
    """(phase, block, ms) per phase and block (attention, feed-forward, communication, overhead,
    ...) in the order they first appear, from breakdown rows."""
    totals: dict[tuple[str, str], float] = {}
    for row in rows:
        key = (row["phase"], row["block"])
        totals[key] = totals.get(key, 0.0) + row["time_ms"]
    return [(phase, block, ms) for (phase, block), ms in totals.items()]


def block_summary(frame):
    """`block_times` of a breakdown DataFrame, as a DataFrame."""
    import pandas as pd

    return pd.DataFrame(block_times(frame.to_dict("records")), columns=["phase", "block", "time_ms"])
