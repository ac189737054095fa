"""Operator counts against closed forms derived by hand."""

import numpy as np
import pytest

from llmsizer.cost.profile import Profile
from llmsizer.cost.roofline import op_cost
from llmsizer.hardware.spec import System
from llmsizer.inference.memory import weight_bytes_per_device
from llmsizer.models.params import parameter_count
from llmsizer.models.zoo import load_model
from llmsizer.ops.attention import attended_pairs
from llmsizer.ops.base import Context, Segment, Sizes, decode_step, prefill_step
from llmsizer.ops.ffn import expected_experts_touched
from llmsizer.ops.graph import step_ops
from llmsizer.parallel import Plan
from llmsizer.precision import Precisions


def ctx_for(model, tp=1, weights="bf16", moe_kernel="grouped"):
    return Context(model, Plan(tp=tp), Sizes.of(Precisions.from_weight_precision(weights)), moe_kernel=moe_kernel)


def total(ops, field, kinds=None):
    return sum(float(np.sum(getattr(op, field))) * op.count for op in ops if kinds is None or op.kind in kinds)


def test_prefill_flops_are_two_params_per_token_plus_causal_attention(llama70b):
    """Matrix FLOPs = 2 x (params - embedding table) x tokens, + output head on the last token;
    attention = 4 x layers x heads x head_dim x L(L+1)/2 per sequence."""
    m = llama70b
    batch, L = 2, 1000
    ops = step_ops(ctx_for(m), prefill_step(batch, L))
    n = parameter_count(m).total
    layer_params = n - 2 * m.vocab * m.hidden - m.hidden  # minus both tables and the final norm
    norms = m.num_layers * 2 * m.hidden
    matmul = total(ops, "flops", {"matmul"})
    expected = 2 * (layer_params - norms) * batch * L + 2 * m.hidden * m.vocab * batch
    assert matmul == pytest.approx(expected, rel=1e-9)
    attention = total(ops, "flops", {"attention"})
    assert attention == pytest.approx(4 * m.num_layers * 64 * 128 * batch * L * (L + 1) / 2, rel=1e-12)


def test_decode_at_batch_one_reads_every_weight_once(llama70b):
    """One decode step reads exactly the weights that memory accounting places on the device."""
    for tp in (1, 4):
        ctx = ctx_for(llama70b, tp=tp)
        ops = step_ops(ctx, decode_step(1, 500))
        table = llama70b.vocab * llama70b.hidden / tp * ctx.sizes.embedding  # gathered, not read whole
        expected = weight_bytes_per_device(llama70b, Plan(tp=tp), ctx.sizes) - table
        assert total(ops, "weight_bytes") == pytest.approx(expected, rel=1e-12)


def test_fp8_halves_weight_bytes(llama70b):
    bf16 = total(step_ops(ctx_for(llama70b), decode_step(1, 10)), "weight_bytes", {"matmul"})
    fp8 = total(step_ops(ctx_for(llama70b, weights="fp8"), decode_step(1, 10)), "weight_bytes", {"matmul"})
    head = llama70b.vocab * llama70b.hidden * 2  # the output head stays 16-bit
    assert fp8 - head == pytest.approx((bf16 - head) / 2, rel=1e-9)


def test_moe_reads_top_k_experts_at_batch_one_and_nearly_all_at_large_batch():
    m = load_model("mixtral-8x7b")
    ffn = next(iter(m.layer_kinds())).ffn
    expert_bytes = 3 * m.hidden * ffn.expert_intermediate * 2
    ctx = ctx_for(m)

    def expert_weight_bytes(batch):
        ops = step_ops(ctx, decode_step(batch, 100))
        return total([op for op in ops if op.name.startswith("experts_")], "weight_bytes")

    assert expert_weight_bytes(1) == pytest.approx(m.num_layers * ffn.top_k * expert_bytes, rel=1e-9)
    assert expert_weight_bytes(256) == pytest.approx(m.num_layers * ffn.num_experts * expert_bytes, rel=1e-6)
    assert expected_experts_touched(8, 2, 4) == pytest.approx(8 * (1 - 0.75 ** 4))


