"""Collective times on a network of spans: hops x latency plus bytes over link bandwidth.

A group sits on one span per network dimension it uses (innermost first). On one span of n
devices each collective can run as a ring (valid everywhere), a recursive halving-doubling tree
(power-of-two groups on a switch or full mesh) or one direct step (switch or full mesh); the
cheapest wins for each message size. An all-reduce moves 2(n-1)/n of the message per device,
reduce-scatter and all-gather (n-1)/n. Over several spans a slow outer dimension should only
carry 1/n1 of the message, so a hierarchical schedule competes with one flat ring at the slowest
span's bandwidth; an all-to-all's inner and outer transfers use different links and overlap.
A group using part of a fully connected dimension only has its share of each device's links.
An expert dispatch (and its reverse, the combine) is an all-to-all that sends each token once per
destination device, and across an outer span once per destination node, forwarded inside it
(DeepEP's normal kernels): with `top_k` of `experts` picked uniformly, a token reaches
u (1 - C(E - E/u, k) / C(E, k)) of u equal units of experts.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import NamedTuple, Sequence

import numpy as np

from ..errors import ConfigError
from ..hardware.spec import Span, System
from ..arrays import real

__all__ = ["KINDS", "ROUTED", "Span", "CollectiveCost", "collective", "algorithm_times", "spans_for_group",
           "collective_time", "destinations", "routed_copies"]

#: what `message_bytes` counts: all_reduce, the tensor each device holds; reduce_scatter, each
#: device's full input (it keeps 1/n); all_gather, the gathered output (each device gives 1/n);
#: all_to_all, all one device sends, its own share included; broadcast, the root's message;
#: p2p, what one device sends another
KINDS = ("all_reduce", "reduce_scatter", "all_gather", "all_to_all", "broadcast", "p2p")
#: expert dispatch and combine: `message_bytes` counts one copy of each of the device's tokens
#: (the routing decides how many devices and nodes each copy reaches)
ROUTED = ("dispatch", "combine")

#: topologies where every device reaches every other in one hop
_ONE_HOP = ("switched", "fully_connected")


@dataclass
class Choice:
    """Which of `names` is cheapest per element: the candidates' times, compared only when a report
    asks (a sweep never does), or a single name."""

    times: tuple[np.ndarray, ...] | None
    names: tuple[str, ...]
    shape: tuple = ()

    @property
    def labels(self) -> np.ndarray:
        if self.times is None:
            return np.full(self.shape, self.names[0])
        return np.asarray(self.names)[np.stack(np.broadcast_arrays(*self.times)).argmin(axis=0)]


@dataclass
class CollectiveCost:
    """Seconds of one collective per message size, and the cheapest algorithm that gives them."""

    time: np.ndarray
    choice: Choice

    @property
    def algorithm(self) -> np.ndarray:
        return self.choice.labels


class _Link(NamedTuple):
    """A span as the algorithms see it: `n` devices, effective bandwidth, hop latency, topology
    (a named tuple: made for every span of every collective, it must be cheap to make)."""

    n: int
    bandwidth: float
    latency: float
    topology: str

    @classmethod
    def of(cls, span: Span, link_efficiency: float) -> "_Link":
        dim = span.dim
        if not 1 <= span.size <= dim.size:
            raise ConfigError(f"a span of {span.size} devices does not fit network dimension {dim.name} "
                             f"({dim.size} devices)")
        bandwidth = dim.bandwidth * link_efficiency
        if dim.topology == "fully_connected":
            bandwidth *= (span.size - 1) / (dim.size - 1)
        return cls(span.size, bandwidth, dim.latency, dim.topology)


def collective(kind: str, message_bytes, spans: Sequence[Span], link_efficiency: float = 1.0,
               overhead_s: float = 0.0, routing: tuple[int, int] | None = None) -> CollectiveCost:
    """Cost of one `kind` collective of `message_bytes` (see KINDS for what they count) over a
    group laid on `spans`, innermost first; a dispatch or combine names its `routing`, (experts,
    top_k). A group of one device costs nothing."""
    _check_kind(kind)
    if (kind in ROUTED) != (routing is not None):
        raise ValueError(f"a routing (experts, top_k) is given with a dispatch or combine and only then, not {kind}")
    message = real(message_bytes)
    links = [_Link.of(span, link_efficiency) for span in spans if span.size > 1]
    if not links:
        return CollectiveCost(np.zeros_like(message), _only("none", np.shape(message)))
    if routing is not None:
        return CollectiveCost(np.asarray(_routed(message, links, *routing) + overhead_s),
                              _only("deduplicated", np.shape(message)))
    time, algorithm = _cheapest_over(kind, message, links)
    return CollectiveCost(np.asarray(time + overhead_s), algorithm)


def destinations(units: int, experts: int, top_k: int) -> float:
    """Expected distinct units a token's `top_k` experts fall in, of `units` equal units holding
    `experts` together (picked uniformly without repeats)."""
    per_unit = experts / units
    missed = math.prod(max(experts - per_unit - i, 0.0) / (experts - i) for i in range(top_k))
    return units * (1.0 - missed)


def routed_copies(sizes: Sequence[int], experts: int, top_k: int) -> list[float]:
    """Copies of one token that cross each span (of `sizes` devices, innermost first) in a
    dispatch: one per distinct destination unit that span tells apart (a device on the innermost
    span, a node on the next), less the one already on the sender's side."""
    group, inner, copies = math.prod(sizes), 1, []
    for n in sizes:
        copies.append(destinations(group // inner, experts, top_k) * (n - 1) / n)
        inner *= n
    return copies


def algorithm_times(kind: str, message_bytes, span: Span, link_efficiency: float = 1.0) -> dict[str, np.ndarray]:
    """Seconds of every algorithm valid for `kind` on one span of two or more devices, by name."""
    _check_kind(kind)
    if kind in ROUTED:
        raise ValueError(f"a {kind} has one algorithm; cost it with collective(..., routing=...)")
    if span.size < 2:
        raise ValueError(f"a span of {span.size} device(s) has no algorithm to compare")
    message = real(message_bytes)
    return {name: np.asarray(latency + transfer)
            for name, (latency, transfer) in _options(kind, message, _Link.of(span, link_efficiency)).items()}


def spans_for_group(system: System, n: int) -> tuple[Span, ...]:
    """The spans a group of `n` devices uses: as much of each dimension as it still needs,
    innermost first."""
    spans, covered = [], 1
    for dim in system.network:
        if covered >= n:
            break
        used = min(dim.size, -(-n // covered))
        if used > 1:
            spans.append(Span(dim, used))
        covered *= used
    if covered < n:
        raise ConfigError(f"a group of {n} devices does not fit {system.name} ({system.num_devices} devices)")
    return tuple(spans)


def collective_time(kind: str, message_bytes, n: int, system: System, link_efficiency: float,
                    overhead_s: float) -> np.ndarray:
    """Seconds of one collective over a group of `n` devices on the innermost dimensions of `system`."""
    return collective(kind, message_bytes, spans_for_group(system, n), link_efficiency, overhead_s).time


def _check_kind(kind: str) -> None:
    if kind not in KINDS + ROUTED:
        raise ValueError(f"unknown collective {kind!r}; known: {', '.join(KINDS + ROUTED)}")


def _options(kind: str, message: np.ndarray, link: _Link) -> dict[str, tuple[float, np.ndarray]]:
    """(latency seconds, transfer seconds) of each algorithm valid for `kind` on one span."""
    n, alpha = link.n, link.latency
    whole = message / link.bandwidth  # seconds to move the whole message once
    share = (n - 1) / n
    one_hop = link.topology in _ONE_HOP
    if kind == "p2p":
        return {"p2p": (alpha, whole)}
    if kind == "all_to_all":
        if one_hop:
            return {"direct": (alpha, share * whole)}
        # ring and torus: the traffic crossing the bisection limits it (never below injection)
        return {"ring": ((n - 1) * alpha, max(n / 4, 1.0) * share * whole)}
    rounds = 2 if kind == "all_reduce" else 1  # an all-reduce is a reduce-scatter then an all-gather
    streamed = whole if kind == "broadcast" else rounds * share * whole
    options = {"ring": (rounds * (n - 1) * alpha, streamed)}
    if one_hop and n & (n - 1) == 0:
        options["tree"] = (rounds * math.log2(n) * alpha, streamed)
    if one_hop:
        options["direct"] = (rounds * alpha, (n - 1) * whole if kind == "broadcast" else streamed)
    return options


def _cheapest(times: dict[str, np.ndarray]) -> tuple[np.ndarray, Choice]:
    """Elementwise minimum of named times and the name attaining it (the first one on ties)."""
    values = tuple(times.values())
    return functools.reduce(np.minimum, values), Choice(values, tuple(times))


def _only(name: str, shape) -> Choice:
    return Choice(None, (name,), tuple(shape))


def _cheapest_over(kind: str, message: np.ndarray, links: list[_Link]) -> tuple[np.ndarray, Choice]:
    """(seconds, algorithm) of `kind` over one or more spans, without the per-call overhead."""
    if kind == "p2p":
        links = links[-1:]  # the two ends sit furthest apart, across the outermost span
    if len(links) == 1:
        return _cheapest({name: latency + transfer
                          for name, (latency, transfer) in _options(kind, message, links[0]).items()})
    if kind == "all_to_all":
        return _all_to_all(message, links), _only("hierarchical", np.shape(message))
    if kind == "broadcast":
        return _broadcast(message, links), _only("hierarchical", np.shape(message))
    return _cheapest({"ring": _flat_ring(kind, message, links), "hierarchical": _hierarchical(kind, message, links)})


def _time(kind: str, message: np.ndarray, links: list[_Link]) -> np.ndarray:
    return _cheapest_over(kind, message, links)[0]


def _hierarchical(kind: str, message: np.ndarray, links: list[_Link]) -> np.ndarray:
    """Inner span on the whole message, the outer spans on its 1/n1 part (and the inner span again
    for an all-reduce): the slow outer links carry the least."""
    inner, outer = links[:1], links[1:]
    part = message / inner[0].n
    if kind == "all_reduce":
        return (_time("reduce_scatter", message, inner) + _time("all_reduce", part, outer)
                + _time("all_gather", message, inner))
    return _time(kind, message, inner) + _time(kind, part, outer)


def _flat_ring(kind: str, message: np.ndarray, links: list[_Link]) -> np.ndarray:
    """One ring through every device, paced by the slowest span and its longest hop."""
    ring = _Link(math.prod(link.n for link in links), functools.reduce(np.minimum, [link.bandwidth for link in links]),
                 functools.reduce(np.maximum, [link.latency for link in links]), "ring")
    latency, transfer = _options(kind, message, ring)["ring"]
    return latency + transfer


def _all_to_all(message: np.ndarray, links: list[_Link]) -> np.ndarray:
    """Each span carries the bytes whose destination first differs along it; the spans' links
    work in parallel, so the slowest transfer counts, while every latency adds."""
    n = math.prod(link.n for link in links)
    covered, latency, transfer = 1, 0.0, np.zeros_like(message)
    for link in links:
        covered *= link.n
        # exchanging M * covered / n with this span's peers sends (link.n - 1)/n * covered/link.n of M
        (span_latency, span_transfer), = _options("all_to_all", message * covered / n, link).values()
        latency += span_latency
        transfer = np.maximum(transfer, span_transfer)
    return latency + transfer


def _broadcast(message: np.ndarray, links: list[_Link]) -> np.ndarray:
    """A tree across spans, pipelined: each span adds the latency of its best streaming broadcast
    (ring or tree; a direct send repeats the message and does not stream) and the message flows
    once at the slowest span's bandwidth."""
    latency = sum(functools.reduce(np.minimum, [span_latency for name, (span_latency, _)
                                                in _options("broadcast", message, link).items() if name != "direct"])
                  for link in links)
    return latency + message / functools.reduce(np.minimum, [link.bandwidth for link in links])


def _routed(message: np.ndarray, links: list[_Link], experts: int, top_k: int) -> np.ndarray:
    """A dispatch or combine: each span carries its deduplicated copies (as an all-to-all of
    that volume); the spans' transfers pipeline, so the slowest counts, while every latency adds."""
    latency, transfer = 0.0, np.zeros_like(message)
    sizes = [link.n for link in links]
    for link, copies in zip(links, routed_copies(sizes, experts, top_k)):
        volume = message * copies * link.n / (link.n - 1)  # _options counts the (n-1)/n leaving the sender
        (span_latency, span_transfer), = _options("all_to_all", volume, link).values()
        latency += span_latency
        transfer = np.maximum(transfer, span_transfer)
    return latency + transfer
