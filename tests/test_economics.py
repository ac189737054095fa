"""Cost per token and the energy model: proportionality, bounds, and which workloads draw more."""

import numpy as np
import pytest

from llmsizer.economics import IDLE_FRACTION, cost_per_million_tokens, energy_per_token, power
from llmsizer.errors import ConfigError
from llmsizer.inference.batch import evaluate
from llmsizer.inference.estimate import estimate
from llmsizer.inference.scenario import scenario
from llmsizer.inference.workload import Workload


def test_cost_formula_and_proportionality():
    base = cost_per_million_tokens(1000.0, 8, 2.0)
    assert base == pytest.approx(2.0 * 8 / 3600 / 1000 * 1e6)
    assert cost_per_million_tokens(1000.0, 8, 4.0) == pytest.approx(2 * base)
    assert cost_per_million_tokens(500.0, 8, 2.0) == pytest.approx(2 * base)
    prices = cost_per_million_tokens(np.array([1000.0, 2000.0]), 8, np.array([[2.0], [4.0]]))
    assert prices.shape == (2, 2) and prices[1, 1] == pytest.approx(base)


def test_power_runs_from_idle_to_tdp():
    assert power(700.0, 0.0) == pytest.approx(IDLE_FRACTION * 700)
    assert power(700.0, 1.0) == pytest.approx(700.0)
    assert power(700.0, 2.0) == pytest.approx(700.0)


@pytest.mark.parametrize("options", [
    dict(hardware="h100", batch=8, input=1024, output=128),
    dict(hardware="h100", devices=2, tp=2, batch=32, input=2048, output=64),
    dict(hardware="h100", devices=4, tp=2, pp=2, batch=8, input=512, output=32),
    dict(system="dgx-h100", tp=4, batch=4, input=512, output=32),  # two data-parallel replicas
])
def test_energy_per_token_between_idle_and_tdp(options):
    est = estimate("llama-3.1-8b", **options)
    energy = energy_per_token(est)
    tdp = est.scenario.system.accelerator.tdp_w
    devices = est.scenario.plan.devices
    tokens = est.scenario.plan.dp * options["batch"] * options["output"]
    seconds = float(est.e2e)
    low = IDLE_FRACTION * tdp * devices * seconds / tokens
    high = tdp * devices * seconds / tokens
    assert low <= float(energy.joules_per_token) <= high
    assert IDLE_FRACTION * tdp <= float(energy.average_power_w) <= tdp


def test_compute_bound_prefill_draws_more_than_small_decode():
    prefill_heavy = estimate("llama-3.1-8b", "h100", batch=16, input=4096, output=1)
    small_decode = estimate("llama-3.1-8b", "h100", batch=1, input=16, output=256)
    assert prefill_heavy.prefill.bound == "compute"
    heavy_w, small_w = (float(energy_per_token(e).average_power_w) for e in (prefill_heavy, small_decode))
    assert heavy_w > small_w


def test_larger_batches_spend_less_energy_per_token():
    small, large = (energy_per_token(estimate("llama-3.1-8b", "h100", batch=b, input=512, output=128)) for b in (1, 64))
    assert float(large.joules_per_token) < float(small.joules_per_token)


def test_energy_is_vectorised_over_workloads():
    inputs, outputs = np.array([128, 1024, 8192]), np.array([256, 256, 64])
    many = energy_per_token(evaluate(scenario("llama-3.1-8b", "h100"), Workload(8, inputs, outputs)))
    for i, (n_in, n_out) in enumerate(zip(inputs, outputs)):
        one = energy_per_token(estimate("llama-3.1-8b", "h100", batch=8, input=int(n_in), output=int(n_out)))
        assert many.joules_per_token[i] == pytest.approx(float(one.joules_per_token), rel=1e-6)


def test_accelerator_without_tdp_is_refused():
    with pytest.raises(ConfigError, match="SambaNova-SN40L.tdp_w = 0: energy needs the accelerator's TDP"):
        energy_per_token(estimate("llama-3.1-8b", "sn40l", batch=1, input=128, output=16))