@pytest.mark.parametrize("step, rows, loads, per_product", [
    (decode_step(16, 100), 16 * 128, 128, 16),  # 16 x 8 = 128 >= E: every expert on every row
    (decode_step(4, 100), 4 * 8, 4 * 8, 1),  # 32 < E: each row loads its own 8 experts
    (prefill_step(1, 40), 40 * 128, 128, 40),  # 320 pairs, under one 512-row block: every expert
    (prefill_step(1, 4096), 191 * 512, 191, 512),  # ceil((32768 - 127) / 512) + 127 = 191 blocks
    (prefill_step(1, 8), 8 * 8, 8 * 8, 1),  # 64 pairs < E: selective loading
])
def test_neuron_expert_kernel_does_its_fixed_shape_work(step, rows, loads, per_product):
    """NeuronX Distributed's ExpertMLPs on Qwen3-30B-A3B (128 experts, top 8, 768 wide), in closed form."""
    m = load_model("qwen/qwen3-30b-a3b")
    ffn = next(iter(m.layer_kinds())).ffn
    assert (ffn.num_experts, ffn.top_k) == (128, 8)
    experts = [op for op in step_ops(ctx_for(m, moe_kernel="nxd"), step) if op.kind == "expert_matmul"]
    per_row = 2 * m.hidden * 2 * ffn.expert_intermediate + 2 * ffn.expert_intermediate * m.hidden
    per_load = 3 * m.hidden * ffn.expert_intermediate * 2  # bf16 gate, up and down
    assert total(experts, "flops") == pytest.approx(m.num_layers * rows * per_row, rel=1e-12)
    assert total(experts, "weight_bytes") == pytest.approx(m.num_layers * loads * per_load, rel=1e-12)
    assert all(float(op.tokens) == per_product for op in experts)


def test_neuron_expert_kernel_is_slower_than_grouped_experts_where_its_shapes_are_fixed():
    m = load_model("qwen/qwen3-30b-a3b")
    grouped, nxd = ctx_for(m), ctx_for(m, moe_kernel="nxd")

    def expert_flops(ctx, step):
        return total([op for op in step_ops(ctx, step) if op.kind == "expert_matmul"], "flops")

    long = prefill_step(1, 4096)
    assert expert_flops(nxd, long) / expert_flops(grouped, long) == pytest.approx(191 * 512 / (4096 * 8), rel=1e-12)
    one = decode_step(1, 100)  # one token: both load its 8 experts
    assert expert_flops(nxd, one) == pytest.approx(expert_flops(grouped, one), rel=1e-12)


def test_sliding_window_caps_attention_work():
    seg = Segment(1, 8192, 0)
    full, windowed = attended_pairs(seg, None), attended_pairs(seg, 4096)
    assert full == 8192 * 8193 / 2
    assert windowed == 4096 * 4097 / 2 + (8192 - 4096) * 4096
    decode = Segment(1, 1, 100_000, decode=True)
    assert attended_pairs(decode, 4096) == 4096
    m = load_model("mistral-7b")
    ops = step_ops(ctx_for(m), decode_step(1, 100_000))
    attn = next(op for op in ops if op.kind == "attention")
    assert float(attn.kv_bytes) == 4096 * 2 * 8 * 128 * 2


def test_embedding_is_a_gather_and_head_runs_on_last_token_only(llama70b):
    ops = step_ops(ctx_for(llama70b), prefill_step(3, 2048))
    embed = next(op for op in ops if op.name == "embedding_gather")
    assert embed.kind == "gather" and float(np.sum(embed.flops)) == 0
    head = next(op for op in ops if op.name == "lm_head")
    assert float(head.flops) == 2 * 3 * llama70b.hidden * llama70b.vocab


def test_layers_of_one_kind_are_costed_once_and_multiplied():
    gemma = load_model("gemma-2-9b")
    ops = step_ops(ctx_for(gemma), prefill_step(1, 128))
    attention = [op for op in ops if op.kind == "attention"]
    assert len(attention) == 2  # sliding and global kinds
    assert sorted(op.count for op in attention) == [21, 21]


def test_operator_time_is_never_below_its_pure_roofline(llama70b, h100):
    system = System.single_node(h100, 4)
    profile, layout = Profile(), Plan(tp=4).layout(system)
    for step in (prefill_step(4, 3000), decode_step(64, 3000)):
        for op in step_ops(ctx_for(llama70b, tp=4), step):
            cost = op_cost(op, system, profile, layout)
            if op.kind == "collective":
                assert np.all(cost.time > 0)
                continue
            pure = max(float(np.sum(op.flops)) / h100.peak(op.precision),
                       float(np.sum(op.bytes)) / h100.memory_bandwidth)
            assert float(np.sum(cost.time)) >= pure


def test_tensor_parallel_adds_two_all_reduces_per_layer(llama70b):
    ops = step_ops(ctx_for(llama70b, tp=8), decode_step(4, 100))
    reduces = [op for op in ops if op.collective == "all_reduce" and op.extra.get("of") in ("attention", "ffn")]
    assert sum(op.count for op in reduces) == 2 * llama70b.num_layers
    assert all(float(op.message_bytes) == 4 * llama70b.hidden * 2 for op in reduces)


