"""State-space mixers: Mamba (S6) and Mamba-2 (SSD).

Mamba's selective scan updates a d_inner x d_state state per token on vector units (decay, input
and output terms: about 6 FLOPs per state element) and reads the conv and scan inputs once; a
sequence reads and writes its recurrent state (conv window and scan state) once per step.
Mamba-2 prefill is SSD: the chunked scan as batched products on matrix units, C B^T once per
group and chunk (as mamba_ssm runs it; closed forms in `recurrence`); a Mamba-2 decode token
updates its heads' states on vector units like Mamba's scan.
"""

from __future__ import annotations

from ..arrays import real
from ..models.spec import Mamba, Mamba2
from .base import Context, Op, Step, all_reduce, elementwise, matmul
from .recurrence import conv_op, segment_ops
from .registry import mixer_ops

SCAN_FLOPS_PER_STATE_ELEMENT = 6.0


def _scan(ctx: Context, count: float, tokens, sequences, d_inner: float, d_state: int, parameters: float) -> Op:
    """The scan reads its own small parameters (A, D, dt bias, ...), its inputs, and the state."""
    ab = ctx.sizes.activation
    state_bytes = real(sequences) * d_inner * d_state * ab
    return Op(
        name="selective_scan", block="mamba", kind="scan", count=count,
        flops=SCAN_FLOPS_PER_STATE_ELEMENT * tokens * d_inner * d_state,
        weight_bytes=parameters * ctx.sizes.weight,
        act_bytes=tokens * d_inner * 4 * ab,
        kv_bytes=2.0 * state_bytes,
        precision="fp32",
    )


@mixer_ops.register
def mamba_ops(mixer: Mamba, ctx: Context, count: float, step: Step) -> list[Op]:
    hidden, tp = ctx.model.hidden, ctx.plan.tp
    tokens, sequences = ctx.linear_tokens(step), step.sequences
    d = mixer.d_inner / tp
    ops = [
        matmul(ctx, "in_proj", "mamba", count, tokens, hidden, 2 * d, bias=mixer.proj_bias),
        conv_op(ctx, "mamba", count, tokens, sequences, d, mixer.d_conv, mixer.conv_bias),
        matmul(ctx, "x_proj", "mamba", count, tokens, d, mixer.dt_rank + 2 * mixer.d_state),
        matmul(ctx, "dt_proj", "mamba", count, tokens, mixer.dt_rank, d, bias=True),
        _scan(ctx, count, tokens, sequences, d, mixer.d_state, parameters=d * mixer.d_state + d),
        matmul(ctx, "out_proj", "mamba", count, tokens, d, hidden, bias=mixer.proj_bias),
    ]
    return ops + all_reduce(ctx, "mamba_all_reduce", "mamba", count, tokens * hidden)


@mixer_ops.register
def mamba2_ops(mixer: Mamba2, ctx: Context, count: float, step: Step) -> list[Op]:
    hidden, tp, sizes = ctx.model.hidden, ctx.plan.tp, ctx.sizes
    tokens, sequences = ctx.linear_tokens(step), step.sequences
    d, heads, groups = mixer.d_inner / tp, mixer.num_heads / tp, max(1, mixer.n_groups // tp)
    in_width = 2 * d + 2 * mixer.n_groups * mixer.d_state / tp + heads
    ops = [
        matmul(ctx, "in_proj", "mamba", count, tokens, hidden, in_width, bias=mixer.proj_bias),
        conv_op(ctx, "mamba", count, tokens, sequences, mixer.conv_dim / tp, mixer.d_conv, mixer.conv_bias),
    ]
    for seg in step.segments:
        tag = "" if len(step.segments) == 1 else f"[{'decode' if seg.decode else 'prefill'}]"
        ops += segment_ops(ctx, "mamba", count, seg, tag, qk_heads=groups, v_heads=heads, dk=mixer.d_state,
                           dv=mixer.head_dim, chunk=mixer.chunk, decode_flops=SCAN_FLOPS_PER_STATE_ELEMENT,
                           parameters=3 * heads)  # dt bias, A and D
    if mixer.gated_norm:
        ops.append(elementwise(ctx, "gated_norm", "mamba", count, 2 * tokens * d, tokens * d, 5.0,
                               weight_bytes=d * sizes.weight))
    ops.append(matmul(ctx, "out_proj", "mamba", count, tokens, d, hidden, bias=mixer.proj_bias))
    return ops + all_reduce(ctx, "mamba_all_reduce", "mamba", count, tokens * hidden)
