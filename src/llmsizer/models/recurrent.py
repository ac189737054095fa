"""Recurrent mixers that hold a fixed state per sequence instead of a growing KV cache: Mamba
(S6), Mamba-2 (SSD), and linear attention (MiniMax's lightning attention, and the gated
delta rule of Gated DeltaNet in Qwen3-Next)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from ..errors import require
from .kinds import MIXERS, non_negative, positive, register, sequential_rule, split_rule


@register(MIXERS, "mamba")
@dataclass(frozen=True)
class Mamba:
    """Mamba (S6) selective state-space mixer: inner width `expand * hidden`, state `d_state`,
    depthwise causal conv of `d_conv` taps, delta projection rank `dt_rank`."""

    d_inner: int
    d_state: int
    d_conv: int
    dt_rank: int
    proj_bias: bool = False
    conv_bias: bool = True

    def __post_init__(self):
        positive(self, "d_inner", "d_state", "d_conv", "dt_rank")

    kind = "Mamba"
    window = None
    span = None

    def params(self, hidden: int) -> int:
        d = self.d_inner
        in_proj = hidden * 2 * d + (2 * d if self.proj_bias else 0)
        conv = d * self.d_conv + (d if self.conv_bias else 0)
        x_proj = d * (self.dt_rank + 2 * self.d_state)
        dt_proj = self.dt_rank * d + d
        a_and_d = d * self.d_state + d
        out = d * hidden + (hidden if self.proj_bias else 0)
        return in_proj + conv + x_proj + dt_proj + a_and_d + out

    def shard(self, plan) -> "Mamba":
        return replace(self, d_inner=math.ceil(self.d_inner / plan.tp))

    def check(self, plan) -> None:
        split_rule(plan, self.d_inner, "Mamba inner width")
        sequential_rule(plan, "Mamba")

    def cache_elements(self, context, plan):
        """Conv window plus scan state."""
        d = self.d_inner / plan.tp
        return 0.0, d * (self.d_conv - 1) + d * self.d_state

    def activation_width(self, plan) -> float:
        return 3 * self.d_inner


@register(MIXERS, "mamba2")
@dataclass(frozen=True)
class Mamba2:
    """Mamba-2 (SSD) mixer: `d_inner` split into `num_heads` heads of `head_dim`, B and C shared
    across `n_groups` groups of state size `d_state`; prefill scans in chunks of `chunk` tokens.
    `gated_norm`: the RMSNorm gated by z before the output projection (Falcon-H1 may omit it)."""

    d_inner: int
    d_state: int
    d_conv: int
    num_heads: int
    head_dim: int
    n_groups: int = 1
    proj_bias: bool = False
    conv_bias: bool = True
    gated_norm: bool = True
    chunk: int = 256

    def __post_init__(self):
        positive(self, "d_inner", "d_state", "d_conv", "num_heads", "head_dim", "n_groups", "chunk")
        require(self.num_heads * self.head_dim == self.d_inner, "Mamba2.num_heads", self.num_heads,
                f"num_heads x head_dim ({self.head_dim}) must equal d_inner ({self.d_inner})")
        require(self.num_heads % self.n_groups == 0, "Mamba2.n_groups", self.n_groups,
                f"must divide num_heads ({self.num_heads})")

    kind = "Mamba2"
    window = None
    span = None

    @property
    def conv_dim(self) -> int:
        return self.d_inner + 2 * self.n_groups * self.d_state

    def params(self, hidden: int) -> int:
        d, h = self.d_inner, self.num_heads
        in_width = 2 * d + 2 * self.n_groups * self.d_state + h
        in_proj = hidden * in_width + (in_width if self.proj_bias else 0)
        conv = self.conv_dim * self.d_conv + (self.conv_dim if self.conv_bias else 0)
        per_head = 3 * h  # dt_bias, A_log, D
        norm = d if self.gated_norm else 0
        out = d * hidden + (hidden if self.proj_bias else 0)
        return in_proj + conv + per_head + norm + out

    def shard(self, plan) -> "Mamba2":
        heads = self.num_heads // plan.tp
        return replace(self, num_heads=heads, d_inner=heads * self.head_dim, n_groups=max(1, self.n_groups // plan.tp))

    def check(self, plan) -> None:
        split_rule(plan, self.num_heads, "Mamba-2 heads")
        sequential_rule(plan, "Mamba")

    def cache_elements(self, context, plan):
        """Conv window plus one d_state x head_dim state per head."""
        tp = plan.tp
        return 0.0, self.conv_dim / tp * (self.d_conv - 1) + self.num_heads / tp * self.head_dim * self.d_state

    def activation_width(self, plan) -> float:
        return 3 * self.d_inner


@register(MIXERS, "linear_attention")
@dataclass(frozen=True)
class LinearAttention:
    """Linear attention with a `head_k_dim` x `head_v_dim` state per value head, in two forms:
    decayed (MiniMax lightning attention: state <- decay x state + k v^T) and, with `delta_rule`,
    the gated delta rule (Gated DeltaNet: the state is also corrected by beta (v - state^T k),
    with beta and the decay projected from the input). `num_k_heads` query/key heads serve
    `num_heads` value heads. Optional depthwise conv of `d_conv` taps over q, k and v, a sigmoid
    `output_gate`, and an output RMSNorm shared by all heads (`norm_per_head`) or over all of
    them. Prefill runs in chunks of `chunk` tokens."""

    num_heads: int
    num_k_heads: int
    head_k_dim: int
    head_v_dim: int
    d_conv: int = 0
    delta_rule: bool = False
    output_gate: bool = False
    norm_per_head: bool = True
    chunk: int = 64

    def __post_init__(self):
        positive(self, "num_heads", "num_k_heads", "head_k_dim", "head_v_dim", "chunk")
        non_negative(self, "d_conv")
        require(self.num_heads % self.num_k_heads == 0, "LinearAttention.num_k_heads", self.num_k_heads,
                f"must divide num_heads ({self.num_heads})")

    window = None
    span = None

    @property
    def kind(self) -> str:
        return "GatedDeltaNet" if self.delta_rule else "LinearAttention"

    @property
    def key_width(self) -> int:
        return self.num_k_heads * self.head_k_dim

    @property
    def value_width(self) -> int:
        return self.num_heads * self.head_v_dim

    @property
    def conv_dim(self) -> int:
        return 2 * self.key_width + self.value_width

    def params(self, hidden: int) -> int:
        qkv = hidden * self.conv_dim
        gate = hidden * self.value_width if self.output_gate else 0
        delta = 2 * hidden * self.num_heads + 2 * self.num_heads if self.delta_rule else 0  # beta, decay; dt bias, A
        conv = self.conv_dim * self.d_conv
        norm = self.head_v_dim if self.norm_per_head else self.value_width
        return qkv + gate + delta + conv + norm + self.value_width * hidden

    def shard(self, plan) -> "LinearAttention":
        return replace(self, num_heads=self.num_heads // plan.tp, num_k_heads=self.num_k_heads // plan.tp)

    def check(self, plan) -> None:
        split_rule(plan, self.num_k_heads, "linear-attention key heads")
        sequential_rule(plan, "linear-attention")

    def cache_elements(self, context, plan):
        """One key x value state per value head, plus the conv window."""
        tp = plan.tp
        state = self.num_heads / tp * self.head_k_dim * self.head_v_dim
        return 0.0, state + self.conv_dim / tp * max(self.d_conv - 1, 0)

    def activation_width(self, plan) -> float:
        return self.conv_dim + (self.value_width if self.output_gate else 0)
