"""KV-cache bytes per token against hand-derived values, per layer kind."""

import pytest

from llmsizer.inference.memory import cache_bytes_per_sequence, kv_bytes_per_token, recurrent_state_elements
from llmsizer.models.spec import Mamba
from llmsizer.models.zoo import load_model
from llmsizer.ops.base import Sizes
from llmsizer.parallel import Plan
from llmsizer.precision import Precisions

BF16 = Precisions()


def test_llama_3_1_70b_gqa():
    # 80 layers x (K and V) x 8 KV heads x 128 head dim x 2 bytes
    assert kv_bytes_per_token(load_model("llama-3.1-70b"), BF16) == 80 * 2 * 8 * 128 * 2 == 327_680


def test_deepseek_v3_mla_caches_latent_and_rope_key_once():
    # 61 layers x (512 latent + 64 rope) x 2 bytes, shared by all 128 heads
    assert kv_bytes_per_token(load_model("deepseek-v3"), BF16) == 61 * (512 + 64) * 2 == 70_272


def test_mistral_7b_sliding_window_caps_the_cache():
    m = load_model("mistral-7b")
    per_token = 32 * 2 * 8 * 128 * 2
    assert kv_bytes_per_token(m, BF16, context=4096) == per_token
    # past the 4096-token window the cache stops growing
    assert kv_bytes_per_token(m, BF16, context=16384) * 16384 == per_token * 4096


def test_gemma_2_interleaves_sliding_and_global_layers():
    m = load_model("gemma-2-9b")
    per_layer_token = 2 * 8 * 256 * 2  # K and V, 8 KV heads, head dim 256, bf16
    assert kv_bytes_per_token(m, BF16, context=4096) == 42 * per_layer_token
    total = kv_bytes_per_token(m, BF16, context=8192) * 8192
    assert total == 21 * per_layer_token * 8192 + 21 * per_layer_token * 4096


def test_jamba_holds_kv_only_in_attention_layers_and_state_in_mamba_layers():
    m = load_model("jamba-1.5-mini")
    sizes = Sizes.of(BF16)
    # 4 attention layers of 32 hold KV: 8 KV heads x 128 x 2 (K, V) x 2 bytes per token
    kv_per_token = 4 * 2 * 8 * 128 * 2
    mamba = Mamba(d_inner=2 * 4096, d_state=16, d_conv=4, dt_rank=256)
    state = 28 * (8192 * 3 + 8192 * 16) * 2  # conv window (d_conv - 1) and scan state, 28 Mamba layers
    assert recurrent_state_elements(mamba, Plan()) == 8192 * 3 + 8192 * 16
    for context in (1000, 100_000):
        assert float(cache_bytes_per_sequence(m, Plan(), sizes, context)) == kv_per_token * context + state


def test_tensor_parallel_splits_kv_heads_then_replicates():
    m = load_model("llama-3.1-70b")
    sizes = Sizes.of(BF16)
    one = float(cache_bytes_per_sequence(m, Plan(tp=1), sizes, 1000))
    assert float(cache_bytes_per_sequence(m, Plan(tp=8), sizes, 1000)) == pytest.approx(one / 8)
    # 16-way TP cannot split 8 KV heads further: each device keeps one
    assert float(cache_bytes_per_sequence(m, Plan(tp=16), sizes, 1000)) == pytest.approx(one / 8)


def test_fp8_kv_cache_halves_bytes():
    m = load_model("llama-3.1-8b")
    assert kv_bytes_per_token(m, Precisions(kv_cache="fp8")) * 2 == kv_bytes_per_token(m, BF16)
