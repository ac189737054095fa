"""Operators, memory and plan rules of the newer mixers against closed forms derived by hand."""

import json

import numpy as np
import pytest

from conftest import FIXTURES
from llmsizer.errors import ConfigError
from llmsizer.inference.memory import cache_bytes_per_sequence
from llmsizer.models.hf import model_from_hf_config
from llmsizer.models.params import parameter_count
from llmsizer.ops.base import Segment, Sizes, Step, decode_step, prefill_step
from llmsizer.ops.graph import step_ops
from llmsizer.parallel import Plan
from llmsizer.precision import Precisions
from test_ops import ctx_for, total

SIZES = Sizes.of(Precisions())


def fixture(model_type):
    return model_from_hf_config(json.loads((FIXTURES / "hf_configs" / f"{model_type}.json").read_text()), model_type)


def ops_named(ops, name):
    return [op for op in ops if op.name == name]


def test_gated_deltanet_prefill_is_chunked_on_matrix_units():
    """Per token and value head, C = 64 and dk = dv = 128: 2 C (3 dk + 2 dv) + 6 dk dv + C^2 / 3
    (Q K^T, K K^T, W, U, scores x values; W.S, Q.S and the state update; the triangular inverse)."""
    m = fixture("qwen3_next")
    linear = m.layer_sequence()[0].mixer
    H, dk, dv, C = linear.num_heads, linear.head_k_dim, linear.head_v_dim, 64
    batch, L = 2, 4096
    (scan,) = ops_named(step_ops(ctx_for(m), prefill_step(batch, L)), "chunked_scan")
    per_token = H * (2 * C * (3 * dk + 2 * dv) + 6 * dk * dv + C * C / 3)
    assert float(scan.flops) == pytest.approx(batch * L * per_token, rel=1e-12)
    assert scan.count == 36 and scan.kind == "matmul" and float(scan.tokens) == C
    assert float(scan.kv_bytes) == 2 * batch * H * dk * dv * 2  # state read and written once per sequence


def test_gated_deltanet_decode_updates_the_state_on_vector_units():
    m = fixture("qwen3_next")
    linear = m.layer_sequence()[0].mixer
    H, dk, dv = linear.num_heads, linear.head_k_dim, linear.head_v_dim
    (step,) = ops_named(step_ops(ctx_for(m), decode_step(8, 50_000)), "recurrent_step")
    assert float(step.flops) == 7 * 8 * H * dk * dv and step.kind == "scan"
    assert float(step.kv_bytes) == 2 * 8 * H * dk * dv * 2


def test_lightning_attention_costs_per_head_chunks_of_256():
    """MiniMax-M1: per token and head, 2 C (dk + dv) + 4 dk dv with C = min(prompt, 256); a decode
    token 5 FLOPs per state element; the 70 lightning layers hold no KV cache."""
    m = fixture("minimax_m1")
    H, d = 64, 128
    for L, C in ((100, 100), (8192, 256)):
        (scan,) = ops_named(step_ops(ctx_for(m), prefill_step(1, L)), "chunked_scan")
        assert float(scan.flops) == L * H * (2 * C * 2 * d + 4 * d * d) and scan.count == 70
    (step,) = ops_named(step_ops(ctx_for(m), decode_step(4, 10_000)), "recurrent_step")
    assert float(step.flops) == 5 * 4 * H * d * d


def test_linear_attention_state_does_not_grow_with_the_context():
    """Only Qwen3-Next's 12 gated-attention layers grow: 2 (K, V) x 2 KV heads x 256 x 2 bytes per
    token each; the 36 DeltaNet layers hold 32 x 128 x 128 state + conv window whatever the length."""
    m = fixture("qwen3_next")
    short, long = (float(cache_bytes_per_sequence(m, Plan(), SIZES, c)) for c in (1_000, 101_000))
    assert long - short == 12 * 2 * 2 * 256 * 2 * 100_000
    state = 36 * (32 * 128 * 128 + (2 * 2048 + 4096) * 3) * 2
    assert short == 12 * 2 * 2 * 256 * 2 * 1_000 + state


def test_sparse_attention_indexer_scores_every_key_and_attention_reads_top_k():
    """DeepSeek-V3.2 decode at 100k cached tokens: the indexer computes 2 x 64 x (128 + 1) FLOPs
    per (query, key) pair over all 100,001 keys and reads every cached index key (128 elements);
    the absorbed MLA attends to the top 2,048 latents only."""
    m = fixture("deepseek_v32")
    ctx, context = ctx_for(m), 100_000
    ops = step_ops(ctx, decode_step(1, context))
    scores, _ = ops_named(ops, "index_scores")  # dense-first and MoE layers, one operator each
    keys = context + 1
    assert float(scores.flops) == 2 * 64 * 129 * keys
    assert float(scores.kv_bytes) == keys * 128 * 2
    attention, _ = ops_named(ops, "attention")
    assert float(attention.kv_bytes) == 2048 * (512 + 64) * 2
    assert float(attention.flops) == 2 * 128 * (576 + 512) * 2048
    # the cache holds the latent and the index key of every token
    assert float(cache_bytes_per_sequence(m, Plan(), SIZES, context)) == 61 * context * (576 + 128) * 2


