"""Parameter counts by hand-checkable closed forms, per component.

Counts are exact element counts of the weight tensors a checkpoint holds for the language model
(vision towers and multi-token-prediction heads are not part of it).
"""

from __future__ import annotations

from dataclasses import dataclass

from .spec import MLA, Attention, DenseFFN, Layer, Mamba, Mamba2, Model, MoEFFN


def norm_params(width: int, norm: str) -> int:
    """RMSNorm has a scale; LayerNorm a scale and a bias."""
    return width * (2 if norm == "layernorm" else 1)


def attention_params(mixer: Attention, hidden: int) -> int:
    q = hidden * mixer.num_heads * mixer.head_dim
    kv = 2 * hidden * mixer.num_kv_heads * mixer.head_dim
    out = mixer.num_heads * mixer.head_dim * hidden
    bias = (mixer.num_heads + 2 * mixer.num_kv_heads) * mixer.head_dim if mixer.qkv_bias else 0
    bias += hidden if mixer.out_bias else 0
    qk_norm = 2 * mixer.head_dim if mixer.qk_norm else 0
    return q + kv + out + bias + qk_norm


def mla_params(mixer: MLA, hidden: int) -> int:
    heads = mixer.num_heads
    if mixer.q_lora_rank:
        q = hidden * mixer.q_lora_rank + mixer.q_lora_rank + mixer.q_lora_rank * heads * mixer.qk_head_dim
    else:
        q = hidden * heads * mixer.qk_head_dim
    kv_down = hidden * (mixer.kv_lora_rank + mixer.qk_rope_head_dim) + mixer.kv_lora_rank
    kv_up = mixer.kv_lora_rank * heads * (mixer.qk_nope_head_dim + mixer.v_head_dim)
    out = heads * mixer.v_head_dim * hidden
    return q + kv_down + kv_up + out


def mamba_params(mixer: Mamba, hidden: int) -> int:
    d = mixer.d_inner
    in_proj = hidden * 2 * d + (2 * d if mixer.proj_bias else 0)
    conv = d * mixer.d_conv + (d if mixer.conv_bias else 0)
    x_proj = d * (mixer.dt_rank + 2 * mixer.d_state)
    dt_proj = mixer.dt_rank * d + d
    a_and_d = d * mixer.d_state + d
    out = d * hidden + (hidden if mixer.proj_bias else 0)
    return in_proj + conv + x_proj + dt_proj + a_and_d + out


def mamba2_params(mixer: Mamba2, hidden: int) -> int:
    d, h = mixer.d_inner, mixer.num_heads
    in_width = 2 * d + 2 * mixer.n_groups * mixer.d_state + h
    in_proj = hidden * in_width + (in_width if mixer.proj_bias else 0)
    conv = mixer.conv_dim * mixer.d_conv + (mixer.conv_dim if mixer.conv_bias else 0)
    per_head = 3 * h  # dt_bias, A_log, D
    gated_norm = d
    out = d * hidden + (hidden if mixer.proj_bias else 0)
    return in_proj + conv + per_head + gated_norm + out


def mixer_params(mixer, hidden: int) -> int:
    if isinstance(mixer, Attention):
        return attention_params(mixer, hidden)
    if isinstance(mixer, MLA):
        return mla_params(mixer, hidden)
    if isinstance(mixer, Mamba):
        return mamba_params(mixer, hidden)
    return mamba2_params(mixer, hidden)


def dense_ffn_params(intermediate: int, hidden: int, gated: bool, bias: bool) -> int:
    up = (2 if gated else 1) * hidden * intermediate
    down = intermediate * hidden
    b = ((2 if gated else 1) * intermediate + hidden) if bias else 0
    return up + down + b


@dataclass(frozen=True)
class ParamCount:
    """Parameters of a feed-forward part: all of them, and those one token uses."""

    total: int
    active: int


def ffn_params(ffn, hidden: int) -> ParamCount:
    if ffn is None:
        return ParamCount(0, 0)
    if isinstance(ffn, DenseFFN):
        n = dense_ffn_params(ffn.intermediate, hidden, ffn.gated, ffn.bias)
        return ParamCount(n, n)
    assert isinstance(ffn, MoEFFN)
    expert = dense_ffn_params(ffn.expert_intermediate, hidden, ffn.gated, False)
    shared = dense_ffn_params(ffn.shared_intermediate, hidden, ffn.gated, False) if ffn.shared_intermediate else 0
    shared += hidden if ffn.shared_gate else 0
    router = hidden * ffn.num_experts + (ffn.num_experts if ffn.router_bias else 0)
    return ParamCount(router + shared + ffn.num_experts * expert, router + shared + ffn.top_k * expert)


def layer_params(layer: Layer, model: Model) -> ParamCount:
    base = mixer_params(layer.mixer, model.hidden) + layer.norms * norm_params(model.hidden, model.norm)
    ffn = ffn_params(layer.ffn, model.hidden)
    return ParamCount(base + ffn.total, base + ffn.active)


def embedding_params(model: Model) -> int:
    """Input table, output head when untied, learned positions and the final norm."""
    tables = model.vocab * model.hidden * (1 if model.tied_embeddings else 2)
    positions = model.learned_positions * model.hidden
    final = norm_params(model.hidden, model.norm) if model.final_norm else 0
    return tables + positions + final


def parameter_count(model: Model) -> ParamCount:
    """Total and active (per token) parameters of the model."""
    total = active = embedding_params(model)
    for layer, count in model.layer_kinds().items():
        n = layer_params(layer, model)
        total += count * n.total
        active += count * n.active
    return ParamCount(total, active)
