"""Serving under load for the "Under load" page: the sidebar's deployment replayed by the request
simulator (`llmsizer simulate`) at a rate, a concurrency or all at once, its percentiles against
the use case's targets, and the saturation rate."""

from __future__ import annotations

from dataclasses import dataclass, fields

from ..inference.options import Deployment
from ..serving.metrics import METRICS, PERCENTILES
from ..usecases import UseCase
from ..units import MS
from . import targets
from .compute import Choice

#: how a page names the simulator's statistics
NAMES = {"ttft": "TTFT", "itl": "inter-token latency", "e2e_latency": "end-to-end"}


@dataclass(frozen=True)
class LoadChoice:
    """The offered load: a Poisson rate (requests/s), a number of closed-loop clients, or every
    request at once; with the request count, how lengths vary, the scheduler and the seed."""

    mode: str = "rate"
    rate: float = 4.0
    concurrency: int = 16
    requests: int = 500
    lengths: str = "fixed"
    scheduler: str | None = None
    seed: int = 0

    def options(self) -> dict:
        load = {"rate": {"rate": self.rate}, "concurrency": {"concurrency": self.concurrency},
                "offline": {"offline": True}}[self.mode]
        return {**load, "requests": self.requests, "lengths": self.lengths, "seed": self.seed}


def simulator_options(choice: Choice) -> dict:
    """The sidebar's deployment, prefill pool and lengths as `simulate` options (the simulator
    chunks prompts by the engine's token budget and does not speculate: those options fail there)."""
    d = choice.deployment
    options = {f.name: getattr(d, f.name) for f in fields(Deployment) if f.name not in ("model", "hardware")}
    serving = choice.serving
    return {**options, "prefill_devices": serving.prefill_devices, "prefill_tp": serving.prefill_tp,
            "chunk": serving.chunk, "draft": serving.draft, "input": int(choice.workload.input),
            "output": int(choice.workload.output)}


def slo(case: UseCase | None) -> dict | None:
    """Per-request targets for goodput: TTFT, and TPOT as the inter-token latency."""
    return None if case is None else {"ttft_ms": case.ttft_slo_s / MS, "itl_ms": case.tpot_slo_s / MS}


def simulate_load(choice: Choice, load: LoadChoice):
    from ..serving.simulate import simulate

    d = choice.deployment
    return simulate(d.model, d.hardware, scheduler=load.scheduler, slo=slo(choice.usecase),
                    **simulator_options(choice), **load.options())


def saturation(choice: Choice, load: LoadChoice):
    """The largest sustained Poisson rate for the same requests (`find_saturation`)."""
    from ..serving.simulate import find_saturation

    d = choice.deployment
    return find_saturation(d.model, d.hardware, scheduler=load.scheduler, **simulator_options(choice),
                           **load.options())


def percentile_table(summary: dict):
    """One row per latency (ms): mean and each percentile."""
    import pandas as pd

    return pd.DataFrame([{"latency (ms)": NAMES[m], "mean": summary[f"{m}_ms_mean"],
                          **{f"p{p}": summary[f"{m}_ms_p{p}"] for p in PERCENTILES}} for m in METRICS])


def load_checks(summary: dict, case: UseCase, percentile: str) -> dict[str, tuple[str, str]]:
    """TTFT and inter-token latency at `percentile` (p50 ... p99) against the use case's targets."""
    ttft, tpot = case.ttft_slo_s / MS, case.tpot_slo_s / MS
    check = lambda value, limit: (targets.PASS if value <= limit else targets.FAIL,  # noqa: E731
                                  f"{percentile} ≤ {limit:g} ms")
    return {"ttft": check(summary[f"ttft_ms_{percentile}"], ttft),
            "itl": check(summary[f"itl_ms_{percentile}"], tpot)}
