"""The time of each operator: roofline of compute and memory under the profile's efficiencies.

compute = FLOPs / (peak at the operands' precision x efficiency x tile fill), where tile fill =
tokens / max(tokens, tile): a product over fewer tokens than one tile of the matrix unit still pays
for the whole tile. Partial tiles beyond the first are not charged, which keeps time per step
non-decreasing in the batch, with no steps at tile boundaries.
memory = bytes / (bandwidth x achievable fraction).
time = max(compute, memory) + (1 - overlap) x min(compute, memory) + a fixed cost per kernel.
Every term is numpy arithmetic, so one call evaluates many configurations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..errors import require
from ..hardware.spec import System
from ..ops.base import Op
from .collectives import collective
from .profile import Profile
from ..arrays import real

BOUNDS = ("compute", "memory", "communication", "overhead", "offload")

#: vector operations to turn one quantised weight into the activation type: unpack/convert and
#: multiply by its group scale. Weight-only kernels redo this for every tile of tokens.
DEQUANT_FLOPS_PER_WEIGHT = 2.0


@dataclass(frozen=True)
class OpCost:
    """Seconds of one operator instance, its parts, and which resource bounds it."""

    op: Op
    time: np.ndarray
    compute: np.ndarray
    memory: np.ndarray
    communication: np.ndarray
    overhead: float
    offload: np.ndarray | float = 0.0
    #: a collective's algorithm per configuration (resolved to names only when a report asks)
    algorithm: object = None

    @cached_property
    def total(self):
        """Seconds of all `count` instances in the step."""
        return self.time * self.op.count

    @property
    def bound_index(self):
        """Index into BOUNDS of the largest part of the time (ties go to the earlier bound)."""
        return self.bound_index_of(lambda part: part)[0]

    def bound_index_of(self, pick):
        """`bound_index` on `pick(part)` of each part (a slice costs only that slice's work), and
        the bounds it can take: those whose part is not absent."""
        parts = [pick(np.asarray(p)) for p in (self.compute, self.memory, self.communication, self.overhead, self.offload)]
        best, index, possible = parts[0], np.zeros(np.shape(parts[0]), dtype=np.int8), [0]
        for i, part in enumerate(parts[1:], start=1):
            if not np.any(part):
                continue  # an absent part (no collective, no offload) never wins
            possible.append(i)
            larger = part > best
            best = np.where(larger, part, best)
            index = np.where(larger, np.int8(i), index)
        return index, possible

    @property
    def bound(self):
        return np.asarray(BOUNDS)[self.bound_index]


def tile_fill(tokens, tile: int):
    tokens = real(np.maximum(real(tokens), 1e-9))
    return real(tokens / np.maximum(tokens, tile))


def op_cost(op: Op, system: System, profile: Profile, layout: dict) -> OpCost:
    """Seconds of one operator instance. Collectives run over their group's spans in `layout`
    (the plan laid out on the system's network)."""
    acc = system.accelerator
    zero = np.zeros(())
    if op.kind == "collective":
        result = collective(op.collective, op.message_bytes, layout[op.group], profile.link_efficiency,
                            profile.collective_overhead_s, **op.extra.get("options", {}))
        return OpCost(op, result.time, zero, zero, result.time, 0.0, algorithm=result.choice)
    if op.kind == "offload":
        require(acc.host_link_bandwidth > 0, "offload", op.name, f"{acc.name} lists no host link to stream from")
        stream = (real(op.weight_bytes) + op.kv_bytes) / acc.host_link_bandwidth
        return OpCost(op, stream, zero, zero, zero, 0.0, stream)
    if op.kind in ("matmul", "expert_matmul"):
        efficiency = profile.matmul_efficiency * (profile.moe_efficiency if op.kind == "expert_matmul" else 1.0)
        rate = acc.peak(op.precision) * efficiency * tile_fill(op.tokens, profile.tile_tokens)
    elif op.kind == "attention":
        rate = acc.peak(op.precision) * profile.attention_efficiency * tile_fill(op.tokens, profile.tile_tokens)
    else:
        rate = acc.elementwise_flops
    compute = real(op.flops) / rate
    if np.any(op.dequant_elements):  # an array where experts touched depend on the tokens
        tiles = np.maximum(real(op.tokens) / profile.tile_tokens, 1.0)
        compute = compute + op.dequant_elements * DEQUANT_FLOPS_PER_WEIGHT * tiles / acc.elementwise_flops
    kv = real(op.kv_bytes)
    if op.kv_group > 1:
        kv = kv * (1.0 + profile.reread_share(op.kv_group) * (op.kv_group - 1.0))
    moved = real(op.weight_bytes) + op.act_bytes + kv
    memory = moved / (acc.memory_bandwidth * profile.memory_efficiency)
    longer, shorter = np.maximum(compute, memory), np.minimum(compute, memory)
    time = longer + (1.0 - profile.overlap) * shorter + profile.kernel_overhead_s
    return OpCost(op, time, compute, memory, zero, profile.kernel_overhead_s)


def step_time(costs: list[OpCost], profile: Profile):
    """Seconds of one engine step: its operators in sequence plus the engine's per-step work.
    Totals of one shape are summed first (most do not depend on the decode context), so the
    full-size additions happen once per shape rather than once per operator."""
    by_shape: dict[tuple, list] = {}
    for c in costs:
        by_shape.setdefault(np.shape(c.total), []).append(c.total)
    partial = sorted((functools.reduce(np.add, group) for group in by_shape.values()), key=np.size)
    total = functools.reduce(np.add, partial)
    overlapped = [c.total for c in costs if c.op.extra.get("overlapped")]
    if overlapped:  # two-batch overlap: one half's expert traffic runs while the other half works
        hidden = functools.reduce(np.add, overlapped)
        total = total - np.minimum(hidden, total - hidden)
    return total + profile.step_overhead_s
