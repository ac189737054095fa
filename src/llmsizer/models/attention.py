"""Softmax-attention mixers: grouped-query attention (with its windowed, chunked, sink and gated
variants) and multi-head latent attention (with DeepSeek's sparse-attention indexer)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..errors import require
from .kinds import MIXERS, non_negative, optional_positive, positive, register, split_rule


@register(MIXERS, "attention")
@dataclass(frozen=True)
class Attention:
    """Softmax attention with `num_kv_heads` key/value heads: MHA (= heads), GQA (divides heads),
    MQA (one). `window`: sliding window in tokens (a token sees the last `window` keys); `chunk`:
    chunked local attention (Llama 4: a token sees the keys of its own chunk only, (position mod
    chunk) + 1 of them). `sinks`: one learned sink logit per head (gpt-oss); `output_gate`: a
    sigmoid gate on the attention output projected from the input (Qwen3-Next); `qk_norm`: RMSNorm
    on queries and keys, per head or, with `qk_norm_over_heads`, over all heads (MiniMax-M2)."""

    num_heads: int
    num_kv_heads: int
    head_dim: int
    window: int | None = None
    chunk: int | None = None
    qkv_bias: bool = False
    out_bias: bool = False
    qk_norm: bool = False
    qk_norm_over_heads: bool = False
    sinks: bool = False
    output_gate: bool = False

    def __post_init__(self):
        positive(self, "num_heads", "num_kv_heads", "head_dim")
        require(self.num_heads % self.num_kv_heads == 0, "Attention.num_kv_heads", self.num_kv_heads,
                f"must divide num_heads ({self.num_heads})")
        optional_positive(self, "window", "chunk")

    @property
    def kind(self) -> str:
        if self.num_kv_heads == self.num_heads:
            return "MHA"
        return "MQA" if self.num_kv_heads == 1 else "GQA"

    @property
    def span(self) -> int | None:
        """Most keys one query attends to, or None for global attention."""
        spans = [s for s in (self.window, self.chunk) if s is not None]
        return min(spans) if spans else None

    def params(self, hidden: int) -> int:
        q_width, kv_width = self.num_heads * self.head_dim, self.num_kv_heads * self.head_dim
        projections = hidden * (q_width + 2 * kv_width) + q_width * hidden
        gate = hidden * q_width if self.output_gate else 0
        bias = (q_width + 2 * kv_width if self.qkv_bias else 0) + (hidden if self.out_bias else 0)
        if not self.qk_norm:
            norms = 0
        else:
            norms = q_width + kv_width if self.qk_norm_over_heads else 2 * self.head_dim
        return projections + gate + bias + norms + (self.num_heads if self.sinks else 0)

    def shard(self, plan) -> "Attention":
        return replace(self, num_heads=plan.heads_per_device(self.num_heads),
                       num_kv_heads=plan.kv_heads_per_device(self.num_kv_heads, self.num_heads))

    def check(self, plan) -> None:
        if plan.head_ranks:  # the engine pads heads to its ranks
            return
        split_rule(plan, self.num_heads, "attention heads")
        kv = self.num_kv_heads
        require(kv % plan.tp == 0 or plan.tp % kv == 0, "tp", plan.tp,
                f"must divide the KV heads ({kv}) or be a multiple of them")

    def cache_elements(self, context, plan):
        """K and V of the visible tokens (a chunked layer keeps at most one chunk)."""
        tokens = context if self.span is None else np.minimum(context, self.span)
        return tokens * 2 * plan.kv_heads_per_device(self.num_kv_heads, self.num_heads) * self.head_dim, 0.0

    def activation_width(self, plan) -> float:
        return (self.num_heads * (2 if self.output_gate else 1) + 2 * self.num_kv_heads) * self.head_dim


@register(MIXERS, "mla")
@dataclass(frozen=True)
class MLA:
    """Multi-head latent attention (DeepSeek-V2/V3): keys and values are compressed into a shared
    latent of `kv_lora_rank` plus a decoupled rope key of `qk_rope_head_dim`; only those are cached.
    With `index_topk` (DeepSeek-V3.2 sparse attention) a light indexer of `index_heads` heads of
    `index_head_dim` scores every visible key and each query attends to the best `index_topk`;
    the indexer caches one `index_head_dim` key per token beside the latent."""

    num_heads: int
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    q_lora_rank: int | None = None
    index_heads: int = 0
    index_head_dim: int = 0
    index_topk: int | None = None

    def __post_init__(self):
        positive(self, "num_heads", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
        optional_positive(self, "q_lora_rank", "index_topk")
        non_negative(self, "index_heads", "index_head_dim")
        require((self.index_topk is None) == (self.index_heads == 0), "MLA.index_heads", self.index_heads,
                "an indexer needs index_heads, index_head_dim and index_topk together")
        require(self.index_topk is None or self.q_lora_rank is not None, "MLA.q_lora_rank", self.q_lora_rank,
                "the sparse-attention indexer projects its queries from the query latent")

    window = None

    @property
    def kind(self) -> str:
        return "MLA" if self.index_topk is None else "MLA+DSA"

    @property
    def span(self) -> int | None:
        """Keys one query attends to: all of them, or the indexer's top-k."""
        return self.index_topk

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    @property
    def latent(self) -> int:
        """Elements cached per token for attention: the KV latent and the rope key."""
        return self.kv_lora_rank + self.qk_rope_head_dim

    def indexer_params(self, hidden: int) -> int:
        """Query up-projection from the query latent, one key projection with its LayerNorm, and
        per-head weights projected from the input."""
        if self.index_topk is None:
            return 0
        width = self.index_heads * self.index_head_dim
        return self.q_lora_rank * width + hidden * self.index_head_dim + 2 * self.index_head_dim + hidden * self.index_heads

    def params(self, hidden: int) -> int:
        heads = self.num_heads
        if self.q_lora_rank:
            q = hidden * self.q_lora_rank + self.q_lora_rank + self.q_lora_rank * heads * self.qk_head_dim
        else:
            q = hidden * heads * self.qk_head_dim
        kv_down = hidden * self.latent + self.kv_lora_rank
        kv_up = self.kv_lora_rank * heads * (self.qk_nope_head_dim + self.v_head_dim)
        out = heads * self.v_head_dim * hidden
        return q + kv_down + kv_up + out + self.indexer_params(hidden)

    def shard(self, plan) -> "MLA":
        """Heads split; the latent and the indexer are replicated on every rank."""
        return replace(self, num_heads=self.num_heads // plan.tp)

    def check(self, plan) -> None:
        split_rule(plan, self.num_heads, "MLA heads")

    def cache_elements(self, context, plan):
        return context * (self.latent + self.index_head_dim), 0.0

    def activation_width(self, plan) -> float:
        return self.num_heads * (self.qk_head_dim + self.v_head_dim) * 2
