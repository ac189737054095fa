"""Load studies on the simulator: sweeps over rate or concurrency, and the most load that meets
percentile SLOs ("most requests/s per device with p99 TTFT <= 500 ms").

Limits name summary statistics (`ttft_ms_p99`, `itl_ms_p90`, `e2e_latency_ms_mean`, ...) and an
upper bound each. Latency statistics grow with load, so the largest load meeting every limit is
found by bisection: on the rate (to 2%) or on the concurrency (to one client). A rate must also be
sustained (saturation.py): a short run above saturation can meet a latency limit only because its
queue has not had time to grow.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import require
from .metrics import METRICS, PERCENTILES
from .saturation import sustained
from .simulate import simulate

LIMIT_KEYS = {f"{m}_ms_{s}" for m in METRICS for s in ("mean", *(f"p{p}" for p in PERCENTILES))}


def load_sweep(model=None, hardware=None, *, rates=(), concurrencies=(), **options):
    """One row per load point (each rate, then each concurrency) with the run's summary."""
    import pandas as pd

    rows = [{"rate": r, **simulate(model, hardware, rate=r, record=False, **options).summary} for r in rates]
    rows += [{"concurrency": c, **simulate(model, hardware, concurrency=c, record=False, **options).summary}
             for c in concurrencies]
    return pd.DataFrame(rows)


def parse_limits(texts) -> dict:
    """{"ttft_ms_p99": 500.0} from ["ttft_ms_p99=500"]."""
    limits = {}
    for text in texts:
        key, _, value = str(text).partition("=")
        key = key.strip()
        require(key in LIMIT_KEYS and value.strip(), "limit", text,
                f"must be STAT=MS with STAT one of {', '.join(sorted(LIMIT_KEYS))}")
        limits[key] = float(value)
    return limits


def meets(summary: dict, limits: dict) -> bool:
    return summary["completed"] == summary["requests"] and all(summary[k] <= v for k, v in limits.items())


@dataclass(frozen=True)
class Capacity:
    load: float            # requests/s, or concurrent clients
    per_device: float      # the same over every device serving (both pools when disaggregated)
    summary: dict | None   # the run at that load (None when even the lightest load misses)
    runs: int


def max_rate(model=None, hardware=None, *, limits: dict, tolerance: float = 0.02, max_runs: int = 16,
             **options) -> Capacity:
    """The largest Poisson rate whose run meets every limit."""
    require(bool(limits), "limits", limits, "give at least one limit")
    run = lambda rate: simulate(model, hardware, rate=rate, **options)  # noqa: E731
    offline = simulate(model, hardware, offline=True, record=False, **options)
    low, high, runs, best = 0.0, 1.5 * offline.summary["request_throughput_per_s"], 1, None
    while high - low > tolerance * high and runs < max_runs:
        mid = 0.5 * (low + high) if low else 0.5 * high
        result = run(mid)
        runs += 1
        if meets(result.summary, limits) and sustained(result):
            low, best = mid, result
        else:
            high = mid
    return Capacity(low, low / offline.devices, best.summary if best else None, runs)


def max_concurrency(model=None, hardware=None, *, limits: dict, max_clients: int = 4096, **options) -> Capacity:
    """The most closed-loop clients whose run meets every limit: doubling until a run misses, then
    bisection."""
    require(bool(limits), "limits", limits, "give at least one limit")
    run = lambda clients: simulate(model, hardware, concurrency=clients, record=False, **options)  # noqa: E731
    low, best, runs, clients = 0, None, 0, 1
    while clients <= max_clients:
        result = run(clients)
        runs += 1
        if not meets(result.summary, limits):
            break
        low, best, clients = clients, result, 2 * clients
    high = min(clients, max_clients + 1)
    while high - low > 1:
        mid = (low + high) // 2
        result = run(mid)
        runs += 1
        if meets(result.summary, limits):
            low, best = mid, result
        else:
            high = mid
    devices = best.devices if best else 1
    return Capacity(float(low), low / devices, best.summary if best else None, runs)


#: load points a sweep may simulate unless forced (each is a whole run, about a second)
MAX_LOAD_POINTS = 1000


def spec_sweep(data: dict, progress=None, force: bool = False):
    """A sweep spec with `rate` or `concurrency` axes: every combination of its list-valued
    deployment, length and load fields simulated, one row each (deployment and load columns, the
    run's summary, `fits` and `error`)."""
    import itertools

    import pandas as pd

    require(("rate" in data) != ("concurrency" in data), "sweep spec", sorted(data),
            "give a rate or a concurrency axis, not both")
    kind = "rate" if "rate" in data else "concurrency"
    loads = [(kind, float(v) if kind == "rate" else int(v)) for v in _values(data[kind])]
    plan = data.get("plan", {}) or {}
    target = "hardware" if "hardware" in data else "system"
    axes = {"model": _values(data["model"]), target: _values(data[target]), "devices": _values(data.get("devices")),
            **{k: _values(plan.get(k)) for k in ("tp", "pp", "ep", "dp")},
            **{k: _values(data.get(k)) for k in ("weight_precision", "kv_precision", "quant", "engine", "input",
                                                 "output", "requests", "lengths", "spread", "seed", "scheduler")}}
    rows = []
    combos = list(itertools.product(*axes.values(), loads))
    require(force or len(combos) <= MAX_LOAD_POINTS, "sweep spec", f"{len(combos):,} load points",
            f"more than {MAX_LOAD_POINTS:,} simulations: narrow the axes, or force it (--force)")
    for done, combo in enumerate(combos, start=1):
        options = {k: v for k, v in zip(axes, combo[:-1]) if v is not None}
        value = combo[-1][1]
        try:
            summary = simulate(**options, **{kind: value}, record=False).summary
            rows.append({**options, kind: value, **summary, "fits": True, "error": ""})
        except ValueError as exc:  # a deployment that does not fit or cannot run: its reason, in its row
            rows.append({**options, kind: value, "fits": False, "error": str(exc)})
        if progress is not None:
            progress(done)
    return pd.DataFrame(rows)


def _values(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]
