"""One graph priced on several devices and engines at once gives each of them what pricing it on
its own gives: every part of every operator, in the same shape, the same step times, and the same
memory account from a shared demand."""

from dataclasses import replace

import numpy as np
import pytest

from llmsizer.cost.priced import op_costs_on
from llmsizer.cost.roofline import op_costs
from llmsizer.inference.batch import cost, prepare, step_costs
from llmsizer.inference.memory import scenario_demand, scenario_memory
from llmsizer.inference.scenario import scenario
from llmsizer.inference.workload import Workload

#: one model, split and precisions on hardware with and without compute units, a systolic array
#: and a different network, under different engines
MEMBERS = [("h100", "vllm"), ("mi300x", "sglang"), ("a100", "trtllm"), ("trn2", None), ("l40s", "vllm")]


def _members(model="llama-3.1-8b", tp=2, precision="bf16"):
    return [scenario(model, hardware, tp=tp, engine=engine, weight_precision=precision) for hardware, engine in MEMBERS]


WORKLOAD = Workload(np.array([1.0, 8.0, 64.0]), np.array([128.0, 2048.0, 700.0]), np.array([16.0, 256.0, 1.0]))


def _same(a, b):
    assert np.shape(a) == np.shape(b)
    np.testing.assert_allclose(np.asarray(a, dtype=float), np.asarray(b, dtype=float), rtol=1e-12, atol=0)


@pytest.mark.parametrize("model, precision", [("llama-3.1-8b", "bf16"), ("mixtral-8x7b", "fp8")])
def test_each_member_gets_the_costs_it_gets_alone(model, precision):
    scenarios = _members(model, precision=precision)
    prep = prepare(scenarios[0], WORKLOAD)
    for ops in (prep.prefill_ops, prep.decode_ops):
        together = op_costs_on(ops, [(sc.system, sc.profile, sc.layout) for sc in scenarios])
        for member, sc in enumerate(scenarios):
            alone = op_costs(ops, sc.system, sc.profile, sc.layout)
            for mine, own in zip(together.costs_of(member), alone, strict=True):
                assert mine.op is own.op and mine.overhead == own.overhead
                for part in ("time", "compute", "memory", "communication", "offload", "total"):
                    _same(getattr(mine, part), getattr(own, part))


def test_each_member_gets_the_step_times_and_metrics_it_gets_alone():
    scenarios = _members()
    prep = prepare(scenarios[0], WORKLOAD)
    together = step_costs(prep, [(sc, sc.profile) for sc in scenarios])
    for sc, steps in zip(scenarios, together, strict=True):
        alone = cost(prepare(sc, WORKLOAD))
        shared = cost(replace(prep, scenario=sc, memory=alone.memory), steps=steps)
        for phase in ("prefill", "decode"):
            _same(getattr(shared, phase).time, getattr(alone, phase).time)
            _same(getattr(shared, phase).step_overhead_s, getattr(alone, phase).step_overhead_s)
        _same(shared.ttft, alone.ttft)
        _same(shared.tpot, alone.tpot)
        assert (shared.decode.bound == alone.decode.bound).all()


def test_a_shared_memory_demand_fits_each_device_as_its_own_does():
    scenarios = _members()
    demand = scenario_demand(scenarios[0], WORKLOAD)
    for sc in scenarios:
        shared, alone = scenario_memory(sc, WORKLOAD, demand=demand), scenario_memory(sc, WORKLOAD)
        for part in ("weights", "kv_cache", "activations", "reserve", "capacity", "max_batch", "total"):
            _same(getattr(shared, part), getattr(alone, part))
        assert (np.asarray(shared.fits) == np.asarray(alone.fits)).all()
