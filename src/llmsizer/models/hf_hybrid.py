"""Hugging Face families with recurrent mixers: Mamba, Mamba-2, Jamba, and the hybrids of 2025
(Nemotron-H, Falcon-H1, Granite-4, Qwen3-Next's Gated DeltaNet, MiniMax-M1's lightning attention)."""

from __future__ import annotations

import math

from ..errors import require
from .hf_reader import Reader, attention_heads, finish_model, int_field
from .spec import Attention, DenseFFN, Layer, LinearAttention, Mamba, Mamba2, Model, MoEFFN, ParallelMixers

def _mamba_mixer(r: Reader, hidden: int) -> Mamba:
    expand = r.opt("expand", 2)
    d_inner = r.opt("intermediate_size", expand * hidden)
    rank = r.opt("time_step_rank", "auto")
    rank = math.ceil(hidden / 16) if rank == "auto" else rank
    return Mamba(d_inner, int_field(r, "state_size"), r.opt("conv_kernel", 4), rank,
                 proj_bias=bool(r.opt("use_bias", False)), conv_bias=bool(r.opt("use_conv_bias", True)))


def _layers_and_norm(r: Reader) -> tuple[int, str]:
    """Mamba configs carry the layer count under two names and say whether norms are RMSNorm."""
    n = int_field(r, "num_hidden_layers", "n_layer")
    other = r.opt("n_layer", n)
    require(other == n, f"{r.where}.n_layer", other, f"must equal num_hidden_layers ({n})")
    return n, "rmsnorm" if r.opt("rms_norm", True) else "layernorm"


def _mamba(r: Reader, name: str, family: str) -> Model:
    hidden = int_field(r, "hidden_size")
    n, norm = _layers_and_norm(r)
    layer = Layer(_mamba_mixer(r, hidden), None, norms=1)
    return finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", True)),
                         norm=norm)


