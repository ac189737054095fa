"""Attention operators: projections, rotary embedding, the fused attention kernel, MLA and its
sparse-attention indexer.

The attention kernel is fused (flash-style): it reads Q, K, V (or the cached K, V) and writes the
output; the score matrix stays on chip. Causal attention over `new` tokens appended to `past`
cached tokens visits sum_{i=past+1..past+new} keys(i) (query, key) pairs, where position i sees
i keys (global), min(i, window) keys (sliding window) or ((i - 1) mod chunk) + 1 keys (chunked
local attention, Llama 4): about half the square in a plain prefill.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..arrays import real
from ..models.spec import MLA, Attention
from .base import Context, Op, Segment, Step, all_reduce, collective, elementwise, matmul
from .registry import mixer_ops

#: bytes of one indexer logit (DeepSeek-V3.2 scores keys in fp32 before its top-k)
INDEX_LOGIT_BYTES = 4.0


def _visible_prefix(positions, span, chunked: bool = False):
    """Key positions visible to the first `positions` queries in all: sum_{j=1..positions} of
    min(j, span) (window), ((j - 1) mod span) + 1 (chunks of `span`), or j (global)."""
    x = real(positions)
    if span is None:
        return x * (x + 1) / 2
    if chunked:
        full = np.floor(x / span)
        rest = x - full * span
        return full * span * (span + 1) / 2 + rest * (rest + 1) / 2
    return np.where(x <= span, x * (x + 1) / 2, span * (span + 1) / 2 + (x - span) * span)


def attended_pairs(segment: Segment, span, chunked: bool = False):
    """(query, key) pairs one sequence of the segment visits under causal masking."""
    past = real(segment.past_tokens)
    return _visible_prefix(past + segment.new_tokens, span, chunked) - _visible_prefix(past, span, chunked)


def _chunked(mixer) -> bool:
    return getattr(mixer, "chunk", None) is not None and mixer.span == mixer.chunk


def key_reads(seg: Segment, mixer):
    """Cached keys the segment reads in all. A chunked layer reads only the current chunk: the
    new tokens and the (past mod chunk) cached tokens of the chunk they start in."""
    if not _chunked(mixer):
        return seg.cached_reads(mixer.span)
    past = real(seg.past_tokens)
    return real(seg.sequences) * np.minimum(past + seg.new_tokens, seg.new_tokens + np.mod(past, mixer.chunk))


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


def _tag(step: Step, seg: Segment) -> str:
    return "" if len(step.segments) == 1 else f"[{'decode' if seg.decode else 'prefill'}]"


@mixer_ops.register
def attention_ops(mixer: Attention, ctx: Context, count: float, step: Step) -> list[Op]:
    hidden, sizes, plan = ctx.model.hidden, ctx.sizes, ctx.plan
    tokens = ctx.linear_tokens(step)
    heads = plan.heads_per_device(mixer.num_heads)
    kv_heads = plan.kv_heads_per_device(mixer.num_kv_heads, mixer.num_heads)
    hd = mixer.head_dim
    qkv_width = (heads * (2 if mixer.output_gate else 1) + 2 * kv_heads) * hd
    ops = [
        matmul(ctx, "qkv_proj", "attention", count, tokens, hidden, qkv_width, bias=mixer.qkv_bias),
        elementwise(ctx, "rope_kv_write", "attention", count, tokens * (heads + kv_heads) * hd,
                    tokens * (heads + kv_heads) * hd, flops_per_element=3.0),
    ]
    ops[-1] = replace(ops[-1], kv_bytes=tokens * 2 * kv_heads * hd * sizes.kv)
    cp = plan.cp
    for seg in step.segments:
        pairs = attended_pairs(seg, mixer.span, _chunked(mixer))
        seqs = real(seg.sequences)
        ops.append(Op(
            name="attention" + _tag(step, seg), block="attention", kind="attention", count=count,
            flops=4.0 * seqs * heads * hd * pairs / cp,
            act_bytes=2.0 * seg.tokens * heads * hd * sizes.activation / (1 if seg.decode else cp),
            kv_bytes=key_reads(seg, mixer) * 2 * kv_heads * hd * sizes.kv / cp,
            tokens=real(seg.new_tokens) * (heads // kv_heads),
            precision=sizes.attention_precision,
            kv_group=heads / kv_heads if seg.decode else 1.0, head_dim=hd,
        ))
        ops += context_parallel_ops(ctx, seg, count, 2 * kv_heads * hd * sizes.kv, heads * hd)
    if mixer.output_gate:
        ops.append(elementwise(ctx, "output_gate", "attention", count, 2 * tokens * heads * hd, tokens * heads * hd, 4.0))
    ops.append(matmul(ctx, "o_proj", "attention", count, tokens, heads * hd, hidden, bias=mixer.out_bias))
    return ops + all_reduce(ctx, "attention_all_reduce", "attention", count, tokens * hidden)


def indexer_ops(ctx: Context, mixer: MLA, count: float, step: Step) -> list[Op]:
    """DeepSeek-V3.2's lightning indexer, replicated on every tensor-parallel rank: per token a
    query of `index_heads` x `index_head_dim` from the query latent, one key (cached) and per-head
    weights; per (query, key) pair over all visible keys, ReLU(q . k) weighted and summed over the
    heads (2 x heads x (dim + 1) FLOPs) into an fp32 logit, which a top-k reads back."""
    sizes, hidden = ctx.sizes, ctx.model.hidden
    tokens = ctx.linear_tokens(step)
    ih, ihd = mixer.index_heads, mixer.index_head_dim
    key = replace(matmul(ctx, "index_k_proj", "attention", count, tokens, hidden, ihd), kv_bytes=tokens * ihd * sizes.kv)
    ops = [matmul(ctx, "index_q_proj", "attention", count, tokens, mixer.q_lora_rank, ih * ihd),
           key, matmul(ctx, "index_weights_proj", "attention", count, tokens, hidden, ih)]
    cp = ctx.plan.cp
    for seg in step.segments:
        logits = real(seg.sequences) * attended_pairs(seg, None) / cp
        ops.append(Op(name="index_scores" + _tag(step, seg), block="attention", kind="attention", count=count,
                      flops=2.0 * ih * (ihd + 1) * logits,
                      act_bytes=seg.tokens * ih * (ihd + 1) * sizes.activation + logits * INDEX_LOGIT_BYTES,
                      kv_bytes=seg.cached_reads() * ihd * sizes.kv / cp,
                      tokens=real(seg.new_tokens) * ih, precision=sizes.attention_precision))
        ops.append(Op(name="index_topk" + _tag(step, seg), block="attention", kind="elementwise", count=count,
                      flops=logits, act_bytes=logits * INDEX_LOGIT_BYTES + seg.tokens * mixer.index_topk * 4.0,
                      precision="fp32"))
    return ops


@mixer_ops.register
def mla_ops(mixer: MLA, ctx: Context, count: float, step: Step) -> list[Op]:
    """MLA: the latent (kv_lora_rank + rope dims) is cached once per token, shared by every head.

    Prefill segments up-project the latent to per-head keys and values (the plain form); decode
    segments use the absorbed form, folding the key up-projection into the query and the value
    up-projection after attention, so attention runs over the latent directly. Sparse MLA
    (an indexer) runs every segment in the absorbed form over the top-k keys of each query, as
    its kernels do.
    """
    hidden, sizes, plan = ctx.model.hidden, ctx.sizes, ctx.plan
    tokens = ctx.linear_tokens(step)
    heads = mixer.num_heads // plan.tp
    latent = mixer.latent
    ops = []
    if mixer.q_lora_rank:
        ops.append(matmul(ctx, "q_a_proj", "attention", count, tokens, hidden, mixer.q_lora_rank))
        ops.append(matmul(ctx, "q_b_proj", "attention", count, tokens, mixer.q_lora_rank, heads * mixer.qk_head_dim))
    else:
        ops.append(matmul(ctx, "q_proj", "attention", count, tokens, hidden, heads * mixer.qk_head_dim))
    kv_a = matmul(ctx, "kv_a_proj", "attention", count, tokens, hidden, latent)
    ops.append(replace(kv_a, kv_bytes=tokens * latent * sizes.kv))
    if mixer.index_topk is not None:
        ops += indexer_ops(ctx, mixer, count, step)
    cp = plan.cp
    for seg in step.segments:
        seqs = real(seg.sequences)
        pairs = attended_pairs(seg, mixer.span) / cp
        cached_reads = seg.cached_reads(mixer.span) / cp
        tag = _tag(step, seg)
        ops += context_parallel_ops(ctx, seg, count, latent * sizes.kv, heads * mixer.v_head_dim)
        if seg.decode or mixer.index_topk is not None:
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
                tokens=real(seg.new_tokens), head_dim=mixer.qk_head_dim,
                precision=sizes.attention_precision,
            ))
    ops.append(matmul(ctx, "o_proj", "attention", count, tokens, heads * mixer.v_head_dim, hidden))
    return ops + all_reduce(ctx, "attention_all_reduce", "attention", count, tokens * hidden)
