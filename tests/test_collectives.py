"""Collective costs: closed forms on one span, algorithm choice, hierarchy across spans."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from llmsizer.cost.collectives import (KINDS, Span, algorithm_times, collective, collective_time,
                                       spans_for_group)
from llmsizer.hardware.spec import TOPOLOGIES, Accelerator, NetworkDim, System

B, A, M = 450e9, 1e-6, 1e6  # bytes/s, seconds per hop, bytes
NVLINK = NetworkDim("nvlink", 8, B, A, "switched")
RING = NetworkDim("ici", 8, B, A, "ring")
B_OUT, A_OUT = 50e9, 5e-6
IB = NetworkDim("ib", 16, B_OUT, A_OUT, "switched")


def test_ring_all_reduce_example():
    times = algorithm_times("all_reduce", M, Span(RING, 8))
    assert list(times) == ["ring"]
    assert times["ring"] == pytest.approx(14e-6 + 2 * 7 / 8 * 1e6 / 450e9, rel=1e-12)


@pytest.mark.parametrize("kind, expected", [
    ("all_reduce", {"ring": 14 * A + 2 * 7 / 8 * M / B, "tree": 6 * A + 2 * 7 / 8 * M / B,
                    "direct": 2 * A + 2 * 7 / 8 * M / B}),
    ("reduce_scatter", {"ring": 7 * A + 7 / 8 * M / B, "tree": 3 * A + 7 / 8 * M / B, "direct": A + 7 / 8 * M / B}),
    ("all_gather", {"ring": 7 * A + 7 / 8 * M / B, "tree": 3 * A + 7 / 8 * M / B, "direct": A + 7 / 8 * M / B}),
    ("broadcast", {"ring": 7 * A + M / B, "tree": 3 * A + M / B, "direct": A + 7 * M / B}),
    ("all_to_all", {"direct": A + 7 / 8 * M / B}),
    ("p2p", {"p2p": A + M / B}),
])
def test_closed_forms_on_a_switched_span(kind, expected):
    times = algorithm_times(kind, M, Span(NVLINK, 8))
    assert set(times) == set(expected)
    for name, seconds in expected.items():
        assert times[name] == pytest.approx(seconds, rel=1e-12), name
    cost = collective(kind, M, [Span(NVLINK, 8)])
    best = min(expected, key=expected.get)
    assert cost.time == pytest.approx(expected[best], rel=1e-12)
    assert cost.algorithm == best


@pytest.mark.parametrize("kind, expected", [
    ("all_reduce", 14 * A + 2 * 7 / 8 * M / B),
    ("reduce_scatter", 7 * A + 7 / 8 * M / B),
    ("all_gather", 7 * A + 7 / 8 * M / B),
    ("broadcast", 7 * A + M / B),
    ("all_to_all", 7 * A + 8 / 4 * 7 / 8 * M / B),  # bisection-limited
    ("p2p", A + M / B),
])
def test_closed_forms_on_a_ring_span(kind, expected):
    cost = collective(kind, M, [Span(RING, 8)])
    assert cost.time == pytest.approx(expected, rel=1e-12)
    assert cost.algorithm == ("p2p" if kind == "p2p" else "ring")


def test_tree_needs_a_power_of_two_and_a_switch():
    assert set(algorithm_times("all_reduce", M, Span(NVLINK, 6))) == {"ring", "direct"}
    assert set(algorithm_times("all_reduce", M, Span(NVLINK, 4))) == {"ring", "tree", "direct"}
    assert set(algorithm_times("broadcast", M, Span(NetworkDim("t", 8, B, A, "torus"), 8))) == {"ring"}


def test_ring_all_reduce_moves_twice_seven_eighths_per_device():
    no_latency = NetworkDim("ici", 8, B, 0.0, "ring")
    for message in (1e3, 1e6, 1e9):
        assert collective("all_reduce", message, [Span(no_latency, 8)]).time == pytest.approx(
            2 * 7 / 8 * message / B, rel=1e-12)


def test_cheapest_algorithm_changes_with_message_size():
    span = [Span(NVLINK, 8)]
    tiny, large = collective("broadcast", [1.0, 1e9], span).algorithm
    assert tiny == "direct" and large == "tree"
    small_reduce = collective("all_reduce", 1.0, span)
    assert small_reduce.algorithm in ("direct", "tree")
    assert small_reduce.time < algorithm_times("all_reduce", 1.0, span[0])["ring"]


def test_hierarchical_all_reduce_beats_the_flat_ring_over_a_slow_outer_dimension():
    message = 1e8
    cost = collective("all_reduce", message, [Span(NVLINK, 8), Span(IB, 16)])
    reduce_scatter_inner = A + 7 / 8 * message / B                         # direct
    all_reduce_outer = 2 * A_OUT + 2 * 15 / 16 * (message / 8) / B_OUT     # direct, on M/8
    all_gather_inner = A + 7 / 8 * message / B                             # direct
    flat = 2 * 127 * A_OUT + 2 * 127 / 128 * message / B_OUT
    assert cost.algorithm == "hierarchical"
    assert cost.time == pytest.approx(reduce_scatter_inner + all_reduce_outer + all_gather_inner, rel=1e-12)
    assert cost.time < flat


@pytest.mark.parametrize("kind", ["reduce_scatter", "all_gather"])
def test_hierarchical_gather_and_scatter(kind):
    message = 1e8
    cost = collective(kind, message, [Span(NVLINK, 8), Span(IB, 16)])
    expected = (A + 7 / 8 * message / B) + (A_OUT + 15 / 16 * (message / 8) / B_OUT)
    assert cost.algorithm == "hierarchical"
    assert cost.time == pytest.approx(expected, rel=1e-12)


def test_flat_ring_is_named_when_it_ties_the_hierarchy():
    # equal bandwidths and free hops: both schedules move 2 (n-1)/n of the message
    inner = NetworkDim("a", 2, B, 0.0, "ring")
    outer = NetworkDim("b", 4, B, 0.0, "ring")
    cost = collective("all_reduce", M, [Span(inner, 2), Span(outer, 4)])
    assert cost.algorithm == "ring"
    assert cost.time == pytest.approx(2 * 7 / 8 * M / B, rel=1e-12)


def test_all_to_all_across_spans_overlaps_inner_and_outer_transfers():
    message = 1e8
    cost = collective("all_to_all", message, [Span(NVLINK, 8), Span(IB, 16)])
    inner = 7 / 128 * message / B
    outer = 120 / 128 * message / B_OUT
    assert cost.algorithm == "hierarchical"
    assert cost.time == pytest.approx(A + A_OUT + max(inner, outer), rel=1e-12)


def test_broadcast_and_p2p_across_spans():
    spans = [Span(NVLINK, 8), Span(IB, 16)]
    broadcast = collective("broadcast", M, spans)
    assert broadcast.time == pytest.approx(3 * A + 4 * A_OUT + M / B_OUT, rel=1e-12)
    assert collective("p2p", M, spans).time == pytest.approx(A_OUT + M / B_OUT, rel=1e-12)


def test_broadcast_across_spans_counts_streaming_latencies_only():
    # at 100 kB a lone 8-device span would broadcast directly (1 hop); across spans the message
    # streams, so the span adds its tree's 3 hops, and lowering its latency lowers the time
    message = 1e5
    slower = collective("broadcast", message, [Span(NVLINK, 8), Span(IB, 16)]).time
    quicker_dim = NetworkDim("nvlink", 8, B, 0.6 * A, "switched")
    quicker = collective("broadcast", message, [Span(quicker_dim, 8), Span(IB, 16)]).time
    assert collective("broadcast", message, [Span(NVLINK, 8)]).algorithm == "direct"
    assert slower == pytest.approx(3 * A + 4 * A_OUT + message / B_OUT, rel=1e-12)
    assert quicker == pytest.approx(3 * 0.6 * A + 4 * A_OUT + message / B_OUT, rel=1e-12)


def test_part_of_a_fully_connected_dimension_gets_its_share_of_the_links():
    mesh = NetworkDim("mesh", 8, B, 0.0, "fully_connected")
    four = collective("all_gather", M, [Span(mesh, 4)]).time
    assert four == pytest.approx(3 / 4 * M / (B * 3 / 7), rel=1e-12)
    whole = collective("all_gather", M, [Span(mesh, 8)]).time
    assert whole == pytest.approx(7 / 8 * M / B, rel=1e-12)


def test_link_efficiency_and_overhead():
    spans = [Span(NVLINK, 8), Span(IB, 16)]
    for kind in KINDS:
        plain = collective(kind, M, spans).time
        assert collective(kind, M, spans, overhead_s=8e-6).time == pytest.approx(plain + 8e-6, rel=1e-12)
    slowed = collective("all_gather", M, [Span(NVLINK, 8)], link_efficiency=0.5).time
    assert slowed == pytest.approx(A + 7 / 8 * M / (0.5 * B), rel=1e-12)


def test_one_device_costs_nothing_and_single_device_spans_are_ignored():
    for kind in KINDS:
        assert collective(kind, M, [], overhead_s=1e-3).time == 0.0
        assert collective(kind, M, [Span(NVLINK, 1), Span(IB, 1)], overhead_s=1e-3).time == 0.0
        padded = collective(kind, M, [Span(NVLINK, 1), Span(IB, 4)])
        alone = collective(kind, M, [Span(IB, 4)])
        assert padded.time == alone.time and padded.algorithm == alone.algorithm


def test_unknown_kind_names_the_known_ones():
    with pytest.raises(ValueError, match="all_reduce.*p2p"):
        collective("allreduce", M, [Span(NVLINK, 8)])


def test_span_larger_than_its_dimension_is_rejected():
    with pytest.raises(ValueError, match="nvlink"):
        collective("all_reduce", M, [Span(NVLINK, 9)])


@pytest.mark.parametrize("spans", [[Span(NVLINK, 8)], [Span(RING, 8)], [Span(NVLINK, 8), Span(IB, 16)]])
def test_arrays_give_the_same_times_as_scalars(spans):
    sizes = np.logspace(0, 10, 21)
    for kind in KINDS:
        together = collective(kind, sizes, spans, link_efficiency=0.8, overhead_s=5e-6)
        assert together.time.shape == sizes.shape == together.algorithm.shape
        for i, size in enumerate(sizes):
            alone = collective(kind, float(size), spans, link_efficiency=0.8, overhead_s=5e-6)
            assert together.time[i] == alone.time
            assert together.algorithm[i] == alone.algorithm
    grid = collective("all_reduce", sizes.reshape(3, 7), spans)
    assert grid.time.shape == (3, 7)


@st.composite
def network_spans(draw):
    spans = []
    for _ in range(draw(st.integers(1, 3))):
        dim = NetworkDim("d", draw(st.integers(1, 16)), draw(st.floats(1e9, 1e12)), draw(st.floats(0.0, 1e-4)),
                         draw(st.sampled_from(TOPOLOGIES)))
        spans.append(Span(dim, draw(st.integers(1, dim.size))))
    return spans


@settings(max_examples=300, deadline=None)
@given(kind=st.sampled_from(KINDS), spans=network_spans(),
       message=st.just(0.0) | st.floats(0.0, 10.0).map(lambda e: 10.0 ** e), data=st.data())
def test_faster_links_never_make_a_collective_slower(kind, spans, message, data):
    i = data.draw(st.integers(0, len(spans) - 1))
    dim = spans[i].dim
    better_dim = NetworkDim(dim.name, dim.size, dim.bandwidth * data.draw(st.floats(1.0, 10.0)),
                            dim.latency * data.draw(st.floats(0.0, 1.0)), dim.topology)
    better = spans[:i] + [Span(better_dim, spans[i].size)] + spans[i + 1:]
    before = collective(kind, message, spans).time
    after = collective(kind, message, better).time
    assert after <= before * (1 + 1e-12) + 1e-18


def _system():
    accelerator = Accelerator(name="test-gpu", peak_flops={"bf16": 1e15}, memory_capacity=80e9,
                              memory_bandwidth=3e12)
    return System("two-level", accelerator, (NVLINK, NetworkDim("ib", 4, B_OUT, A_OUT, "switched")))


def test_spans_for_group_takes_the_innermost_dimensions():
    system = _system()
    assert spans_for_group(system, 1) == ()
    assert spans_for_group(system, 4) == (Span(NVLINK, 4),)
    assert spans_for_group(system, 16) == (Span(NVLINK, 8), Span(system.network[1], 2))
    assert spans_for_group(system, 32) == (Span(NVLINK, 8), Span(system.network[1], 4))


@pytest.mark.parametrize("n", [1, 2, 8, 16, 32])
def test_collective_time_is_collective_over_the_groups_spans(n):
    system = _system()
    sizes = np.array([1e3, 1e6, 1e9])
    for kind in KINDS:
        expected = collective(kind, sizes, spans_for_group(system, n), 0.7, 8e-6).time
        assert np.array_equal(collective_time(kind, sizes, n, system, 0.7, 8e-6), expected)


def test_a_group_larger_than_the_system_is_rejected():
    with pytest.raises(ValueError, match=r"two-level.*32 devices"):
        spans_for_group(_system(), 33)
    assert math.prod(s.size for s in spans_for_group(_system(), 32)) == 32
