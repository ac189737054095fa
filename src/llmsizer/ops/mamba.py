"""State-space mixers: Mamba (S6) and Mamba-2 (SSD).

Per token the selective scan updates a d_inner x d_state state (decay, input and output terms:
about 6 FLOPs per state element) and reads the conv and scan inputs once; a sequence reads and
writes its recurrent state (conv window and scan state) once per step. Prefill of Mamba-2 adds
the intra-chunk quadratic term of SSD (chunk of 256 tokens).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..models.spec import Mamba, Mamba2
from .base import Context, Op, all_reduce, elementwise, matmul
from ..arrays import real

SCAN_FLOPS_PER_STATE_ELEMENT = 6.0
SSD_CHUNK = 256


def _scan(ctx: Context, count: float, tokens, sequences, d_inner: float, d_state: int, parameters: float,
          extra_flops=0.0) -> Op:
    """The scan reads its own small parameters (A, D, dt bias, ...), its inputs, and the state."""
    ab = ctx.sizes.activation
    state_bytes = real(sequences) * d_inner * d_state * ab
    return Op(
        name="selective_scan", block="mamba", kind="scan", count=count,
        flops=SCAN_FLOPS_PER_STATE_ELEMENT * tokens * d_inner * d_state + extra_flops,
        weight_bytes=parameters * ctx.sizes.weight,
        act_bytes=tokens * d_inner * 4 * ab,
        kv_bytes=2.0 * state_bytes,
        precision="fp32",
    )


def _conv(ctx: Context, count: float, tokens, sequences, channels: float, d_conv: int, bias: bool) -> Op:
    op = elementwise(ctx, "conv1d", "mamba", count, tokens * channels, tokens * channels, 2.0 * d_conv,
                     weight_bytes=channels * (d_conv + (1 if bias else 0)) * ctx.sizes.weight)
    return replace(op, kv_bytes=2.0 * real(sequences) * channels * (d_conv - 1) * ctx.sizes.activation)


def mamba_ops(ctx: Context, mixer: Mamba, count: float, tokens, sequences) -> list[Op]:
    hidden, tp = ctx.model.hidden, ctx.plan.tp
    d = mixer.d_inner / tp
    ops = [
        matmul(ctx, "in_proj", "mamba", count, tokens, hidden, 2 * d, bias=mixer.proj_bias),
        _conv(ctx, count, tokens, sequences, d, mixer.d_conv, mixer.conv_bias),
        matmul(ctx, "x_proj", "mamba", count, tokens, d, mixer.dt_rank + 2 * mixer.d_state),
        matmul(ctx, "dt_proj", "mamba", count, tokens, mixer.dt_rank, d, bias=True),
        _scan(ctx, count, tokens, sequences, d, mixer.d_state, parameters=d * mixer.d_state + d),
        matmul(ctx, "out_proj", "mamba", count, tokens, d, hidden, bias=mixer.proj_bias),
    ]
    return ops + all_reduce(ctx, "mamba_all_reduce", "mamba", count, tokens * hidden)


def mamba2_ops(ctx: Context, mixer: Mamba2, count: float, tokens, sequences, new_tokens) -> list[Op]:
    hidden, tp = ctx.model.hidden, ctx.plan.tp
    d, heads = mixer.d_inner / tp, mixer.num_heads / tp
    conv_dim = mixer.conv_dim / tp
    in_width = 2 * d + 2 * mixer.n_groups * mixer.d_state / tp + heads
    chunk = np.minimum(real(new_tokens), SSD_CHUNK)
    intra_chunk = 2.0 * tokens * chunk * heads * (mixer.d_state + mixer.head_dim)
    ops = [
        matmul(ctx, "in_proj", "mamba", count, tokens, hidden, in_width, bias=mixer.proj_bias),
        _conv(ctx, count, tokens, sequences, conv_dim, mixer.d_conv, mixer.conv_bias),
        _scan(ctx, count, tokens, sequences, d, mixer.d_state, parameters=3 * heads, extra_flops=intra_chunk),
        elementwise(ctx, "gated_norm", "mamba", count, 2 * tokens * d, tokens * d, 5.0, weight_bytes=d * ctx.sizes.weight),
        matmul(ctx, "out_proj", "mamba", count, tokens, d, hidden, bias=mixer.proj_bias),
    ]
    return ops + all_reduce(ctx, "mamba_all_reduce", "mamba", count, tokens * hidden)
