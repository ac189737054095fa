"""Linear-attention mixers (lightning attention, Gated DeltaNet): projections, the optional causal
conv, the recurrence (chunked on matrix units in prefill, a state update per decode token; closed
forms in `recurrence`), the output norm and gate, and the output projection. Each sequence holds
a fixed state per value head instead of a KV cache that grows with its context."""

from __future__ import annotations

from ..models.spec import LinearAttention
from .base import Context, Op, Step, all_reduce, elementwise, matmul
from .recurrence import conv_op, segment_ops
from .registry import mixer_ops


@mixer_ops.register
def linear_attention_ops(mixer: LinearAttention, ctx: Context, count: float, step: Step) -> list[Op]:
    hidden, tp, sizes = ctx.model.hidden, ctx.plan.tp, ctx.sizes
    tokens, sequences = ctx.linear_tokens(step), step.sequences
    v_heads, k_heads = mixer.num_heads / tp, mixer.num_k_heads / tp
    value, qkv = mixer.value_width / tp, mixer.conv_dim / tp
    in_width = qkv + (value if mixer.output_gate else 0) + (2 * v_heads if mixer.delta_rule else 0)
    ops = [matmul(ctx, "qkvz_proj" if mixer.output_gate else "qkv_proj", "attention", count, tokens, hidden, in_width)]
    if mixer.d_conv:
        ops.append(conv_op(ctx, "attention", count, tokens, sequences, qkv, mixer.d_conv, False))
    # the delta rule runs every key head against the value heads it serves
    qk_heads = v_heads if mixer.delta_rule else k_heads
    for seg in step.segments:
        tag = "" if len(step.segments) == 1 else f"[{'decode' if seg.decode else 'prefill'}]"
        ops += segment_ops(ctx, "attention", count, seg, tag, qk_heads=qk_heads, v_heads=v_heads,
                           dk=mixer.head_k_dim, dv=mixer.head_v_dim, chunk=mixer.chunk, delta=mixer.delta_rule)
    norm_width = mixer.head_v_dim if mixer.norm_per_head else value
    ops.append(elementwise(ctx, "output_norm_gate", "attention", count, 2 * tokens * value, tokens * value, 5.0,
                           weight_bytes=norm_width * sizes.weight))
    ops.append(matmul(ctx, "o_proj", "attention", count, tokens, value, hidden))
    return ops + all_reduce(ctx, "attention_all_reduce", "attention", count, tokens * hidden)
