"""Memory per device: weights under every split, fit, and the largest batch."""

import numpy as np
import pytest

from llmsizer.inference.memory import memory_breakdown, runtime_reserve, weight_bytes_per_device
from llmsizer.models.params import parameter_count
from llmsizer.models.zoo import load_model
from llmsizer.ops.base import Sizes
from llmsizer.parallel import Plan
from llmsizer.precision import Precisions, quant_preset
from llmsizer.units import GIB

BF16 = Precisions()


def test_unsplit_weights_are_all_parameters_at_their_precision():
    m = load_model("llama-3.1-8b")
    assert weight_bytes_per_device(m, Plan(), Sizes.of(BF16)) == parameter_count(m).total * 2


def test_splits_divide_weights():
    m = load_model("llama-3.1-70b")
    sizes = Sizes.of(BF16)
    one = weight_bytes_per_device(m, Plan(), sizes)
    assert weight_bytes_per_device(m, Plan(tp=8), sizes) == pytest.approx(one / 8, rel=0.001)
    assert weight_bytes_per_device(m, Plan(pp=4), sizes) == pytest.approx(one / 4, rel=0.03)


def test_expert_parallel_places_experts():
    m = load_model("mixtral-8x7b")
    sizes = Sizes.of(BF16)
    # ep inside the tp group: same bytes per device as splitting every expert's width
    assert weight_bytes_per_device(m, Plan(tp=8, ep=8), sizes) == pytest.approx(
        weight_bytes_per_device(m, Plan(tp=8), sizes), rel=0.001)


def test_int4_weight_only_halves_int8_weights_plus_scale_bytes():
    m = load_model("llama-3.1-8b")
    int8 = weight_bytes_per_device(m, Plan(), Sizes.of(quant_preset("w8a16")))
    int4 = weight_bytes_per_device(m, Plan(), Sizes.of(quant_preset("awq-int4")))
    tables = 2 * m.vocab * m.hidden * 2 + m.hidden * 2  # vocabulary tables stay 16-bit
    layers = parameter_count(m).total - 2 * m.vocab * m.hidden - m.hidden
    assert int8 == pytest.approx(layers * 1 + tables)
    scales = layers * 2.5 / 128  # an fp16 scale and a packed int4 zero per group of 128
    assert int4 - scales - tables == pytest.approx((int8 - tables) / 2)


def test_block_scaled_fp4_presets():
    nvfp4, mxfp4 = quant_preset("nvfp4"), quant_preset("mxfp4")
    assert nvfp4.weight_bytes() == 0.5 + 1 / 16 and nvfp4.activations == "fp4"
    assert mxfp4.weight_bytes() == 0.5 + 1 / 32 and mxfp4.activations == "bf16"
    assert quant_preset("kv-int4").kv_bytes == 0.5 + 4 / 64


def test_largest_batch_fits_and_one_more_does_not():
    m = load_model("llama-2-13b")
    capacity = 80 * GIB
    mem = memory_breakdown(m, Plan(), BF16, capacity, 1, 2048, 2048)
    best = int(mem.max_batch)
    assert best > 1
    assert bool(memory_breakdown(m, Plan(), BF16, capacity, best, 2048, 2048).fits)
    assert not bool(memory_breakdown(m, Plan(), BF16, capacity, best + 1, 2048, 2048).fits)


def test_model_too_large_does_not_fit_and_max_batch_is_zero():
    mem = memory_breakdown(load_model("llama-3.1-405b"), Plan(), BF16, 80 * GIB, 1, 128, 128)
    assert not bool(mem.fits) and int(mem.max_batch) == 0


def test_reserve_is_stated():
    assert runtime_reserve(80 * GIB) == pytest.approx(GIB + 0.05 * 80 * GIB)


def test_arrays_broadcast():
    m = load_model("llama-3.1-8b")
    mem = memory_breakdown(m, Plan(), BF16, 80 * GIB, np.array([1, 8, 64]), 1024, 1024)
    assert mem.kv_cache.shape == (3,) and np.all(np.diff(mem.total) > 0)


def test_cli_quant_presets_match_the_precision_module():
    from llmsizer.cli import QUANT_PRESETS as listed
    from llmsizer.precision import QUANT_PRESETS

    assert listed == list(QUANT_PRESETS)
