"""Monotonic invariants of the performance model, checked over random scenarios."""

from dataclasses import replace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from llmsizer.hardware.spec import NetworkDim, System
from llmsizer.inference.batch import evaluate
from llmsizer.inference.scenario import scenario
from llmsizer.inference.workload import Workload

MODELS = ["llama-3.1-8b", "mixtral-8x7b", "deepseek-v2-lite", "jamba-1.5-mini", "gemma-2-9b", "mamba-2.8b"]
SCENARIOS = {(m, tp): scenario(m, "h100", tp=tp, weight_precision="bf16") for m in MODELS for tp in (1, 2)}

workloads = st.tuples(st.integers(1, 256), st.integers(1, 8192), st.integers(1, 2048))
pick = st.sampled_from(sorted(SCENARIOS))
factor = st.floats(1.0, 8.0)


def metrics(sc, batch, input, output):
    est = evaluate(sc, Workload(batch, input, output))
    return float(est.ttft), float(est.tpot), float(est.e2e)


def scaled(sc, flops=1.0, bandwidth=1.0, link=1.0, latency=1.0):
    acc = sc.system.accelerator
    acc = replace(acc, peak_flops={k: v * flops for k, v in acc.peak_flops.items()},
                  memory_bandwidth=acc.memory_bandwidth * bandwidth, vector_flops=acc.vector_flops * flops)
    network = tuple(NetworkDim(d.name, d.size, d.bandwidth * link, d.latency * latency, d.topology)
                    for d in sc.system.network)
    return replace(sc, system=System(sc.system.name, acc, network))


@settings(max_examples=60, deadline=None)
@given(pick, workloads, factor)
def test_more_resources_never_slower(key, work, k):
    sc = SCENARIOS[key]
    base = metrics(sc, *work)
    for faster in (scaled(sc, flops=k), scaled(sc, bandwidth=k), scaled(sc, link=k), scaled(sc, latency=1 / k)):
        assert all(new <= old * (1 + 1e-12) for new, old in zip(metrics(faster, *work), base))


@settings(max_examples=60, deadline=None)
@given(pick, st.integers(1, 256), st.integers(1, 8192), st.integers(1, 4096))
def test_longer_prompt_never_shortens_ttft(key, batch, input, extra):
    sc = SCENARIOS[key]
    assert metrics(sc, batch, input + extra, 16)[0] >= metrics(sc, batch, input, 16)[0]


@settings(max_examples=60, deadline=None)
@given(pick, st.integers(1, 255), st.integers(1, 4096), st.integers(1, 1024))
def test_larger_batch_never_lowers_throughput_while_it_fits(key, batch, input, output):
    sc = SCENARIOS[key]
    a = evaluate(sc, Workload(batch, input, output))
    b = evaluate(sc, Workload(batch + 1, input, output))
    if bool(b.fits):
        assert float(b.throughput) >= float(a.throughput) * (1 - 1e-12)


def test_arrays_equal_scalars():
    sc = SCENARIOS[("mixtral-8x7b", 2)]
    batch, input, output = np.array([1, 7, 64]), np.array([100, 2000, 50]), np.array([1, 30, 500])
    many = evaluate(sc, Workload(batch, input, output))
    for i in range(3):
        one = evaluate(sc, Workload(int(batch[i]), int(input[i]), int(output[i])))
        assert np.isclose(many.ttft[i], one.ttft) and np.isclose(many.tpot[i], one.tpot)