def test_sparse_attention_prefill_pairs_are_capped_at_top_k():
    m = fixture("deepseek_v32")
    L = 8192
    ops = step_ops(ctx_for(m), prefill_step(1, L))
    capped = 2048 * 2049 / 2 + (L - 2048) * 2048
    attention, _ = ops_named(ops, "attention")
    assert float(attention.flops) == pytest.approx(2 * 128 * (576 + 512) * capped, rel=1e-12)
    scores, _ = ops_named(ops, "index_scores")
    assert float(scores.flops) == pytest.approx(2 * 64 * 129 * L * (L + 1) / 2, rel=1e-12)


def test_gpt_oss_sliding_layers_cap_their_cache_at_128_tokens():
    m = fixture("gpt_oss")
    per_token_layer = 2 * 8 * 64 * 2
    assert float(cache_bytes_per_sequence(m, Plan(), SIZES, 10_000)) == 18 * per_token_layer * (10_000 + 128)
    ops = step_ops(ctx_for(m), decode_step(1, 10_000))
    reads = sorted(float(op.kv_bytes) for op in ops if op.kind == "attention")
    assert reads == [128 * per_token_layer, 10_001 * per_token_layer]


def test_attention_output_gate_widens_the_query_projection():
    m = fixture("qwen3_next")
    ops = step_ops(ctx_for(m), prefill_step(1, 10))
    qkv = next(op for op in ops if op.name == "qkv_proj")
    assert float(qkv.flops) == 2 * 10 * 2048 * (2 * 16 * 256 + 2 * 2 * 256)
    assert len(ops_named(ops, "output_gate")) == 1


def test_parallel_hybrid_runs_both_mixers_and_sums_their_state():
    m = fixture("falcon_h1")
    ops = step_ops(ctx_for(m), prefill_step(1, 1000))
    names = {op.name for op in ops}
    assert {"attention", "chunked_scan", "qkv_proj", "in_proj"} <= names
    per_layer_kv = 2 * 2 * 64 * 2
    state = (24 * 64 + 2 * 128) * 3 + 24 * 64 * 128
    assert float(cache_bytes_per_sequence(m, Plan(), SIZES, 1000)) == 36 * (per_layer_kv * 1000 + state * 2)


def test_mlp_only_layers_run_no_mixer():
    m = fixture("nemotron_h")
    ops = step_ops(ctx_for(m), decode_step(1, 100))
    assert sum(op.count for op in ops if op.kind == "attention") == 10
    assert sum(op.count for op in ops if op.name == "recurrent_step") == 54
    assert sum(op.count for op in ops if op.name == "up") == 54
    # decode at batch one reads every layer weight once (norm scales aside, which elementwise ops read)
    matmul_weights = total(ops, "weight_bytes", {"matmul"})
    layers = parameter_count(m).total - 2 * m.vocab * m.hidden - m.hidden
    assert matmul_weights == pytest.approx(layers * 2 + m.vocab * m.hidden * 2, rel=0.002)


def test_plan_rules_come_from_each_mixer():
    m = fixture("qwen3_next")
    Plan(tp=16).check(m)
    with pytest.raises(ConfigError, match="linear-attention key heads \\(16\\)"):
        Plan(tp=32).check(m)
    with pytest.raises(ConfigError, match="linear-attention layers scan in order"):
        Plan(cp=2).check(m)
    with pytest.raises(ConfigError, match="attention heads \\(8\\)"):  # a parallel hybrid keeps every part's rules
        Plan(tp=16).check(fixture("falcon_h1"))


def test_mixed_step_of_a_recurrent_mixer_costs_each_segment_in_its_form():
    m = fixture("qwen3_next")
    ctx = ctx_for(m)
    mixed = step_ops(ctx, Step((Segment(1, 512, 1024), Segment(16, 1, 3000, decode=True))))
    names = {op.name for op in mixed}
    assert {"chunked_scan[prefill]", "recurrent_step[decode]"} <= names
    alone = step_ops(ctx, Step((Segment(1, 512, 1024),))) + step_ops(ctx, Step((Segment(16, 1, 3000, decode=True),)))
    assert total(mixed, "flops", {"scan", "matmul"}) == pytest.approx(total(alone, "flops", {"scan", "matmul"}))


def test_cost_arithmetic_broadcasts_over_arrays():
    m = fixture("qwen3_next")
    batch = np.array([1.0, 4.0, 16.0])
    ops = step_ops(ctx_for(m), prefill_step(batch, np.array([512.0, 2048.0, 8192.0])))
    (scan,) = ops_named(ops, "chunked_scan")
    assert np.shape(scan.flops) == (3,)
    single = ops_named(step_ops(ctx_for(m), prefill_step(4.0, 2048.0)), "chunked_scan")[0]
    assert float(scan.flops[1]) == float(single.flops)
