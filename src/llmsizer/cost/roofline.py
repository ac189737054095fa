"""The time of each operator: roofline of compute and memory under the profile's efficiencies.

compute = FLOPs / (peak at the operands' precision x the efficiency of that precision class x
fill), fill the share of the matrix unit's work that is useful (fill.py).
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
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..errors import require
from ..hardware.spec import NetworkDim, Span, System
from ..ops.base import Op
from .collectives import Choice, collective
from .fill import (array_fill, attention_fill, matmul_fill, operator_attention_fill, operator_fill, operator_tiles,
                   spread_fill, weight_fill)
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
    return op_costs_on(ops, [(system, profile, layout)]).costs_of(0)


def op_cost(op: Op, system: System, profile: Profile, layout: dict) -> OpCost:
    """Seconds of one operator instance (see `op_costs`)."""
    return op_costs((op,), system, profile, layout)[0]


def op_costs_on(ops, members: list[tuple]) -> "PricedOps":
    """`op_costs` of one graph on each of `members`, (system, profile, layout) whose figures are
    numbers (a table's hardware and engines). An operator is priced on every member at once, the
    members' figures along a leading axis: one NumPy call per term of the formula rather than
    one per member (on a table's few rows the calls, not the arithmetic, take the time)."""
    priced = PricedOps(tuple(ops), members)
    devices = priced.devices
    shared = _device_figures(devices, priced.stacked)
    vector = _rate_figures(None, devices, priced.stacked)
    for op in priced.ops:
        if op.kind == "collective":
            priced.parts.append(_Collectives(priced.collectives(op)))
        elif op.kind == "offload":
            priced.parts.append([_offload_cost(op, acc) for acc, _ in devices])
        elif op.kind in ("matmul", "expert_matmul", "attention") or op.kv_group > 1:
            priced.parts.append(_roofline(op, *_rate_figures(op, devices, priced.stacked), *shared))
        else:  # the vector rate, as for every operator of its kind
            priced.parts.append(_roofline(op, *vector, *shared))
    return priced


class _Collectives(list):
    """A collective's (members, CollectiveCost) for each group of members on the same spans."""


class PricedOps:
    """A graph's operators priced on several `members` at once (`op_costs_on`): per operator, its
    (compute, memory, time) or, for a collective, its `_Collectives`, with the members along a
    leading axis followed by `ndim` axes (the most any of its sizes has); an offload's records.
    A member's OpCost records are made when first asked for: a table of predictions reads only
    the step's time."""

    def __init__(self, ops: tuple, members: list[tuple]):
        self.ops, self.members = ops, members
        self.devices = [(system.accelerator, profile) for system, profile, _ in members]
        self.ndim = max((max(_ndim(op.flops), _ndim(op.bytes), _ndim(op.tokens), _ndim(op.message_bytes))
                         for op in ops), default=0) if len(members) > 1 else 0
        self.parts: list = []
        self._records: dict[int, tuple[OpCost, ...]] = {}
        self._on_spans: dict[str, list] = {}
        self._stacks: dict[tuple, np.ndarray] = {}

    def stacked(self, values):
        """Values of members along a new leading axis, followed by `ndim` axes (each value's own
        shape at the end, so that it broadcasts as the value would); one value shared by all of
        them as it is."""
        if len(values) == 1 or all(value is values[0] for value in values):
            return values[0]
        key = tuple(values) if all(type(value) is float for value in values) else None
        if key in self._stacks:  # numbers are kept: every operator asks for a few of the same
            return self._stacks[key]
        array = np.array(values)
        array = array.reshape(array.shape[:1] + (1,) * (self.ndim + 1 - array.ndim) + array.shape[1:])
        if key is not None:
            self._stacks[key] = array
        return array

    def of(self, values, member: int, shape: tuple | None = None):
        """The `member`-th value of stacked `values` (in `shape`, else with `ndim` axes)."""
        if len(self.members) == 1 or _ndim(values) <= self.ndim:  # the same for every member
            return values
        return values[member] if shape is None else values[member].reshape(shape)

    def collectives(self, op: Op) -> list[tuple]:
        """(members, CollectiveCost) of a collective for each group of members whose plan group
        is laid out alike on their networks (spans of the same sizes and topologies), priced
        together: their links' bandwidths and latencies, link efficiencies and call overheads
        along a leading axis."""
        if op.group not in self._on_spans:
            self._on_spans[op.group] = self._alike(op.group)
        groups = []
        for spans, group in self._on_spans[op.group]:
            profiles = [self.members[member][1] for member in group]
            groups.append((group, collective(op.collective, op.message_bytes, spans,
                                             self.stacked(tuple(profile.link_efficiency for profile in profiles)),
                                             self.stacked(tuple(profile.collective_overhead_s for profile in profiles)),
                                             **op.extra.get("options", {}))))
        return groups

    def _alike(self, name: str) -> list[tuple]:
        """(spans, members) for each group of members whose plan group `name` is laid out alike,
        the spans' bandwidths and latencies with the members along a leading axis."""
        if len(self.members) == 1:
            return [(self.members[0][2][name], [0])]
        alike: dict[tuple, list[int]] = {}
        for member, (_, _, layout) in enumerate(self.members):
            alike.setdefault(tuple((s.size, s.dim.size, s.dim.topology) for s in layout[name]), []).append(member)
        groups = []
        for group in alike.values():
            layouts = [self.members[member][2][name] for member in group]
            spans = tuple(Span(NetworkDim(span.dim.name, span.dim.size,
                                          self.stacked(tuple(layout[i].dim.bandwidth for layout in layouts)),
                                          self.stacked(tuple(layout[i].dim.latency for layout in layouts)),
                                          span.dim.topology), span.size)
                          for i, span in enumerate(layouts[0]))
            groups.append((spans, group))
        return groups

    def totals(self) -> list:
        """Seconds of all instances of each operator, the members along a leading axis."""
        if len(self.members) == 1:
            return [c.total for c in self.records(0)]
        totals = []
        for op, part in zip(self.ops, self.parts):
            if isinstance(part, _Collectives):  # each group's times in its members' places
                shape = np.shape(op.message_bytes)
                times = np.empty((len(self.members),) + (1,) * (self.ndim - len(shape)) + shape)
                for group, cost in part:
                    times[group] = cost.time
                totals.append(times * op.count)
            elif isinstance(part, list):
                totals.append(self.stacked(tuple(c.total for c in part)))
            else:
                totals.append(part[2] * op.count)
        return totals

    def costs_of(self, member: int) -> Sequence[OpCost]:
        """The OpCost records of `member`'s operators (made when first read where there are
        several members)."""
        return self.records(member) if len(self.members) == 1 else _Records(self, member)

    def records(self, member: int) -> tuple[OpCost, ...]:
        if member not in self._records:
            self._records[member] = tuple(self._record(op, part, member) for op, part in zip(self.ops, self.parts))
        return self._records[member]

    def _record(self, op: Op, part, member: int) -> OpCost:
        if isinstance(part, _Collectives):
            (group, cost), = ((group, cost) for group, cost in part if member in group)
            k, shape = group.index(member), np.shape(op.message_bytes)
            time, algorithm = self.of(cost.time, k, shape), cost.choice
            if len(group) > 1:
                times = algorithm.times and tuple(self.of(t, k, shape) for t in algorithm.times)
                algorithm = Choice(times, algorithm.names, algorithm.shape)
            return OpCost(op, time, ZERO, ZERO, time, 0.0, algorithm=algorithm)
        if isinstance(part, list):
            return part[member]
        acc, profile = self.devices[member]
        if len(self.members) == 1:
            compute, memory, time = part
        else:
            compute, memory, time = (self.of(p, member, shape) for p, shape in zip(part, _shapes(op, acc, profile)))
        return OpCost(op, time, compute, memory, ZERO, profile.kernel_overhead_s)


class _Records(Sequence):
    """One member's OpCost records of `PricedOps`, made when first read."""

    def __init__(self, priced: PricedOps, member: int):
        self.priced, self.member = priced, member

    @functools.cached_property
    def all(self) -> tuple[OpCost, ...]:
        return self.priced.records(self.member)

    def __getitem__(self, index):
        return self.all[index]

    def __len__(self) -> int:
        return len(self.priced.ops)


def _offload_cost(op: Op, acc) -> OpCost:
    """Seconds of streaming an operator's offloaded bytes from host memory."""
    require(acc.host_link_bandwidth > 0, "offload", op.name, f"{acc.name} lists no host link to stream from")
    stream = (real(op.weight_bytes) + op.kv_bytes) / acc.host_link_bandwidth
    return OpCost(op, stream, ZERO, ZERO, ZERO, 0.0, stream)


def _rate_figures(op: Op | None, devices: list[tuple], stack) -> tuple:
    """The figures of each of `devices`, (accelerator, profile), that an operator's rate and bytes
    take, through `stack` (`PricedOps.stacked`): the peak, efficiency and fill its rate is made
    of (`_rate`; the vector rate alone for an operator of no matrix product, or None), and the
    share of the cache a decode kernel re-reads per extra query head."""
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
    heights = {profile.tile_tokens for _, profile in devices}
    units = [getattr(acc, "compute_units", None) for acc, _ in devices]
    shape_fills = [weight_fill(op, acc) for acc, _ in devices]
    if len(devices) == 1 or len(heights) > 1 or None in units:
        fills = [operator_fill(op, profile.tile_tokens, count) for (_, profile), count in zip(devices, units)]
        return stack([fill if shape_fill == 1.0 else fill * shape_fill for fill, shape_fill in zip(fills, shape_fills)])
    fill = spread_fill(*operator_tiles(op, heights.pop()), stack(units))
    return fill if all(shape_fill == 1.0 for shape_fill in shape_fills) else fill * stack(shape_fills)


def _device_figures(devices: list[tuple], stack) -> tuple:
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


def _roofline(op: Op, peak, efficiency, fill, reread, vector_rate, bandwidth, exposed, overhead):
    """(compute, memory, time) seconds of one instance of an operator from its `_rate_figures`
    and `_device_figures` (module docstring)."""
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


def _shapes(op: Op, acc, profile: Profile) -> tuple:
    """The shapes of (compute, memory, time) `_roofline` gives on one device."""
    peak, efficiency, fill, _ = map(np.shape, _rate_figures(op, [(acc, profile)], _first))
    vector_rate, bandwidth, exposed, overhead = map(np.shape, _device_figures([(acc, profile)], _first))
    compute = _broadcast(np.shape(op.flops), peak, efficiency, fill)
    if nonzero(op.dequant_elements):
        compute = _broadcast(compute, np.shape(op.dequant_elements), np.shape(op.tokens), vector_rate)
    memory = _broadcast(np.shape(op.bytes), bandwidth)
    return compute, memory, _broadcast(compute, memory, exposed, overhead)


def _first(values):
    return values[0]


def _ndim(value) -> int:
    """Axes of a number or array (NumPy's own `ndim` takes several times as long)."""
    return getattr(value, "ndim", 0)


@functools.lru_cache(maxsize=256)
def _broadcast(*shapes: tuple) -> tuple:
    return np.broadcast_shapes(*shapes)


def host_work(ops, profile: Profile, sequences=0.0, graphs=True, workers: int = 0):
    """Engine seconds per step of operators `ops` beyond its kernels: the per-step, per-sequence
    and per-worker work (`workers`: devices of the replica beyond the first) and, for a step not
    replayed from a captured graph (any step with a prompt, or decode in an eager engine), each
    kernel's host launch beyond its device gap (`graphs` may be an array, per decode context)."""
    eager = False if graphs is True else np.logical_not(graphs)
    launches = _launches(ops, profile) * eager if np.any(eager) else 0.0
    return (profile.step_overhead_s + profile.sequence_overhead_s * sequences + profile.worker_overhead_s * workers
            + launches)


def launch_time(costs: list[OpCost], profile: Profile) -> float:
    """Host seconds launching a step's kernels one by one, beyond their device gaps."""
    return _launches([c.op for c in costs], profile)


def _launches(ops, profile: Profile) -> float:
    return sum(op.count for op in ops) * max(profile.host_launch_s - profile.kernel_overhead_s, 0.0)


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