def test_weight_only_int4_pays_dequantisation_and_runs_at_activation_rate(llama70b, h100):
    int4 = Context(llama70b, Plan(), Sizes.of(Precisions("int4", "bf16", "bf16")))
    bf16 = ctx_for(llama70b)
    system, profile = System.single_node(h100, 1), Profile()
    layout = Plan().layout(system)
    step = prefill_step(1, 4096)
    q4 = next(op for op in step_ops(int4, step) if op.name == "up_gate")
    b16 = next(op for op in step_ops(bf16, step) if op.name == "up_gate")
    assert q4.precision == "bf16" and q4.dequant_elements == b16.weight_bytes / 2
    assert float(op_cost(q4, system, profile, layout).compute) > float(op_cost(b16, system, profile, layout).compute)
    fp8 = next(op for op in step_ops(ctx_for(llama70b, weights="fp8"), step) if op.name == "up_gate")
    assert fp8.precision == "fp8" and fp8.dequant_elements == 0


def test_mixed_step_does_the_work_of_both_and_reads_weights_once(llama70b):
    """A chunk of prefill mixed with decodes does the FLOPs of both steps but reads weights once."""
    ctx = ctx_for(llama70b)
    prefill = Segment(1, 512, 1024)
    decode = Segment(16, 1, 3000, decode=True)
    from llmsizer.ops.base import Step

    mixed = step_ops(ctx, Step((prefill, decode)))
    alone = step_ops(ctx, Step((prefill,))) + step_ops(ctx, Step((decode,)))
    assert total(mixed, "flops", {"attention"}) == pytest.approx(total(alone, "flops", {"attention"}))
    assert total(mixed, "flops", {"matmul"}) == pytest.approx(total(alone, "flops", {"matmul"}))
    assert total(mixed, "weight_bytes", {"matmul"}) == pytest.approx(total(alone, "weight_bytes", {"matmul"}) / 2)


def test_chunked_local_attention_sees_its_own_chunk_only():
    """Llama 4: a token at position p sees (p - 1) mod chunk + 1 keys; at 32k tokens in 8k chunks
    that is 4 x 8192 x 8193 / 2 pairs, 1.75x fewer than an 8k sliding window would visit."""
    from llmsizer.ops.attention import key_reads

    seg = Segment(1, 32768, 0)
    chunked = attended_pairs(seg, 8192, chunked=True)
    assert chunked == 4 * 8192 * 8193 / 2
    assert attended_pairs(seg, 8192) / chunked == pytest.approx(1.75, rel=1e-3)
    later = Segment(1, 100, 8000)  # crosses the chunk boundary at 8192
    assert attended_pairs(later, 8192, chunked=True) == sum(((p - 1) % 8192) + 1 for p in range(8001, 8101))
    scout = load_model("llama-4-scout")
    local = next(layer.mixer for layer in scout.layer_kinds() if layer.mixer.chunk)
    decode = Segment(1, 1, 10_000, decode=True)
    assert float(key_reads(decode, local)) == 10_000 % 8192 + 1
    ops = step_ops(ctx_for(scout), decode_step(1, 10_000))
    reads = [float(op.kv_bytes) for op in ops if op.kind == "attention"]
    per_key = 2 * local.num_kv_heads * local.head_dim * 2
    assert sorted(reads) == [1809 * per_key, 10_001 * per_key]


def test_mamba2_prefill_is_chunked_products_per_group_on_matrix_units():
    """SSD per token and layer: 2 C N G (C B^T per group) + 2 C P H (scores x values) + 4 N P H
    (chunk states and their read-out), C = 256; decode updates H x P x N states at 6 FLOPs each."""
    m = load_model("mamba2-2.7b")
    mixer = m.layers[0].layer.mixer
    N, P, H, G = mixer.d_state, mixer.head_dim, mixer.num_heads, mixer.n_groups
    batch, L = 2, 2048
    scan = next(op for op in step_ops(ctx_for(m), prefill_step(batch, L)) if op.name == "chunked_scan")
    per_token = 2 * 256 * N * G + 2 * 256 * P * H + 4 * N * P * H
    assert float(scan.flops) == batch * L * per_token
    assert scan.kind == "matmul" and scan.precision == "bf16" and float(scan.tokens) == 256
    assert float(scan.kv_bytes) == 2 * batch * H * P * N * 2  # each sequence's state read and written
    step = next(op for op in step_ops(ctx_for(m), decode_step(8, 500)) if op.name == "recurrent_step")
    assert float(step.flops) == 6 * 8 * H * P * N and step.kind == "scan"
