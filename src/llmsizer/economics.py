"""Cost per token and energy per token of an estimate.

Cost: $ per million output tokens = price per device-hour x devices / 3600 / (output tokens per
second of the whole system) x 1e6.

Energy, a stated power model rather than a measurement:
- A device draws P(u) = idle + (TDP - idle) x u, with idle = IDLE_FRACTION x TDP and u its
  utilisation over a phase.
- An operator's utilisation is the larger of its compute seconds / its time and its memory
  seconds / its time (the `OpCost` parts), so a kernel that saturates either the matrix units or
  memory bandwidth draws TDP. Collectives, kernel launch overheads and the engine's per-step work
  outside kernels count as utilisation 0 (idle power): the device waits.
- A phase's utilisation is the time-weighted mean over its operators, taken over the phase's
  time (prefill: TTFT; decode: one step, TPOT). Under pipeline parallelism each device runs its
  stage for every micro-batch, m / pp of the operators' sum over all layers, while the phase lasts
  the pipeline's fill or steady state.
- Energy per output token = (prefill energy + (output - 1) x decode energy per step) x devices
  / output tokens of the whole system (replicas x batch x samples x output).

Taking memory-bound work at TDP is an upper bound: measured decode draws less than compute-bound
prefill at the same utilisation, so energy per token of decode-heavy work is overstated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import require
from .inference.step import microbatches

#: idle power as a share of TDP. A serving engine keeps a CUDA context, which holds an HBM GPU in
#: an active clock state 26-50 W above bare idle (arXiv:2605.23918, "The Model Parking Tax"); an
#: H100 SXM (700 W TDP) with 72 GB allocated and no work reads 140-145 W in nvidia-smi
#: (https://github.com/wilicc/gpu-burn/issues/114). Taken as 0.2 x TDP (140 W of 700 W).
IDLE_FRACTION = 0.2

SECONDS_PER_HOUR = 3600.0


def cost_per_million_tokens(throughput_tokens_per_s, devices, price_per_device_hour):
    """$ per million output tokens for a system producing `throughput_tokens_per_s` on `devices`
    devices rented at `price_per_device_hour` each (numpy arrays broadcast)."""
    throughput = np.asarray(throughput_tokens_per_s, dtype=float)
    return np.asarray(price_per_device_hour, dtype=float) * devices / SECONDS_PER_HOUR / throughput * 1e6


@dataclass
class Energy:
    """Joules per output token of the whole system, and the power behind them per device (watts)
    with each phase's utilisation."""

    joules_per_token: np.ndarray
    average_power_w: np.ndarray
    prefill_power_w: np.ndarray
    decode_power_w: np.ndarray
    prefill_utilisation: np.ndarray
    decode_utilisation: np.ndarray


def power(tdp_w: float, utilisation):
    """Device power in watts at a utilisation in [0, 1]."""
    idle = IDLE_FRACTION * tdp_w
    return idle + (tdp_w - idle) * np.clip(utilisation, 0.0, 1.0)


def energy_per_token(est) -> Energy:
    """Joules per output token and average power per device of an `Estimate` (see the module)."""
    sc = est.scenario
    acc = sc.system.accelerator
    require(bool(np.all(np.asarray(acc.tdp_w) > 0)), f"{acc.name}.tdp_w", acc.tdp_w,
            "energy needs the accelerator's TDP; add tdp_w to its hardware file")
    w = est.workload
    prefill_sc = est.prefill_scenario or sc
    prefill_time = est.ttft - (est.serving["disaggregated"].transfer if "disaggregated" in est.serving else 0.0)
    prefill_busy = est.prefill.busy * est.prefill_steps * microbatches(prefill_sc.plan, w.batch) / prefill_sc.plan.pp
    decode_step = est.tpot * est.decode_tokens  # seconds of one decode step (its tokens per sequence)
    decode_busy = est.mean_over_contexts(est.decode.busy) * microbatches(sc.plan, w.batch) / sc.plan.pp
    prefill_u = np.clip(prefill_busy / prefill_time, 0.0, 1.0)
    decode_u = np.clip(decode_busy / decode_step, 0.0, 1.0)
    prefill_w = power(prefill_sc.system.accelerator.tdp_w, prefill_u)
    decode_w = power(acc.tdp_w, decode_u)
    steps = np.asarray(w.output, dtype=float) - 1
    joules = prefill_w * prefill_time * prefill_sc.plan.devices + steps * decode_w * est.tpot * sc.plan.devices
    tokens = est.throughput * est.e2e
    return Energy(joules_per_token=joules / tokens, average_power_w=joules / est.devices / est.e2e,
                  prefill_power_w=prefill_w, decode_power_w=decode_w,
                  prefill_utilisation=prefill_u, decode_utilisation=decode_u)