def _mamba2(r: Reader, name: str, family: str) -> Model:
    hidden = int_field(r, "hidden_size")
    n, norm = _layers_and_norm(r)
    d_inner = r.opt("expand", 2) * hidden
    stated = r.opt("intermediate_size", d_inner)
    require(stated == d_inner, f"{r.where}.intermediate_size", stated, f"must equal expand x hidden_size ({d_inner})")
    head_dim = r.opt("head_dim", 64)
    heads = r.opt("num_heads", d_inner // head_dim)
    mixer = Mamba2(d_inner, int_field(r, "state_size"), r.opt("conv_kernel", 4), heads, head_dim,
                   n_groups=r.opt("n_groups", 1), proj_bias=bool(r.opt("use_bias", False)),
                   conv_bias=bool(r.opt("use_conv_bias", True)))
    r.opt("chunk_size", 256)
    r.opt("time_step_rank", None)
    return finish_model(r, name, hidden, [Layer(mixer, None, norms=1)] * n,
                         tied_embeddings=bool(r.opt("tie_word_embeddings", True)), norm=norm)


def _jamba(r: Reader, name: str, family: str) -> Model:
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    attn = Attention(heads, kv, head_dim, window=r.opt("sliding_window", None))
    mamba = Mamba(r.opt("mamba_expand", 2) * hidden, int_field(r, "mamba_d_state"), r.opt("mamba_d_conv", 4),
                  r.opt("mamba_dt_rank", math.ceil(hidden / 16)), proj_bias=bool(r.opt("mamba_proj_bias", False)),
                  conv_bias=bool(r.opt("mamba_conv_bias", True)))
    r.opt("mamba_inner_layernorms", False)  # norms of dt_rank + 2 d_state weights per layer: negligible
    inter = int_field(r, "intermediate_size")
    moe = MoEFFN(int_field(r, "num_experts"), int_field(r, "num_experts_per_tok"), inter)
    dense = DenseFFN(inter)
    a_period, a_offset = r.opt("attn_layer_period", 8), r.opt("attn_layer_offset", 4)
    e_period, e_offset = r.opt("expert_layer_period", 2), r.opt("expert_layer_offset", 1)
    seq = [
        Layer(attn if i % a_period == a_offset else mamba, moe if i % e_period == e_offset else dense)
        for i in range(n)
    ]
    return finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _nemotron_h(r: Reader, name: str, family: str) -> Model:
    """Nemotron-H: `hybrid_override_pattern` gives each layer one block, M (Mamba-2), * (attention)
    or - (a squared-ReLU MLP), each behind its own RMSNorm."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    pattern = r.req("hybrid_override_pattern")
    require(isinstance(pattern, str) and len(pattern) == n and set(pattern) <= set("M*-"),
            f"{r.where}.hybrid_override_pattern", pattern, f"must give one of M, * or - for each of the {n} layers")
    heads = int_field(r, "num_attention_heads")
    head_dim = r.opt("head_dim", None) or r.opt("attention_head_dim", hidden // heads)
    require(not r.opt("attention_bias", False), f"{r.where}.attention_bias", True, "attention biases are not supported")
    attn = Attention(heads, r.opt("num_key_value_heads", heads), head_dim)
    m_heads, m_dim = int_field(r, "mamba_num_heads"), int_field(r, "mamba_head_dim")
    expand = r.opt("expand", 2)
    require(expand * hidden == m_heads * m_dim, f"{r.where}.mamba_num_heads", m_heads,
            f"x mamba_head_dim ({m_dim}) must equal expand x hidden_size ({expand * hidden})")
    bias = bool(r.opt("use_bias", False))
    require(r.opt("mamba_proj_bias", bias) == bias, f"{r.where}.mamba_proj_bias", r.data.get("mamba_proj_bias"),
            f"must equal use_bias ({bias})")
    mamba = Mamba2(m_heads * m_dim, int_field(r, "ssm_state_size"), r.opt("conv_kernel", 4), m_heads, m_dim,
                   n_groups=r.opt("n_groups", 8), proj_bias=bias, conv_bias=bool(r.opt("use_conv_bias", True)),
                   chunk=r.opt("chunk_size", 128))
    mlp = DenseFFN(int_field(r, "intermediate_size"), gated=False, bias=bool(r.opt("mlp_bias", False)))
    for key in ("mamba_hidden_act", "mlp_hidden_act", "time_step_rank"):  # activations; dt rank unused by Mamba-2
        r.opt(key, None)
    require(r.opt("sliding_window", None) is None, f"{r.where}.sliding_window", r.data.get("sliding_window"), "must be null")
    blocks = {"M": Layer(mamba, None, norms=1), "*": Layer(attn, None, norms=1), "-": Layer(None, mlp, norms=1)}
    return finish_model(r, name, hidden, [blocks[c] for c in pattern],
                        tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _falcon_h1(r: Reader, name: str, family: str) -> Model:
    """Falcon-H1: attention and Mamba-2 side by side on the same normed input in every layer (or
    in the layers `attn_layer_indices` lists), then a gated MLP. The muP multipliers scale
    activations only."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    bias = bool(r.opt("attention_bias", False))
    attn = Attention(heads, kv, head_dim, qkv_bias=bias, out_bias=bias)
    m_heads, m_dim = int_field(r, "mamba_n_heads"), int_field(r, "mamba_d_head")
    d_ssm = r.opt("mamba_d_ssm", None) or m_heads * m_dim
    proj_bias = bool(r.opt("mamba_proj_bias", False))
    require(r.opt("projectors_bias", proj_bias) == proj_bias, f"{r.where}.projectors_bias", r.data.get("projectors_bias"),
            f"must equal mamba_proj_bias ({proj_bias})")
    require(r.opt("mamba_use_mlp", True), f"{r.where}.mamba_use_mlp", False, "Falcon-H1 layers without an MLP are not supported")
    r.opt("mamba_expand", None)  # the inner width is heads x head dimension (mamba_d_ssm)
    mamba = Mamba2(d_ssm, int_field(r, "mamba_d_state"), r.opt("mamba_d_conv", 4), m_heads, m_dim,
                   n_groups=r.opt("mamba_n_groups", 1), proj_bias=proj_bias, conv_bias=bool(r.opt("mamba_conv_bias", True)),
                   gated_norm=bool(r.opt("mamba_rms_norm", False)), chunk=r.opt("mamba_chunk_size", 256))
    for key in ("attention_in_multiplier", "attention_out_multiplier", "key_multiplier", "lm_head_multiplier",
                "mlp_multipliers", "ssm_in_multiplier", "ssm_multipliers", "ssm_out_multiplier", "mamba_norm_before_gate"):
        r.opt(key, None)
    ffn = DenseFFN(int_field(r, "intermediate_size"), bias=bool(r.opt("mlp_bias", False)))
    attention_layers = r.opt("attn_layer_indices", None)
    both = ParallelMixers((attn, mamba))
    seq = [Layer(both if attention_layers is None or i in attention_layers else mamba, ffn) for i in range(n)]
    return finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _qwen3_next(r: Reader, name: str, family: str) -> Model:
    """Qwen3-Next: three Gated DeltaNet layers per gated full-attention layer (`layer_types`, or
    every `full_attention_interval`-th), every layer a MoE with a gated shared expert."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    require(not r.opt("use_sliding_window", False), f"{r.where}.use_sliding_window", True, "is not supported")
    r.opt("sliding_window", None)
    bias = bool(r.opt("attention_bias", False))
    attn = Attention(heads, kv, head_dim, qkv_bias=bias, out_bias=bias, qk_norm=True, output_gate=True)
    linear = LinearAttention(int_field(r, "linear_num_value_heads"), int_field(r, "linear_num_key_heads"),
                             int_field(r, "linear_key_head_dim"), int_field(r, "linear_value_head_dim"),
                             d_conv=r.opt("linear_conv_kernel_dim", 4), delta_rule=True, output_gate=True)
    interval = r.opt("full_attention_interval", 4)
    types = r.opt("layer_types", None) or ["full_attention" if (i + 1) % interval == 0 else "linear_attention"
                                           for i in range(n)]
    require(len(types) == n and set(types) <= {"full_attention", "linear_attention"}, f"{r.where}.layer_types", types,
            f"must give full_attention or linear_attention for each of the {n} layers")
    shared = r.opt("shared_expert_intermediate_size", 0)
    moe = MoEFFN(int_field(r, "num_experts"), int_field(r, "num_experts_per_tok"), int_field(r, "moe_intermediate_size"),
                 shared_intermediate=shared, shared_gate=shared > 0)
    dense = DenseFFN(int_field(r, "intermediate_size"))
    step, dense_only = r.opt("decoder_sparse_step", 1), set(r.opt("mlp_only_layers", []))
    seq = [Layer(attn if t == "full_attention" else linear,
                 moe if (i not in dense_only and (i + 1) % step == 0) else dense) for i, t in enumerate(types)]
    return finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)),
                        mtp_layers=r.opt("num_nextn_predict_layers", 0))


def _minimax_m1(r: Reader, name: str, family: str) -> Model:
    """MiniMax-M1 (and MiniMax-Text-01): `attn_type_list` marks lightning-attention (0) and softmax
    (1) layers, one softmax per eight; every layer a MoE. Lightning attention projects q, k, v and
    an output gate for every head and normalises over all heads."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    types = r.req("attn_type_list")
    require(len(types) == n and set(types) <= {0, 1}, f"{r.where}.attn_type_list", types,
            f"must give 0 (lightning) or 1 (softmax) for each of the {n} layers")
    require(r.opt("sliding_window", None) is None, f"{r.where}.sliding_window", r.data.get("sliding_window"), "must be null")
    softmax = Attention(heads, kv, head_dim)
    lightning = LinearAttention(heads, heads, head_dim, head_dim, output_gate=True, norm_per_head=False, chunk=256)
    moe = MoEFFN(int_field(r, "num_local_experts"), int_field(r, "num_experts_per_tok"), int_field(r, "intermediate_size"),
                 shared_intermediate=r.opt("shared_intermediate_size", 0))
    for key in ("postnorm", "shared_moe_mode", "layernorm_full_attention_alpha", "layernorm_full_attention_beta",
                "layernorm_linear_attention_alpha", "layernorm_linear_attention_beta", "layernorm_mlp_alpha",
                "layernorm_mlp_beta"):  # norm placement and residual scales: no weights or work of their own
        r.opt(key, None)
    seq = [Layer(softmax if t == 1 else lightning, moe) for t in types]
    return finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


FAMILIES = {
    "mamba": _mamba,
    "falcon_mamba": _mamba,
    "mamba2": _mamba2,
    "jamba": _jamba,
    "nemotron_h": _nemotron_h,
    "falcon_h1": _falcon_h1,
    "qwen3_next": _qwen3_next,
    "minimax_m1": _minimax_m1,
}
