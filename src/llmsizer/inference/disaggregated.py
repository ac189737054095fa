"""Disaggregated serving: prefill and decode on separate pools, the KV cache sent between them.

The prefill pool (its own devices and plan) computes the prompts; their KV cache crosses the
network to the decode pool, which generates. TTFT is the prefill plus that transfer, over the
pools' scale-out links (the slower of the two pools' aggregate NIC bandwidth, or the scale-up link
for accelerators with no NIC); TPOT is the decode pool's. Each pool reports its own throughput per
device: prompt tokens for prefill, output tokens for decode.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..arrays import first, real
from ..errors import ConfigError
from ..ops.base import Sizes
from ..parallel import Plan
from .batch import Estimate
from .memory import cache_bytes_per_sequence
from .scenario import Scenario


@dataclass(frozen=True)
class DisaggregatedResult:
    prefill: Estimate           # the prefill pool's own estimate of the batch
    kv_bytes: np.ndarray
    transfer: np.ndarray
    decode_tokens_per_device: np.ndarray

    @property
    def prefill_tokens_per_device(self):
        w = self.prefill.workload
        prompt = real(w.input) - real(w.cached_prefix)
        plan = self.prefill.scenario.plan
        return plan.dp * real(w.batch) * prompt / self.prefill.ttft / plan.devices

    def to_dict(self) -> dict:
        plan = self.prefill.scenario.plan
        return {"prefill_devices": plan.devices, "prefill_tp": plan.tp,
                "prefill_ttft_ms": first(self.prefill.ttft) * 1e3, "kv_transfer_gb": first(self.kv_bytes) / 1e9,
                "kv_transfer_ms": first(self.transfer) * 1e3,
                "prefill_memory_per_device_gb": first(self.prefill.memory.total) / 1e9,
                "prefill_prompt_tokens_per_s_per_device": first(self.prefill_tokens_per_device),
                "decode_output_tokens_per_s_per_device": first(self.decode_tokens_per_device)}


def pool_link(sc: Scenario) -> tuple[float, float]:
    """(bandwidth out of the pool in bytes/s, latency in s): its devices' NICs together, else the
    scale-up link of one device."""
    acc = sc.system.accelerator
    link = acc.scale_out or acc.scale_up
    if link is None:
        raise ConfigError(f"{acc.name} lists no link to send a KV cache between pools")
    return sc.plan.devices * link.bandwidth, link.latency


def disaggregated(prefill: Estimate, decode: Estimate) -> Estimate:
    """The batch prefilled on one pool (`prefill`, that pool's estimate) and decoded on another
    (`decode`): TTFT is the prefill pool's plus the KV cache's transfer, the rest is the decode
    pool's."""
    workload, dec = decode.workload, decode.scenario
    sizes = Sizes.of(dec.precisions)
    per_sequence = cache_bytes_per_sequence(dec.model, Plan(), sizes, real(workload.input))
    kv = real(workload.batch) * prefill.scenario.plan.dp * per_sequence
    (out_bw, out_lat), (in_bw, in_lat) = pool_link(prefill.scenario), pool_link(dec)
    bandwidth = min(out_bw, in_bw) * dec.profile.link_efficiency
    transfer = max(out_lat, in_lat) + kv / bandwidth
    result = DisaggregatedResult(prefill, kv, transfer, decode.throughput / dec.plan.devices)
    return replace(decode, ttft=prefill.ttft + transfer, prefill=prefill.prefill, prefill_steps=prefill.prefill_steps,
                   prefill_scenario=prefill.scenario, serving={**decode.serving, "disaggregated": result})
