"""One graph's operators priced on several devices and engines at once: a table's rows that
share a model, split and precisions on different hardware or under different engines.

Each operator's roofline terms are worked out once for all of them, their figures (peaks,
efficiencies, fills, bandwidths, a collective's links) along a leading axis: one NumPy call per
term of the formula rather than one per device, which is what takes the time on a table's few
rows. Each device's OpCost records, the same as `op_costs` gives it alone, are made only when
read: a table of predictions reads only the step's time.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

from ..arrays import nonzero
from ..hardware.spec import NetworkDim, Span
from ..ops.base import Op
from .collectives import Choice
from .profile import Profile
from .roofline import (ZERO, OpCost, collective_of, device_figures, offload_cost, op_costs, own_rate, rate_figures,
                       roofline_parts, single)


def op_costs_on(ops, members: list[tuple]) -> "PricedOps":
    """`op_costs` of one graph on each of `members`, (system, profile, layout) whose figures are
    numbers (a table's hardware and engines). An operator is priced on every member at once, the
    members' figures along a leading axis: one NumPy call per term of the formula rather than
    one per member (on a table's few rows the calls, not the arithmetic, take the time)."""
    priced = PricedOps(tuple(ops), members)
    if len(members) == 1:
        priced.keep(0, op_costs(priced.ops, *members[0]))
        return priced
    devices = priced.devices
    shared = device_figures(devices, priced.stacked)
    vector = rate_figures(None, devices, priced.stacked)
    for op in priced.ops:
        if op.kind == "collective":
            priced.parts.append(_Collectives(priced.collectives(op)))
        elif op.kind == "offload":
            priced.parts.append([offload_cost(op, acc) for acc, _ in devices])
        else:
            rate = rate_figures(op, devices, priced.stacked) if own_rate(op) else vector
            priced.parts.append(roofline_parts(op, *rate, *shared))
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
        first = values[0]
        numbers = type(first) in (float, int)
        if len(values) == 1 or (values.count(first) if numbers else sum(v is first for v in values)) == len(values):
            return first
        key = tuple(values) if numbers else None
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
            efficiency = self.stacked([profile.link_efficiency for profile in profiles])
            overhead = self.stacked([profile.collective_overhead_s for profile in profiles])
            groups.append((group, collective_of(op, spans, efficiency, overhead)))
        return groups

    def _alike(self, name: str) -> list[tuple]:
        """(spans, members) for each group of members whose plan group `name` is laid out alike,
        the spans' bandwidths and latencies with the members along a leading axis."""
        alike: dict[tuple, list[int]] = {}
        for member, (_, _, layout) in enumerate(self.members):
            alike.setdefault(tuple((s.size, s.dim.size, s.dim.topology) for s in layout[name]), []).append(member)
        groups = []
        for group in alike.values():
            layouts = [self.members[member][2][name] for member in group]
            spans = tuple(Span(NetworkDim(span.dim.name, span.dim.size,
                                          self.stacked([layout[i].dim.bandwidth for layout in layouts]),
                                          self.stacked([layout[i].dim.latency for layout in layouts]),
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
                totals.append(self.stacked([c.total for c in part]))
            else:
                totals.append(part[2] * op.count)
        return totals

    def costs_of(self, member: int) -> Sequence[OpCost]:
        """The OpCost records of `member`'s operators (made when first read where there are
        several members)."""
        return self.records(member) if len(self.members) == 1 else _Records(self, member)

    def keep(self, member: int, records: tuple[OpCost, ...]) -> None:
        """Take `member`'s records as worked out elsewhere (one member: `op_costs`)."""
        self._records[member] = records

    def records(self, member: int) -> tuple[OpCost, ...]:
        """`member`'s OpCost records, made once."""
        if member not in self._records:
            self._records[member] = tuple(self._record(op, part, member) for op, part in zip(self.ops, self.parts))
        return self._records[member]

    def _record(self, op: Op, part, member: int) -> OpCost:
        """`member`'s record of an operator from its stacked `part`, in the shapes `op_costs` gives."""
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


def _shapes(op: Op, acc, profile: Profile) -> tuple:
    """The shapes of (compute, memory, time) `roofline_parts` gives on one device."""
    peak, efficiency, fill, _ = map(np.shape, rate_figures(op, [(acc, profile)], single))
    vector_rate, bandwidth, exposed, overhead = map(np.shape, device_figures([(acc, profile)], single))
    compute = _broadcast(np.shape(op.flops), peak, efficiency, fill)
    if nonzero(op.dequant_elements):
        compute = _broadcast(compute, np.shape(op.dequant_elements), np.shape(op.tokens), vector_rate)
    memory = _broadcast(np.shape(op.bytes), bandwidth)
    return compute, memory, _broadcast(compute, memory, exposed, overhead)


def _ndim(value) -> int:
    """Axes of a number or array (NumPy's own `ndim` takes several times as long)."""
    return getattr(value, "ndim", 0)


@functools.lru_cache(maxsize=256)
def _broadcast(*shapes: tuple) -> tuple:
    return np.broadcast_shapes(*shapes)
