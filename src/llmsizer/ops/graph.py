"""Assemble the operators of one step: embedding, every layer kind once (times its count), head."""

from __future__ import annotations

from dataclasses import replace

from ..arrays import real
from ..models.params import norm_params
from ..models.spec import Layer
from . import attention, linear_attention, mamba  # noqa: F401  (each registers its mixers' operators)
from .base import Context, Op, Step, all_reduce, collective, elementwise, matmul
from .registry import ffn_ops, mixer_ops

#: bytes of one logit (engines compute logits in fp32)
LOGIT_BYTES = 4.0


def layer_ops(ctx: Context, layer: Layer, count: float, step: Step) -> list[Op]:
    tokens = ctx.linear_tokens(step)
    hidden = ctx.model.hidden
    ops = []
    if layer.norms:
        ops.append(elementwise(ctx, "norm_residual", "norm", count * layer.norms, 2 * tokens * hidden,
                               2 * tokens * hidden, flops_per_element=4.0,
                               weight_bytes=norm_params(hidden, ctx.model.norm) * ctx.sizes.weight))
    if layer.mixer is not None:
        ops += mixer_ops(layer.mixer, ctx, count, step)
    if layer.ffn is not None:
        ops += ffn_ops(layer.ffn, ctx, count, step)
    return ops


def step_ops(ctx: Context, step: Step) -> list[Op]:
    """Every operator of one step on one device; with two-batch overlap, those of two half steps."""
    if not ctx.plan.two_batch_overlap:
        return _step_ops(ctx, step)
    half = Step(tuple(replace(s, sequences=real(s.sequences) / 2) for s in step.segments))
    return [replace(op, count=2 * op.count) for op in _step_ops(ctx, half)]


def _step_ops(ctx: Context, step: Step) -> list[Op]:
    """Every operator of one step on one device. Layers of one kind are built once and carry their
    count; pipeline stages run one after another, so the step walks every layer."""
    model, plan, sizes = ctx.model, ctx.plan, ctx.sizes
    tokens, sequences = ctx.linear_tokens(step), step.sequences
    vocab_here = model.vocab / plan.tp
    embed = Op(name="embedding_gather", block="embedding", kind="gather", count=1,
               act_bytes=tokens * model.hidden * (sizes.embedding + sizes.activation))
    ops = [embed] + all_reduce(ctx, "embedding_all_reduce", "embedding", 1, tokens * model.hidden)
    for layer, count in model.layer_kinds().items():
        ops += layer_ops(ctx, layer, count, step)
    if plan.pp > 1:
        ops.append(collective("stage_send", "pipeline", plan.pp - 1, "p2p", tokens * model.hidden * sizes.activation, "pp"))
    if model.final_norm:
        ops.append(elementwise(ctx, "final_norm", "head", 1, sequences * model.hidden, sequences * model.hidden, 4.0,
                               weight_bytes=norm_params(model.hidden, model.norm) * sizes.embedding))
    head = matmul(ctx, "lm_head", "head", 1, sequences, model.hidden, vocab_here, weight_bytes_per_element=sizes.embedding)
    ops.append(replace(head, act_bytes=sequences * (model.hidden * sizes.activation + vocab_here * LOGIT_BYTES)))
    if plan.tp > 1:
        ops.append(collective("logits_all_gather", "head", 1, "all_gather", sequences * model.vocab * LOGIT_BYTES, "tp"))
    ops.append(Op(name="sampling", block="head", kind="elementwise", count=1,
                  flops=sequences * model.vocab * 3.0, act_bytes=sequences * model.vocab * LOGIT_BYTES,
                  precision="fp32"))
    return ops
