"""Attention operators: projections, rotary embedding, the fused attention kernel, MLA.

The attention kernel is fused (flash-style): it reads Q, K, V (or the cached K, V) and writes the
output; the score matrix stays on chip. Causal attention over `new` tokens appended to `past`
cached tokens visits sum_{i=1..new} min(past + i, span) (query, key) pairs, about half the square
in a plain prefill; a sliding window or attention chunk caps `span`.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..models.spec import MLA, Attention
from .base import Context, Op, Segment, all_reduce, collective, elementwise, matmul
from ..arrays import real


def _visible_prefix(positions, span):
    """sum_{j=1..positions} min(j, span): key positions visible to the first `positions` queries."""
    x = real(positions)
    if span is None:
        return x * (x + 1) / 2
    return np.where(x <= span, x * (x + 1) / 2, span * (span + 1) / 2 + (x - span) * span)


def attended_pairs(segment: Segment, span):
    """(query, key) pairs one sequence of the segment visits under causal masking."""
    past = real(segment.past_tokens)
    return _visible_prefix(past + segment.new_tokens, span) - _visible_prefix(past, span)


def context_parallel_ops(ctx: Context, seg: Segment, count: float, kv_bytes_per_token: float,
                         out_elements: float) -> list[Op]:
    """Ring attention over a context-parallel group: a prompt's keys and values travel round the
    group (as much as an all-gather); a decode step merges each device's partial attention over
    its share of the cache."""
    if ctx.plan.cp == 1:
        return []
    seqs = real(seg.sequences)
    if seg.decode:
        return [collective("context_merge", "attention", count, "all_reduce",
                           seg.tokens * out_elements * ctx.sizes.activation, "cp")]
    length = real(seg.past_tokens) + seg.new_tokens
    return [collective("ring_attention_kv", "attention", count, "all_gather", seqs * length * kv_bytes_per_token, "cp")]


def attention_ops(ctx: Context, mixer: Attention, count: float, tokens, segments) -> list[Op]:
    hidden, sizes, plan = ctx.model.hidden, ctx.sizes, ctx.plan
    heads = mixer.num_heads // plan.tp
    kv_heads = plan.kv_heads_per_device(mixer.num_kv_heads)
    hd = mixer.head_dim
    qkv_width = (heads + 2 * kv_heads) * hd
    ops = [
        matmul(ctx, "qkv_proj", "attention", count, tokens, hidden, qkv_width, bias=mixer.qkv_bias),
        elementwise(ctx, "rope_kv_write", "attention", count, tokens * (heads + kv_heads) * hd,
                    tokens * (heads + kv_heads) * hd, flops_per_element=3.0),
    ]
    ops[-1] = replace(ops[-1], kv_bytes=tokens * 2 * kv_heads * hd * sizes.kv)
    cp = plan.cp
    for seg in segments:
        pairs = attended_pairs(seg, mixer.span)
        seqs = real(seg.sequences)
        ops.append(Op(
            name="attention" if len(segments) == 1 else f"attention[{'decode' if seg.decode else 'prefill'}]",
            block="attention", kind="attention", count=count,
            flops=4.0 * seqs * heads * hd * pairs / cp,
            act_bytes=2.0 * seg.tokens * heads * hd * sizes.activation / (1 if seg.decode else cp),
            kv_bytes=seg.cached_reads(mixer.span) * 2 * kv_heads * hd * sizes.kv / cp,
            tokens=real(seg.new_tokens) * (heads // kv_heads),
            precision=sizes.attention_precision,
            kv_group=heads / kv_heads if seg.decode else 1.0,
        ))
        ops += context_parallel_ops(ctx, seg, count, 2 * kv_heads * hd * sizes.kv, heads * hd)
    ops.append(matmul(ctx, "o_proj", "attention", count, tokens, heads * hd, hidden, bias=mixer.out_bias))
    return ops + all_reduce(ctx, "attention_all_reduce", "attention", count, tokens * hidden)


def mla_ops(ctx: Context, mixer: MLA, count: float, tokens, segments) -> list[Op]:
    """MLA: the latent (kv_lora_rank + rope dims) is cached once per token, shared by every head.

    Prefill segments up-project the latent to per-head keys and values (the plain form); decode
    segments use the absorbed form, folding the key up-projection into the query and the value
    up-projection after attention, so attention runs over the latent directly.
    """
    hidden, sizes, plan = ctx.model.hidden, ctx.sizes, ctx.plan
    heads = mixer.num_heads // plan.tp
    latent = mixer.kv_lora_rank + mixer.qk_rope_head_dim
    ops = []
    if mixer.q_lora_rank:
        ops.append(matmul(ctx, "q_a_proj", "attention", count, tokens, hidden, mixer.q_lora_rank))
        ops.append(matmul(ctx, "q_b_proj", "attention", count, tokens, mixer.q_lora_rank, heads * mixer.qk_head_dim))
    else:
        ops.append(matmul(ctx, "q_proj", "attention", count, tokens, hidden, heads * mixer.qk_head_dim))
    kv_a = matmul(ctx, "kv_a_proj", "attention", count, tokens, hidden, latent)
    ops.append(replace(kv_a, kv_bytes=tokens * latent * sizes.kv))
    cp = plan.cp
    for seg in segments:
        seqs = real(seg.sequences)
        pairs = attended_pairs(seg, None) / cp
        cached_reads = seg.cached_reads() / cp
        tag = "" if len(segments) == 1 else f"[{'decode' if seg.decode else 'prefill'}]"
        ops += context_parallel_ops(ctx, seg, count, latent * sizes.kv, heads * mixer.v_head_dim)
        if seg.decode:
            ops.append(matmul(ctx, "q_absorb" + tag, "attention", count, seg.tokens,
                              mixer.qk_nope_head_dim, mixer.kv_lora_rank, heads=heads))
            ops.append(Op(
                name="attention" + tag, block="attention", kind="attention", count=count,
                flops=2.0 * seqs * heads * (latent + mixer.kv_lora_rank) * pairs,
                act_bytes=seg.tokens * heads * (latent + mixer.kv_lora_rank) * sizes.activation,
                kv_bytes=cached_reads * latent * sizes.kv,
                tokens=real(seg.new_tokens) * heads,
                precision=sizes.attention_precision,
            ))
            ops.append(matmul(ctx, "v_up" + tag, "attention", count, seg.tokens, mixer.kv_lora_rank,
                              mixer.v_head_dim, heads=heads))
        else:
            expanded = cached_reads
            ops.append(matmul(ctx, "kv_b_proj" + tag, "attention", count, expanded, mixer.kv_lora_rank,
                              heads * (mixer.qk_nope_head_dim + mixer.v_head_dim)))
            ops[-1] = replace(ops[-1], kv_bytes=expanded * latent * sizes.kv)
            ops.append(Op(
                name="attention" + tag, block="attention", kind="attention", count=count,
                flops=2.0 * seqs * heads * (mixer.qk_head_dim + mixer.v_head_dim) * pairs,
                act_bytes=(seg.tokens * heads * (mixer.qk_head_dim + mixer.v_head_dim)
                           + expanded * heads * (mixer.qk_head_dim + mixer.v_head_dim)) * sizes.activation,
                tokens=real(seg.new_tokens),
                precision=sizes.attention_precision,
            ))
    ops.append(matmul(ctx, "o_proj", "attention", count, tokens, heads * mixer.v_head_dim, hidden))
    return ops + all_reduce(ctx, "attention_all_reduce", "attention", count, tokens * hidden)
