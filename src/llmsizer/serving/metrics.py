"""What a run measured, with the definitions of GenAI-Perf and vLLM's serving benchmark.

Per request: TTFT from arrival to the first token (queueing included), inter-token latency
ITL = (e2e - TTFT) / (output - 1) (undefined for one-token answers), e2e from arrival to the last
token. Over the run, which lasts from the first arrival to the last token: mean, p50, p90, p95
and p99 of each, output tokens/s and requests/s, and goodput, the requests/s that met every SLO
given (vLLM's `--goodput`).
"""

from __future__ import annotations

import numpy as np

from ..units import MS
from .requests import Requests

PERCENTILES = (50, 90, 95, 99)
METRICS = ("ttft", "itl", "e2e_latency")
#: SLO names and the per-request metric each bounds (milliseconds)
SLOS = {"ttft_ms": "ttft", "itl_ms": "itl", "e2e_latency_ms": "e2e_latency"}


def per_request(requests: Requests) -> dict:
    """Seconds per request: ttft, itl, e2e_latency (NaN where a request did not finish)."""
    c = requests.columns()
    ttft = c["first_token"] - c["arrival"]
    e2e = c["finish"] - c["arrival"]
    with np.errstate(invalid="ignore", divide="ignore"):
        itl = np.where(c["output"] > 1, (e2e - ttft) / (c["output"] - 1), np.nan)
    return {"ttft": ttft, "itl": itl, "e2e_latency": e2e}


def summarise(requests: Requests, slo: dict | None = None) -> dict:
    """The run's statistics in milliseconds and per second, flat (as CSV columns and JSON)."""
    values = per_request(requests)
    c = requests.columns()
    done = np.isfinite(c["finish"])
    duration = float(np.nanmax(c["finish"]) - np.nanmin(c["arrival"])) if done.any() else float("nan")
    out = {"requests": int(len(requests)), "completed": int(done.sum()), "duration_s": duration}
    for name in METRICS:
        v = values[name][np.isfinite(values[name])]
        out[f"{name}_ms_mean"] = float(np.mean(v)) / MS if v.size else float("nan")
        for p in PERCENTILES:
            out[f"{name}_ms_p{p}"] = float(np.percentile(v, p)) / MS if v.size else float("nan")
    out["output_throughput_tokens_per_s"] = float(c["output"][done].sum()) / duration
    out["request_throughput_per_s"] = float(done.sum()) / duration
    out["preemptions"] = int(c["preemptions"].sum())
    if slo:
        good = done.copy()
        for name, limit in slo.items():
            v = values[SLOS[name]]
            good &= np.where(np.isnan(v), True, v <= limit * MS)
        out["goodput_requests_per_s"] = float(good.sum()) / duration
    return out
