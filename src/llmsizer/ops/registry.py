"""Which operators each layer part runs: one generic per part, dispatched on the part's kind.
Each mixer kind registers its builder beside its counts (`@mixer_ops.register` in its ops
module); a new kind needs no change here."""

from __future__ import annotations

from functools import singledispatch

from ..errors import ConfigError
from ..models.spec import DenseFFN, MoEFFN, ParallelMixers
from .base import Context, Op, Step
from .ffn import dense_ffn_ops, moe_ops


@singledispatch
def mixer_ops(mixer, ctx: Context, count: float, step: Step) -> list[Op]:
    """The operators of one mixer for one step on one device, `count` layers of it."""
    raise ConfigError(f"no operators are known for the {type(mixer).__name__} mixer")


@mixer_ops.register
def _parallel(mixer: ParallelMixers, ctx: Context, count: float, step: Step) -> list[Op]:
    return [op for part in mixer.parts for op in mixer_ops(part, ctx, count, step)]


@singledispatch
def ffn_ops(ffn, ctx: Context, count: float, step: Step) -> list[Op]:
    """The operators of one feed-forward part for one step on one device."""
    raise ConfigError(f"no operators are known for the {type(ffn).__name__} feed-forward")


@ffn_ops.register
def _dense(ffn: DenseFFN, ctx: Context, count: float, step: Step) -> list[Op]:
    return dense_ffn_ops(ctx, ffn, count, ctx.linear_tokens(step))


@ffn_ops.register
def _moe(ffn: MoEFFN, ctx: Context, count: float, step: Step) -> list[Op]:
    return moe_ops(ctx, ffn, count, ctx.linear_tokens(step), ctx.routed_tokens(step),
                   decode=all(s.decode for s in step.segments))
