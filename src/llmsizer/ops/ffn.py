"""Feed-forward operators: dense and gated FFNs, and mixture-of-experts layers.

A MoE layer reads weights only for experts that receive at least one token. With `tokens` tokens
each routed to `top_k` of `E` experts uniformly, an expert is left idle with probability
(1 - top_k/E)^tokens, so a batch touches E * (1 - (1 - top_k/E)^tokens) experts on average:
top_k at one token, nearly all of them at large batches. Engines with fixed-shape expert kernels
(AWS Neuron's) do other work than this; `nxd_expert_work` counts theirs.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..models.spec import DenseFFN, MoEFFN
from .base import Context, Op, all_reduce, collective, elementwise, matmul
from ..arrays import real

#: bytes per element of the expert outputs sent back: engines combine in bf16 even when they
#: dispatch in fp8 (DeepEP: https://github.com/deepseek-ai/DeepEP#readme)
COMBINE_BYTES = 2.0

#: rows of one block of NeuronX Distributed's blockwise expert kernel (DEFAULT_BLOCK_SIZE in
#: neuronx_distributed/modules/moe/model_utils.py, release 0.15 of Neuron SDK 2.26)
NXD_BLOCK_TOKENS = 512


def expected_experts_touched(num_experts: int, top_k: int, tokens):
    """Expected number of distinct experts a batch of `tokens` routes to (uniform routing)."""
    tokens = real(tokens)
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


def nxd_expert_work(tokens, num_experts: int, local_experts: int, top_k: int, decode: bool):
    """Token-expert rows computed, expert weight slices read and rows per product on one device
    under NeuronX Distributed's ExpertMLPs at inference (expert_mlps_v2.py, `forward`), whose
    compiled graphs fix their shapes before routing is known:

    - while tokens x top_k < E, each token loads its own top_k experts (selective loading: one-row
      products, no expert loaded once for several tokens);
    - otherwise one-token (decode) steps, and longer steps with tokens x top_k under one block, run
      every token through every local expert;
    - otherwise blocks of 512 rows run one expert each, as many as the worst routing can need,
      ceil((T k - (E - 1)) / 512) + E - 1 and at most T k, filled or not (`forward_blockwise`).
    """
    pairs = tokens * top_k
    selective = pairs < num_experts
    every_expert = ~selective & (decode | (pairs < NXD_BLOCK_TOKENS))
    blocks = np.minimum(np.ceil((pairs - (local_experts - 1)) / NXD_BLOCK_TOKENS) + local_experts - 1, pairs)
    rows = np.where(selective, pairs, np.where(every_expert, tokens * local_experts, blocks * NXD_BLOCK_TOKENS))
    loads = np.where(selective, pairs, np.where(every_expert, local_experts, blocks))
    per_product = np.where(selective, 1.0, np.where(every_expert, tokens, float(NXD_BLOCK_TOKENS)))
    return rows, loads, per_product


def _grouped_expert_work(ctx: Context, E: int, k: int, tokens, routed_tokens):
    """(token-expert rows, experts touched, rows per expert) on the busiest device when each expert
    a token reaches runs its tokens once (`moe_ops`)."""
    plan = ctx.plan
    slots = E + plan.redundant_experts
    distinct = tokens if routed_tokens is None else real(routed_tokens)
    group_tokens = distinct * plan.expert_group / plan.tp  # the tokens of every replica the expert group serves
    touched_here = expected_experts_touched(slots, k, group_tokens) / slots * plan.expert_slots(E)
    imbalance = ctx.moe_imbalance * plan.placement_imbalance(E)
    routed = tokens * k * plan.routed_share * imbalance  # token-expert pairs on the busiest device
    return routed, touched_here, np.where(touched_here > 0, routed / np.maximum(touched_here, 1e-12), 0.0)


def _dense_ops(ctx: Context, prefix: str, block: str, count: float, tokens, width: int, gated: bool, bias: bool):
    """Up (and gate), activation and down of one FFN already split `width` per device."""
    hidden = ctx.model.hidden
    up_width = (2 if gated else 1) * width
    return [
        matmul(ctx, f"{prefix}up_gate" if gated else f"{prefix}up", block, count, tokens, hidden, up_width, bias=bias),
        elementwise(ctx, f"{prefix}activation", block, count, tokens * up_width, tokens * width, flops_per_element=4.0),
        matmul(ctx, f"{prefix}down", block, count, tokens, width, hidden, bias=bias),
    ]


def dense_ffn_ops(ctx: Context, ffn: DenseFFN, count: float, tokens) -> list[Op]:
    ops = _dense_ops(ctx, "", "ffn", count, tokens, ffn.intermediate // ctx.plan.tp, ffn.gated, ffn.bias)
    return ops + all_reduce(ctx, "ffn_all_reduce", "ffn", count, tokens * ctx.model.hidden)


def moe_ops(ctx: Context, ffn: MoEFFN, count: float, tokens, routed_tokens=None, decode: bool = False) -> list[Op]:
    """Router, routed experts (weights of touched local experts only), shared experts, combine.
    Of the `tokens`, `routed_tokens` (all by default) pick experts of their own; the rest are
    padding copies that add work to the experts those reach. `decode` marks a one-token step.

    Experts sit in slots (routed experts plus redundant copies, each slot taken to carry an equal
    share of the load) on `ep` devices, each expert's width over `expert_tp` devices. The busiest
    device does its share of the expert FLOPs times the stated imbalance and the placement's (a
    device with one more slot than the average), and reads the touched slots among its own.
    Experts inside the TP group are combined by the TP all-reduce; experts spanning replicas
    receive each token once per device holding its experts (dispatch, at the activation
    precision) and return partial sums the same way in at least 16 bits (combine).
    Under an engine whose expert kernel is NeuronX Distributed's (`ctx.moe_kernel == "nxd"`), the
    expert products do that kernel's fixed-shape work instead, whatever the routing.
    """
    plan, hidden, sizes = ctx.plan, ctx.model.hidden, ctx.sizes
    tokens = real(tokens)
    E, k = ffn.num_experts, ffn.top_k
    width = ffn.expert_intermediate // plan.expert_tp
    up_width = (2 if ffn.gated else 1) * width
    if ctx.moe_kernel == "nxd":
        routed, touched_here, per_expert = nxd_expert_work(tokens * plan.expert_group / plan.tp, E,
                                                           plan.expert_slots(E), k, decode)
    else:
        routed, touched_here, per_expert = _grouped_expert_work(ctx, E, k, tokens, routed_tokens)
    ops = [matmul(ctx, "router", "moe", count, tokens, hidden, E, bias=ffn.router_bias)]
    if plan.experts_span_replicas:
        sent = tokens / plan.tp * hidden  # each TP rank sends its share of the tokens, one copy each
        routing = {"routing": (E, k)}
        exchange = [collective("moe_dispatch", "moe", count, "dispatch", sent * sizes.activation, "ep", routing),
                    collective("moe_combine", "moe", count, "combine", sent * max(sizes.activation, COMBINE_BYTES),
                               "ep", routing)]
        ops += [replace(op, extra={**op.extra, "overlapped": plan.two_batch_overlap}) for op in exchange]
    for name, k_dim, n_dim in (("experts_up_gate" if ffn.gated else "experts_up", hidden, up_width),
                               ("experts_down", width, hidden)):
        ops.append(Op(
            name=name, block="moe", kind="expert_matmul", count=count,
            flops=2.0 * routed * k_dim * n_dim,
            weight_bytes=touched_here * k_dim * n_dim * sizes.expert_weight,
            act_bytes=routed * (k_dim + n_dim) * sizes.activation,
            tokens=per_expert, weight_shape=(k_dim, n_dim), precision=sizes.expert_matmul_precision,
            dequant_elements=touched_here * k_dim * n_dim if sizes.expert_dequantise else 0.0,
            extra={"experts_touched": touched_here},
        ))
        if name.startswith("experts_up"):
            ops.append(elementwise(ctx, "experts_activation", "moe", count, routed * up_width, routed * width, 4.0))
    if ffn.shared_intermediate:
        ops += _dense_ops(ctx, "shared_", "moe", count, tokens, ffn.shared_intermediate // plan.tp, ffn.gated, False)
    if ffn.shared_gate:
        ops.append(matmul(ctx, "shared_gate", "moe", count, tokens, hidden, 1))
    return ops + all_reduce(ctx, "moe_all_reduce", "moe", count, tokens * hidden)  # sums TP partials and shards
