"""Operators shared by the recurrent mixers (Mamba-2, linear attention): the causal conv, the
chunked prefill on matrix units, and the one-token recurrent step.

A linear recurrence state <- decay x state + k v^T, out = q . state runs in prefill as chunks of
C tokens (SSD in mamba_ssm, lightning attention, the chunked delta rule in flash-linear-attention).
Per token, with `qk_heads` heads of key width dk (SSD: C and B are shared by each of `n_groups`
groups) and `v_heads` heads of value width dv:
- 2 C dk qk_heads: scores of the token against its chunk (Q K^T; C B^T per group in SSD)
- 2 C dv v_heads: those scores times the chunk's values
- 4 dk dv v_heads: the chunk's state contribution K^T V and the carried state read by Q
and the gated delta rule adds, per head, K K^T and the W = T K, U = T V products (4 C dk + 2 C dv),
W . state (2 dk dv) and the triangular inverse T (C^2 / 3). All of it is batched products on matrix
units at the activation precision, with chunk-sized tiles. A decode token instead updates each
dk x dv state on vector units: about 5 FLOPs per state element (decay, outer product, read-out),
7 with the delta correction.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..arrays import real
from .base import Context, Op, Segment, elementwise

RECURRENT_FLOPS_PER_STATE_ELEMENT = 5.0
DELTA_FLOPS_PER_STATE_ELEMENT = 7.0


def conv_op(ctx: Context, block: str, count: float, tokens, sequences, channels: float, d_conv: int,
            bias: bool) -> Op:
    """Depthwise causal conv: `d_conv` taps per channel; its window is part of the state."""
    op = elementwise(ctx, "conv1d", block, count, tokens * channels, tokens * channels, 2.0 * d_conv,
                     weight_bytes=channels * (d_conv + (1 if bias else 0)) * ctx.sizes.weight)
    return replace(op, kv_bytes=2.0 * real(sequences) * channels * (d_conv - 1) * ctx.sizes.activation)


def chunk_flops_per_token(chunk, qk_heads: float, v_heads: float, dk: int, dv: int, delta: bool = False):
    """Matrix FLOPs per token of the chunked prefill (see the module docstring)."""
    flops = 2.0 * chunk * (dk * qk_heads + dv * v_heads) + 4.0 * dk * dv * v_heads
    if delta:
        flops = flops + v_heads * (4.0 * chunk * dk + 2.0 * chunk * dv + 2.0 * dk * dv + chunk * chunk / 3.0)
    return flops


def segment_ops(ctx: Context, block: str, count: float, seg: Segment, tag: str, qk_heads: float, v_heads: float,
                dk: int, dv: int, chunk: int, delta: bool = False, decode_flops: float | None = None,
                parameters: float = 0.0) -> list[Op]:
    """One segment's recurrence: chunked products for a prompt, a vector-unit step for decode.
    Both read and write every sequence's state once, and the recurrence's own small
    `parameters` (decay and skip terms)."""
    ab = ctx.sizes.activation
    seqs, tokens = real(seg.sequences), seg.tokens
    state_bytes = 2.0 * seqs * v_heads * dk * dv * ab
    io = tokens * (2 * qk_heads * dk + 2 * v_heads * dv) * ab  # q, k in; v in, output out
    if seg.decode:
        per_element = decode_flops or (DELTA_FLOPS_PER_STATE_ELEMENT if delta else RECURRENT_FLOPS_PER_STATE_ELEMENT)
        return [Op(name="recurrent_step" + tag, block=block, kind="scan", count=count,
                   flops=per_element * tokens * v_heads * dk * dv, act_bytes=io, kv_bytes=state_bytes,
                   weight_bytes=parameters * ctx.sizes.weight, precision="fp32")]
    c = np.minimum(real(seg.new_tokens), chunk)
    products = Op(name="chunked_scan" + tag, block=block, kind="matmul", count=count,
                  flops=tokens * chunk_flops_per_token(c, qk_heads, v_heads, dk, dv, delta),
                  act_bytes=io, kv_bytes=state_bytes, weight_bytes=parameters * ctx.sizes.weight, tokens=c,
                  precision=ctx.sizes.activation_precision)
    # one decay factor per (token, chunk position, head): the segment-sum mask of the scores
    decay = Op(name="chunk_decay" + tag, block=block, kind="elementwise", count=count, flops=tokens * v_heads * c,
               act_bytes=2.0 * tokens * v_heads * ab, precision="fp32")
    return [products, decay]
