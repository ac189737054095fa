"""Every valid parallel plan of a model on a system, evaluated and ranked.

A plan uses all the system's devices: tp x pp x cp x dp = devices, with every expert-parallel
degree the model and plan allow. `batch` is the number of concurrent requests on the whole
system, split evenly across data-parallel replicas, so plans compare at equal load.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import LlmsizerError
from ..inference.batch import Estimate, evaluate
from ..inference.scenario import scenario
from ..inference.workload import Workload
from ..models.zoo import load_model
from ..units import GB, MS

OBJECTIVES = {
    "ttft": ("ttft_ms", True),
    "tpot": ("tpot_ms", True),
    "throughput-per-device": ("throughput_per_device", False),
}


def divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def candidate_degrees(devices: int, model, max_cp: int = 1):
    """(tp, pp, cp, dp, ep) tuples using exactly `devices` devices."""
    for tp in divisors(devices):
        for pp in divisors(devices // tp):
            for cp in [c for c in divisors(devices // (tp * pp)) if c <= max_cp]:
                dp = devices // (tp * pp * cp)
                eps = [1]
                if model.is_moe:
                    eps = [e for e in divisors(tp * dp) if tp % e == 0 or e % tp == 0]
                for ep in eps:
                    yield tp, pp, cp, dp, ep


@dataclass
class PlanResult:
    tp: int
    pp: int
    cp: int
    dp: int
    ep: int
    estimate: Estimate | None
    error: str = ""

    def row(self) -> dict:
        base = {"tp": self.tp, "pp": self.pp, "ep": self.ep, "dp": self.dp, "cp": self.cp}
        if self.estimate is None:
            return {**base, "valid": False, "fits": False, "why": self.error}
        est = self.estimate
        devices = self.tp * self.pp * self.cp * self.dp
        fits = bool(np.asarray(est.fits).reshape(-1)[0])
        mem = est.memory
        why = "" if fits else (f"needs {float(mem.total) / GB:.1f} GB per device of {mem.capacity / GB:.1f} GB; "
                               f"largest batch per replica that fits: {int(mem.max_batch)}")
        return {**base, "valid": True, "fits": fits, "why": why,
                "ttft_ms": float(est.ttft) / MS, "tpot_ms": float(est.tpot) / MS,
                "throughput_tokens_per_s": float(est.throughput),
                "throughput_per_device": float(est.throughput) / devices,
                "memory_per_device_gb": float(mem.total) / GB}


def search_plans(model, system, *, batch: int = 1, input: int = 1024, output: int = 256, max_cp: int = 1,
                 **options) -> list[PlanResult]:
    """Evaluate every candidate plan; invalid ones keep the rule they break."""
    model = load_model(model)
    from ..hardware.zoo import load_system

    system = load_system(system)
    results = []
    for tp, pp, cp, dp, ep in candidate_degrees(system.num_devices, model, max_cp):
        per_replica = -(-batch // dp)
        try:
            sc = scenario(model, system=system, tp=tp, pp=pp, cp=cp, ep=ep, **options)
            results.append(PlanResult(tp, pp, cp, dp, ep, evaluate(sc, Workload(per_replica, input, output))))
        except (LlmsizerError, ValueError) as exc:
            results.append(PlanResult(tp, pp, cp, dp, ep, None, str(exc)))
    return results


def ranked(results: list[PlanResult], objective: str):
    """Valid plans as a DataFrame: fitting ones first, best first under the objective."""
    import pandas as pd

    column, ascending = OBJECTIVES[objective]
    frame = pd.DataFrame([r.row() for r in results])
    valid = frame[frame["valid"]].copy()
    valid["_order"] = np.where(valid["fits"], 0, 1)
    return valid.sort_values(["_order", column], ascending=[True, ascending]).drop(columns=["_order", "valid"])
