"""The time of each operator: roofline of compute and memory under the profile's efficiencies.

compute = FLOPs / (peak at the operands' precision x the efficiency of that precision class x
fill), fill the share of the matrix unit's work that is useful (fill.py). A table's rows on several
devices and engines are priced together by priced.py, with the same formulas.
Attention runs at its efficiency times its fill (capped at the peak), at the 16-bit rate over an
8-bit cache unless the engine has 8-bit attention kernels. Weight-only products dequantise each
weight once per 64-token block, at most 4 times: from 256 tokens engines dequantise once and run
a dense product (vLLM's AWQ path).
memory = bytes / (bandwidth x achievable fraction).
time = max(compute, memory) + (1 - overlap) x min(compute, memory) + a fixed cost per kernel.
A step launched eagerly (no captured graph) takes at least its kernels' host launch time.
Every term is numpy arithmetic, so one call evaluates many configurations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from ..errors import require
from ..hardware.spec import System
from ..ops.base import Op
from .collectives import collective
from .fill import operator_attention_fill, operator_fill, operator_tiles, spread_fill, weight_fill
from .profile import Profile
from ..arrays import nonzero, real

BOUNDS = ("compute", "memory", "communication", "overhead", "offload")

#: vector operations to turn one quantised weight into the activation type: unpack/convert and
#: multiply by its group scale
DEQUANT_FLOPS_PER_WEIGHT = 2.0
#: tokens per block that a fused weight-only kernel dequantises its weights for, and the most
#: blocks before engines switch to one dequantisation and a dense product
DEQUANT_BLOCK_TOKENS, DEQUANT_MAX_BLOCKS = 64.0, 4.0
#: the efficiency class of products at each precision other than 16-bit (weight-only aside)
_PRECISION_CLASSES = {"fp8": "8bit", "int8": "8bit", "fp4": "fp4", "int4": "fp4"}
#: the part of a cost an operator does not have (no collective in a product, no compute in a collective)
ZERO = np.zeros(())


@dataclass(slots=True)
class OpCost:
    """Seconds of one operator instance, its parts, and which resource bounds it. A record made
    once per operator and step and never changed (not frozen: a frozen record takes several times
    as long to make, and a step makes dozens)."""

    op: Op
    time: np.ndarray
    compute: np.ndarray
    memory: np.ndarray
    communication: np.ndarray
    overhead: float
    offload: np.ndarray | float = 0.0
    #: a collective's algorithm per configuration (resolved to names only when a report asks)
    algorithm: object = None

    #: seconds of all `count` instances in the step
    total: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.total = self.time * self.op.count

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


def precision_class(op: Op) -> str:
    """The efficiency class of a product: 16-bit, 8-bit, weight-only (dequantised) or fp4."""
    return class_of(op.precision, nonzero(op.dequant_elements))


def class_of(precision: str, dequantised: bool) -> str:
    """The efficiency class of products at `precision`, weight-only when they dequantise first."""
    return "weight_only" if dequantised else _PRECISION_CLASSES.get(precision, "16bit")


def op_costs(ops, system: System, profile: Profile, layout: dict) -> tuple[OpCost, ...]:
    """Seconds of each operator instance. Collectives run over their group's spans in `layout`
    (the plan laid out on the system's network)."""
    acc, device = system.accelerator, [(system.accelerator, profile)]
    shared, vector = device_figures(device, single), rate_figures(None, device, single)
    costs = []
    for op in ops:
        if op.kind == "collective":
            result = collective_of(op, layout[op.group], profile.link_efficiency, profile.collective_overhead_s)
            costs.append(OpCost(op, result.time, ZERO, ZERO, result.time, 0.0, algorithm=result.choice))
        elif op.kind == "offload":
            costs.append(offload_cost(op, acc))
        else:
            rate = rate_figures(op, device, single) if own_rate(op) else vector
            compute, memory, time = roofline_parts(op, *rate, *shared)
            costs.append(OpCost(op, time, compute, memory, ZERO, profile.kernel_overhead_s))
    return tuple(costs)


def op_cost(op: Op, system: System, profile: Profile, layout: dict) -> OpCost:
    """Seconds of one operator instance (see `op_costs`)."""
    return op_costs((op,), system, profile, layout)[0]


def own_rate(op: Op) -> bool:
    """Whether an operator's rate or bytes take figures of their own: a product's or attention's
    peak, efficiency and fill, or a cache re-read; the rest run at the vector rate."""
    return op.kind in ("matmul", "expert_matmul", "attention") or op.kv_group > 1


def collective_of(op: Op, spans, link_efficiency, overhead_s):
    """`collective` of a collective operator over `spans`."""
    return collective(op.collective, op.message_bytes, spans, link_efficiency, overhead_s,
                      **op.extra.get("options", {}))


def offload_cost(op: Op, acc) -> OpCost:
    """Seconds of streaming an operator's offloaded bytes from host memory."""
    require(acc.host_link_bandwidth > 0, "offload", op.name, f"{acc.name} lists no host link to stream from")
    stream = (real(op.weight_bytes) + op.kv_bytes) / acc.host_link_bandwidth
    return OpCost(op, stream, ZERO, ZERO, ZERO, 0.0, stream)


def rate_figures(op: Op | None, devices: list[tuple], stack) -> tuple:
    """The figures of each of `devices`, (accelerator, profile), that an operator's rate and bytes
    take, through `stack` (`PricedOps.stacked` in priced.py, or `single`): the peak, efficiency
    and fill its rate is made of (`_rate`; the vector rate alone for an operator of no matrix
    product, or None), and the share of the cache a decode kernel re-reads per extra query head."""
    if op is None or op.kind not in ("matmul", "expert_matmul", "attention"):
        peak, efficiency, fill = [acc.elementwise_flops for acc, _ in devices], (1.0,), 1.0
    elif op.kind == "attention":
        wide = op.precision not in ("fp8", "int8")
        peak = [acc.peak(op.precision if wide or profile.fp8_attention else "bf16") for acc, profile in devices]
        efficiency = [profile.attention_efficiency for _, profile in devices]
        fill = stack([operator_attention_fill(op, getattr(acc, "matrix_tile", None)) for acc, _ in devices])
    else:
        efficiency_class, experts = precision_class(op), op.kind == "expert_matmul"
        peak = [acc.peak(op.precision) for acc, _ in devices]
        efficiency = [profile.matmul_efficiency_for(efficiency_class) * (profile.moe_efficiency if experts else 1.0)
                      for _, profile in devices]
        fill = _product_fills(op, devices, stack)
    rereads = op is not None and op.kv_group > 1
    reread = [profile.reread_share(op.kv_group) for _, profile in devices] if rereads else (0.0,)
    return stack(peak), stack(efficiency), fill, stack(reread)


def _product_fills(op: Op, devices: list[tuple], stack):
    """Each device's fill of its matrix units by a product times its systolic array's (a factor
    of 1 changes nothing), through `stack`: spread over every device's units at once where they
    share a tile height and all state their units, else device by device."""
    units = [getattr(acc, "compute_units", None) for acc, _ in devices]
    shape_fills = [weight_fill(op, acc) for acc, _ in devices]
    heights = {profile.tile_tokens for _, profile in devices} if len(devices) > 1 else ()
    if len(heights) != 1 or None in units:
        fills = [operator_fill(op, profile.tile_tokens, count) for (_, profile), count in zip(devices, units)]
        return stack([fill if shape == 1.0 else fill * shape for fill, shape in zip(fills, shape_fills)])
    fill = spread_fill(*operator_tiles(op, heights.pop()), stack(units))
    return fill if all(shape_fill == 1.0 for shape_fill in shape_fills) else fill * stack(shape_fills)


def device_figures(devices: list[tuple], stack) -> tuple:
    """The figures of each of `devices` that every operator's roofline time takes, through
    `stack`: the vector rate (FLOP/s) that dequantises weights, the memory bandwidth reached
    (bytes/s), the share of the shorter of compute and memory left exposed, and the fixed seconds
    per kernel."""
    return (stack([acc.elementwise_flops for acc, _ in devices]),
            stack([acc.memory_bandwidth * profile.memory_efficiency for acc, profile in devices]),
            stack([1.0 - profile.overlap for _, profile in devices]),
            stack([profile.kernel_overhead_s for _, profile in devices]))


def _rate(op: Op, peak, efficiency, fill):
    """FLOP/s of an operator: peak x efficiency x fill (products: the matrix units' fill and a
    systolic array's; attention's efficiency x fill capped at 1; the vector rate for the rest)."""
    if op.kind == "attention":
        return peak * np.minimum(efficiency * fill, 1.0)
    return peak * efficiency * fill


def roofline_parts(op: Op, peak, efficiency, fill, reread, vector_rate, bandwidth, exposed, overhead):
    """(compute, memory, time) seconds of one instance of an operator from its `rate_figures`
    and `device_figures` (module docstring)."""
    compute = real(op.flops) / _rate(op, peak, efficiency, fill)
    if nonzero(op.dequant_elements):  # an array where experts touched depend on the tokens
        blocks = np.clip(real(op.tokens) / DEQUANT_BLOCK_TOKENS, 1.0, DEQUANT_MAX_BLOCKS)
        compute = compute + op.dequant_elements * DEQUANT_FLOPS_PER_WEIGHT * blocks / vector_rate
    moved = op.bytes
    if op.kv_group > 1:  # a decode kernel reading the cache once per query head re-reads a share of it
        moved = moved + real(op.kv_bytes) * (reread * (op.kv_group - 1.0))
    memory = moved / bandwidth
    longer, shorter = np.maximum(compute, memory), np.minimum(compute, memory)
    time = longer + exposed * shorter + overhead
    return compute, memory, time


def single(values):
    """The value of the one device (a `stack` for `rate_figures` and `device_figures`)."""
    return values[0]


def host_work(ops, profile: Profile, sequences=0.0, graphs=True, workers: int = 0):
    """Engine seconds per step of operators `ops` beyond its kernels: the per-step, per-sequence
    and per-worker work (`workers`: devices of the replica beyond the first) and, for a step not
    replayed from a captured graph (any step with a prompt, or decode in an eager engine), each
    kernel's host launch beyond its device gap (`graphs` may be an array, per decode context)."""
    if np.ndim(graphs) == 0:  # one answer for the step: a plain float keeps a float32 sweep in float32
        launches = 0.0 if graphs else _launches(ops, profile)
    else:
        launches = _launches(ops, profile) * np.logical_not(graphs)
    return (profile.on_host(profile.step_overhead_s + profile.sequence_overhead_s * sequences
                            + profile.worker_overhead_s * workers) + launches)


def launch_time(costs: list[OpCost], profile: Profile) -> float:
    """Host seconds launching a step's kernels one by one, beyond their device gaps."""
    return _launches([c.op for c in costs], profile)


def _launches(ops, profile: Profile) -> float:
    return sum(op.count for op in ops) * max(profile.on_host(profile.host_launch_s) - profile.kernel_overhead_s, 0.0)


def step_time(ops, totals: list, overhead=0.0):
    """Seconds of one engine step: its operators' `totals` in sequence plus the engine's work
    beyond them (`overhead`). Totals of one shape are summed first (most do not depend on the
    decode context), so the full-size additions happen once per shape rather than once per
    operator."""
    by_shape: dict[tuple, list] = {}
    for total in totals:
        by_shape.setdefault(np.shape(total), []).append(total)
    partial = sorted((functools.reduce(np.add, group) for group in by_shape.values()), key=np.size)
    total = functools.reduce(np.add, partial)
    overlapped = [part for op, part in zip(ops, totals) if op.extra.get("overlapped")]
    if overlapped:  # two-batch overlap: one half's expert traffic runs while the other half works
        hidden = functools.reduce(np.add, overlapped)
        total = total - np.minimum(hidden, total - hidden)
    return total + overhead
