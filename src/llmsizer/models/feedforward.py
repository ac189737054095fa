"""Feed-forward kinds: a dense (optionally gated) FFN, and a mixture of experts."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import require
from .kinds import FFNS, ParamCount, non_negative, positive, register


def dense_ffn_params(intermediate: int, hidden: int, gated: bool, bias: bool) -> int:
    """Up (and gate) and down projections, with their biases when `bias`."""
    up = (2 if gated else 1) * hidden * intermediate
    down = intermediate * hidden
    b = ((2 if gated else 1) * intermediate + hidden) if bias else 0
    return up + down + b


@register(FFNS, "dense")
@dataclass(frozen=True)
class DenseFFN:
    """Feed-forward: up (and gate, when `gated`) projection to `intermediate`, then down."""

    intermediate: int
    gated: bool = True
    bias: bool = False

    def __post_init__(self):
        positive(self, "intermediate")

    kind = "dense"

    def params(self, hidden: int) -> ParamCount:
        n = dense_ffn_params(self.intermediate, hidden, self.gated, self.bias)
        return ParamCount(n, n)

    def shard(self, plan) -> "DenseFFN":
        return replace(self, intermediate=math.ceil(self.intermediate / plan.tp))

    def check(self, plan) -> None:
        """A dense FFN splits over any tensor-parallel degree (widths rounded up)."""

    def activation_width(self, plan) -> float:
        return (3 if self.gated else 2) * self.intermediate


@register(FFNS, "moe")
@dataclass(frozen=True)
class MoEFFN:
    """Mixture of experts: a router picks `top_k` of `num_experts` routed experts per token, each
    of width `expert_intermediate` (with biases when `expert_bias`, as in gpt-oss);
    `shared_intermediate` is the total width of always-on shared experts (0 when none), with an
    optional sigmoid gate on their output (Qwen2-MoE)."""

    num_experts: int
    top_k: int
    expert_intermediate: int
    gated: bool = True
    shared_intermediate: int = 0
    shared_gate: bool = False
    router_bias: bool = False
    expert_bias: bool = False

    def __post_init__(self):
        positive(self, "num_experts", "top_k", "expert_intermediate")
        non_negative(self, "shared_intermediate")
        require(self.top_k <= self.num_experts, "MoEFFN.top_k", self.top_k,
                f"must not exceed num_experts ({self.num_experts})")

    kind = "moe"

    def params(self, hidden: int) -> ParamCount:
        expert = dense_ffn_params(self.expert_intermediate, hidden, self.gated, self.expert_bias)
        shared = dense_ffn_params(self.shared_intermediate, hidden, self.gated, False) if self.shared_intermediate else 0
        shared += hidden if self.shared_gate else 0
        router = hidden * self.num_experts + (self.num_experts if self.router_bias else 0)
        return ParamCount(router + shared + self.num_experts * expert, router + shared + self.top_k * expert)

    def shard(self, plan) -> "MoEFFN":
        local = plan.expert_slots(self.num_experts)  # routed experts and redundant copies on the busiest device
        return replace(self, num_experts=local, top_k=min(self.top_k, local),
                       expert_intermediate=math.ceil(self.expert_intermediate / plan.expert_tp),
                       shared_intermediate=math.ceil(self.shared_intermediate / plan.tp))

    def check(self, plan) -> None:
        require(plan.ep <= self.num_experts + plan.redundant_experts, "ep", plan.ep,
                f"must not exceed the experts plus redundant copies ({self.num_experts} + {plan.redundant_experts})")

    def activation_width(self, plan) -> float:
        """Routed copies of a token on this device's experts, plus the shared experts."""
        mult = 3 if self.gated else 2
        return self.top_k * plan.routed_share * mult * self.expert_intermediate + mult * self.shared_intermediate
