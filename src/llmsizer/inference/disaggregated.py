"""Disaggregated serving: prefill and decode on separate pools, the KV cache sent between them.

The prefill pool (its own devices and plan) computes the prompts; their KV cache crosses the
network to the decode pool, which generates. TTFT is the prefill plus that transfer, over the
pools' scale-out links (the slower of the two pools' aggregate NIC bandwidth, or the scale-up link
for accelerators with no NIC); TPOT is the decode pool's. Each pool reports its own throughput per
device: prompt tokens for prefill, output tokens for decode.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..arrays import first
from ..ops.base import Sizes
from ..parallel import Plan
from .estimate import Estimate, Scenario, evaluate
from .memory import cache_bytes_per_sequence
from .workload import Workload


@dataclass
class DisaggregatedResult:
    prefill: Estimate
    decode: Estimate
    kv_bytes: np.ndarray
    transfer: np.ndarray

    @property
    def ttft(self):
        return self.prefill.ttft + self.transfer

    @property
    def prefill_tokens_per_device(self):
        w = self.prefill.workload
        prompt = np.asarray(w.input, dtype=float) - w.cached_prefix
        return self.prefill.scenario.plan.dp * np.asarray(w.batch, dtype=float) * prompt / self.prefill.ttft \
            / self.prefill.scenario.plan.devices

    @property
    def decode_tokens_per_device(self):
        return self.decode.throughput / self.decode.scenario.plan.devices

    def to_dict(self) -> dict:
        return {"prefill_devices": self.prefill.scenario.plan.devices, "prefill_tp": self.prefill.scenario.plan.tp,
                "prefill_ttft_ms": first(self.prefill.ttft) * 1e3, "kv_transfer_gb": first(self.kv_bytes) / 1e9,
                "kv_transfer_ms": first(self.transfer) * 1e3,
                "prefill_prompt_tokens_per_s_per_device": first(self.prefill_tokens_per_device),
                "decode_output_tokens_per_s_per_device": first(self.decode_tokens_per_device)}


def pool_link(sc: Scenario) -> tuple[float, float]:
    """(bandwidth out of the pool in bytes/s, latency in s): its devices' NICs together, else the
    scale-up link of one device."""
    acc = sc.system.accelerator
    link = acc.scale_out or acc.scale_up
    if link is None:
        raise ValueError(f"{acc.name} lists no link to send a KV cache between pools")
    return sc.plan.devices * link.bandwidth, link.latency


def disaggregated(prefill: Scenario, decode: Scenario, workload: Workload) -> DisaggregatedResult:
    prefill_est = evaluate(prefill, workload)
    decode_est = evaluate(decode, workload, detail=True)
    sizes = Sizes.of(decode.precisions)
    per_sequence = cache_bytes_per_sequence(decode.model, Plan(), sizes, np.asarray(workload.input, dtype=float))
    kv = np.asarray(workload.batch, dtype=float) * prefill.plan.dp * per_sequence
    (out_bw, out_lat), (in_bw, in_lat) = pool_link(prefill), pool_link(decode)
    bandwidth = min(out_bw, in_bw) * decode.profile.link_efficiency
    transfer = max(out_lat, in_lat) + kv / bandwidth
    return DisaggregatedResult(prefill_est, decode_est, kv, transfer)
