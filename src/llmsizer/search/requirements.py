"""Platform requirements: the least of each resource a use case needs to meet its SLOs.

For each resource (peak FLOPS, memory bandwidth, memory capacity, link bandwidth, and the
largest tolerable link latency) the other figures stay at the datasheet and the resource's scale
is swept over a geometric grid in one vectorised evaluation. Every metric is monotonic in every
resource (tests check it), so the smallest scale on the grid that meets the TTFT and TPOT
targets and fits is the requirement, to the grid's resolution (REQUIREMENT_STEPS per factor of 2).
Sensitivities are the percent change of TTFT and TPOT per percent of each resource at the
datasheet point (central differences of +-1%).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..inference.batch import evaluate
from ..inference.scenario import Scenario
from ..inference.workload import Workload
from ..units import GB, MS, TB, TERA, US
from ..usecases import within_slo
from .sweep import swept_system

#: (resource, sweep key, what a larger scale means: True = more is better, the unit to report in)
RESOURCES = (
    ("compute", "scale_peak_flops", True, "peak bf16 TFLOP/s per device"),
    ("memory_bandwidth", "scale_memory_bandwidth", True, "memory TB/s per device"),
    ("memory_capacity", "scale_memory_capacity", True, "memory GB per device"),
    ("link_bandwidth", "scale_link_bandwidth", True, "link GB/s per device per direction"),
    ("link_latency", "scale_link_latency", False, "largest link latency, us"),
)
REQUIREMENT_STEPS = 16
SCALE_RANGE = (1 / 64, 64)


@dataclass
class Requirement:
    resource: str
    unit: str
    datasheet: float
    required: float | None      # None: not reachable by this resource alone
    binding: bool               # False: met over the whole range (the resource does not limit)
    ttft_sensitivity: float
    tpot_sensitivity: float


def _datasheet(sc: Scenario, resource: str) -> float:
    acc, link = sc.system.accelerator, sc.system.network[0]
    return {"compute": acc.peak("bf16") / TERA, "memory_bandwidth": acc.memory_bandwidth / TB,
            "memory_capacity": acc.memory_capacity / GB, "link_bandwidth": link.bandwidth / GB,
            "link_latency": link.latency / US}[resource]


def _evaluate(sc: Scenario, key: str, scales: np.ndarray, workload: Workload):
    n = len(scales)
    system = swept_system(sc.system, {key: scales})
    work = Workload(*(np.full(n, float(getattr(workload, k))) for k in ("batch", "input", "output")))
    return evaluate(replace(sc, system=system), work)


def requirements(sc: Scenario, workload: Workload, ttft_slo_s: float, tpot_slo_s: float) -> list[Requirement]:
    low, high = SCALE_RANGE
    grid = np.exp2(np.arange(np.log2(low) * REQUIREMENT_STEPS, np.log2(high) * REQUIREMENT_STEPS + 1)
                   / REQUIREMENT_STEPS)
    out = []
    for resource, key, more_is_better, unit in RESOURCES:
        est = _evaluate(sc, key, grid, workload)
        ok = within_slo(est.ttft, est.tpot, ttft_slo_s, tpot_slo_s) & np.asarray(est.fits)
        datasheet = _datasheet(sc, resource)
        if more_is_better:
            required = grid[np.argmax(ok)] * datasheet if ok.any() else None
            binding = not bool(ok.all())
        else:  # latency: the largest scale that still meets the targets
            required = grid[len(ok) - 1 - np.argmax(ok[::-1])] * datasheet if ok.any() else None
            binding = not bool(ok.all())
        probe = _evaluate(sc, key, np.array([0.99, 1.01]), workload)
        ttft_sens = float(np.log(probe.ttft[1] / probe.ttft[0]) / np.log(1.01 / 0.99))
        tpot_sens = float(np.log(probe.tpot[1] / probe.tpot[0]) / np.log(1.01 / 0.99))
        out.append(Requirement(resource, unit, datasheet, required, binding, ttft_sens, tpot_sens))
    return out


def operating_point(sc: Scenario, workload: Workload) -> dict:
    est = evaluate(sc, workload)
    d = est.to_dict()
    return {"ttft_ms": d["ttft_ms"], "tpot_ms": d["tpot_ms"], "fits": d["fits"],
            "prefill_bound": d["prefill_bound"], "decode_bound": d["decode_bound"],
            "memory_per_device_gb": d["memory_per_device_gb"]}


def ttft_tpot_grid(sc: Scenario, workload: Workload, flops_scales: np.ndarray, bandwidth_scales: np.ndarray):
    """TTFT and TPOT (ms) over a grid of peak-FLOPS x memory-bandwidth scales (for heat maps)."""
    f, b = np.meshgrid(flops_scales, bandwidth_scales, indexing="ij")
    system = swept_system(sc.system, {"scale_peak_flops": f.ravel(), "scale_memory_bandwidth": b.ravel()})
    n = f.size
    work = Workload(*(np.full(n, float(getattr(workload, k))) for k in ("batch", "input", "output")))
    est = evaluate(replace(sc, system=system), work)
    return (est.ttft / MS).reshape(f.shape), (est.tpot / MS).reshape(f.shape)
