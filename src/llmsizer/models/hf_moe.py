"""Hugging Face families of mixture-of-experts decoders: Mixtral, Qwen-MoE, DeepSeek (MLA, and
V3.2's sparse attention; Kimi-K2), DBRX, Grok, Llama 4, gpt-oss, GLM-4.5 and MiniMax-M2."""

from __future__ import annotations

from ..errors import require
from .hf_reader import Reader, attention_heads, finish_model, int_field, sliding_flags
from .spec import MLA, Attention, DenseFFN, Layer, Model, MoEFFN

def _mixtral(r: Reader, name: str, family: str) -> Model:
    """mixtral and phimoe: every layer a MoE of `num_local_experts` experts."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    window = r.opt("sliding_window", None)
    bias = bool(r.opt("attention_bias", False))
    moe = MoEFFN(int_field(r, "num_local_experts"), int_field(r, "num_experts_per_tok"), int_field(r, "intermediate_size"))
    layer = Layer(Attention(heads, kv, head_dim, window=window, qkv_bias=bias, out_bias=bias), moe)
    tied = bool(r.opt("tie_word_embeddings", False))
    norm = "layernorm" if family == "phimoe" else "rmsnorm"
    if family == "phimoe":
        r.opt("lm_head_bias", False)
    return finish_model(r, name, hidden, [layer] * n, tied_embeddings=tied, norm=norm)


def _qwen_moe(r: Reader, name: str, family: str) -> Model:
    """qwen2_moe (shared expert with a gate) and qwen3_moe (no shared expert)."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    shared = r.opt("shared_expert_intermediate_size", 0)
    moe = MoEFFN(int_field(r, "num_experts"), int_field(r, "num_experts_per_tok"), int_field(r, "moe_intermediate_size"),
                 shared_intermediate=shared, shared_gate=shared > 0)
    dense = DenseFFN(int_field(r, "intermediate_size"))
    step = r.opt("decoder_sparse_step", 1)
    dense_only = set(r.opt("mlp_only_layers", []))
    qwen2 = family == "qwen2_moe"
    bias = bool(r.opt("attention_bias", qwen2))
    use_swa = bool(r.opt("use_sliding_window", False))
    configured = r.opt("sliding_window", None)
    window = configured if use_swa else None
    full_layers = r.opt("max_window_layers", n)
    require(not use_swa or full_layers == 0, f"{r.where}.max_window_layers", full_layers,
            "sliding windows on some MoE layers only are not supported")
    attn = Attention(heads, kv, head_dim, window=window, qkv_bias=bias, out_bias=bias and not qwen2,
                     qk_norm=not qwen2)
    seq = [Layer(attn, moe if (i not in dense_only and (i + 1) % step == 0) else dense) for i in range(n)]
    return finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _deepseek(r: Reader, name: str, family: str) -> Model:
    """deepseek_v2 / deepseek_v3 / kimi_k2: MLA attention, dense-first then MoE every
    `moe_layer_freq` layers; deepseek_v32 adds the sparse-attention indexer. MTP modules are
    counted apart (`num_nextn_predict_layers`)."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads = int_field(r, "num_attention_heads")
    r.opt("num_key_value_heads", None)  # MLA has no separate KV heads; the field mirrors num_heads
    require(not r.opt("attention_bias", False), f"{r.where}.attention_bias", True, "MLA with biases is not supported")
    indexer = {}
    if family == "deepseek_v32":
        indexer = {"index_heads": int_field(r, "index_n_heads"), "index_head_dim": int_field(r, "index_head_dim"),
                   "index_topk": int_field(r, "index_topk")}
    mla = MLA(heads, int_field(r, "kv_lora_rank"), int_field(r, "qk_nope_head_dim"), int_field(r, "qk_rope_head_dim"),
              int_field(r, "v_head_dim"), q_lora_rank=r.opt("q_lora_rank", None), **indexer)
    dense = DenseFFN(int_field(r, "intermediate_size"))
    n_shared = r.opt("n_shared_experts", 0)
    expert = int_field(r, "moe_intermediate_size")
    moe = MoEFFN(int_field(r, "n_routed_experts"), int_field(r, "num_experts_per_tok"), expert,
                 shared_intermediate=n_shared * expert, router_bias=r.opt("topk_method", "") == "noaux_tc")
    first_dense = r.opt("first_k_dense_replace", 0)
    freq = r.opt("moe_layer_freq", 1)
    seq = [Layer(mla, moe if (i >= first_dense and i % freq == 0) else dense) for i in range(n)]
    return finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)),
                        mtp_layers=r.opt("num_nextn_predict_layers", 0))


def _dbrx(r: Reader, name: str, family: str) -> Model:
    hidden = int_field(r, "d_model")
    n = int_field(r, "n_layers")
    heads = int_field(r, "n_heads")
    require(hidden % heads == 0, f"{r.where}.n_heads", heads, f"must divide d_model ({hidden})")
    attn_cfg = Reader(r.req("attn_config"), f"{r.where}.attn_config")
    kv = int_field(attn_cfg, "kv_n_heads")
    attn_cfg.opt("clip_qkv", None)
    attn_cfg.opt("attn_pdrop", None)
    attn_cfg.finish()
    ffn_cfg = Reader(r.req("ffn_config"), f"{r.where}.ffn_config")
    moe = MoEFFN(int_field(ffn_cfg, "moe_num_experts"), int_field(ffn_cfg, "moe_top_k"), int_field(ffn_cfg, "ffn_hidden_size"))
    for key in ("ffn_act_fn", "moe_jitter_eps", "moe_loss_weight", "moe_normalize_expert_weights", "uniform_expert_assignment"):
        ffn_cfg.opt(key, None)
    ffn_cfg.finish()
    r.opt("max_seq_len", None)
    layer = Layer(Attention(heads, kv, hidden // heads), moe)
    return finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _grok(r: Reader, name: str, family: str) -> Model:
    """Grok-1 ports: eight experts, top-2, with sandwich norms around attention and the MoE."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    moe = MoEFFN(int_field(r, "num_experts", "num_local_experts"), int_field(r, "num_experts_per_tok"),
                 int_field(r, "intermediate_size", "widening_factor"))
    for key in ("max_attn_value", "output_multiplier_scale", "embedding_multiplier_scale", "attn_output_multiplier"):
        r.opt(key, None)
    layer = Layer(Attention(heads, kv, head_dim), moe, norms=4)
    return finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", True)))


def _llama4(r: Reader, name: str, family: str) -> Model:
    """llama4_text: MoE every `interleave_moe_layer_step` layers with one shared expert; chunked
    local attention on RoPE layers, global attention on the NoPE layers."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    expert = int_field(r, "intermediate_size")
    moe = MoEFFN(int_field(r, "num_local_experts"), int_field(r, "num_experts_per_tok"), expert, shared_intermediate=expert)
    dense = DenseFFN(int_field(r, "intermediate_size_mlp"))
    step = r.opt("interleave_moe_layer_step", 1)
    moe_layers = set(r.opt("moe_layers", [i for i in range(n) if (i + 1) % step == 0]))
    chunk = r.opt("attention_chunk_size", None)
    nope_interval = r.opt("no_rope_layer_interval", 4)
    no_rope = r.opt("no_rope_layers", None) or [int((i + 1) % nope_interval != 0) for i in range(n)]  # [] = default
    require(len(no_rope) == n, f"{r.where}.no_rope_layers", f"{len(no_rope)} entries", f"must list every layer ({n})")
    qk_norm = bool(r.opt("use_qk_norm", False))
    require(not r.opt("attention_bias", False), f"{r.where}.attention_bias", True, "Llama 4 with attention biases is not supported")
    for key in ("attn_temperature_tuning", "floor_scale", "attn_scale", "for_llm_compressor"):
        r.opt(key, None)
    seq = []
    for i in range(n):
        local = bool(no_rope[i]) and chunk is not None
        attn = Attention(heads, kv, head_dim, chunk=chunk if local else None, qk_norm=qk_norm and local)
        seq.append(Layer(attn, moe if i in moe_layers else dense))
    return finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _gpt_oss(r: Reader, name: str, family: str) -> Model:
    """gpt-oss: attention with biases and a learned sink per head, sliding (128 tokens) and full
    attention alternating, every layer a MoE whose experts carry biases (stored in MXFP4)."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    bias = bool(r.opt("attention_bias", True))
    window = r.opt("sliding_window", 128)
    sliding = sliding_flags(r, n, lambda i: i % 2 == 0)
    top_k = int_field(r, "num_experts_per_tok")
    require(r.opt("experts_per_token", top_k) == top_k, f"{r.where}.experts_per_token", r.data.get("experts_per_token"),
            f"must equal num_experts_per_tok ({top_k})")
    moe = MoEFFN(int_field(r, "num_local_experts"), top_k, int_field(r, "intermediate_size"), router_bias=True,
                 expert_bias=True)
    for key in ("swiglu_limit", "initial_context_length"):  # activation clamp; pre-extension context
        r.opt(key, None)
    seq = [Layer(Attention(heads, kv, head_dim, window=window if s else None, qkv_bias=bias, out_bias=bias, sinks=True),
                 moe) for s in sliding]
    return finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _glm4_moe(r: Reader, name: str, family: str) -> Model:
    """GLM-4.5/4.6: GQA with q/k/v biases (optional QK norm), dense first layers then MoE with a
    shared expert and a routing bias; MTP modules counted apart."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    attn = Attention(heads, kv, head_dim, qkv_bias=bool(r.opt("attention_bias", False)),
                     qk_norm=bool(r.opt("use_qk_norm", False)))
    expert = int_field(r, "moe_intermediate_size")
    moe = MoEFFN(r.opt("n_routed_experts", 128), int_field(r, "num_experts_per_tok"), expert,
                 shared_intermediate=r.opt("n_shared_experts", 1) * expert, router_bias=True)
    first_dense = r.opt("first_k_dense_replace", 1)
    dense = DenseFFN(int_field(r, "intermediate_size"))
    seq = [Layer(attn, moe if i >= first_dense else dense) for i in range(n)]
    return finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)),
                        mtp_layers=r.opt("num_nextn_predict_layers", 0))


def _minimax_m2(r: Reader, name: str, family: str) -> Model:
    """MiniMax-M2: full GQA attention with QK norm over all heads, every layer a MoE with a routing
    bias; `num_mtp_modules` MTP modules of `mtp_transformer_layers` layers, counted apart."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    types = r.opt("attn_type_list", [1] * n)
    require(set(types) == {1}, f"{r.where}.attn_type_list", sorted(set(types)),
            "must mark every layer softmax attention (1); lightning layers are MiniMax-M1's")
    attn = Attention(heads, kv, head_dim, qk_norm=bool(r.opt("use_qk_norm", True)),
                     qk_norm_over_heads=r.opt("qk_norm_type", "per_layer") == "per_layer")
    moe = MoEFFN(int_field(r, "num_local_experts"), int_field(r, "num_experts_per_tok"), int_field(r, "intermediate_size"),
                 shared_intermediate=r.opt("shared_intermediate_size", 0), router_bias=bool(r.opt("use_routing_bias", False)))
    modules, depth = r.opt("num_mtp_modules", 0), r.opt("mtp_transformer_layers", 1)
    mtp = modules * depth if r.opt("use_mtp", False) else 0
    return finish_model(r, name, hidden, [Layer(attn, moe)] * n,
                        tied_embeddings=bool(r.opt("tie_word_embeddings", False)), mtp_layers=mtp)


FAMILIES = {
    "mixtral": _mixtral,
    "phimoe": _mixtral,
    "qwen2_moe": _qwen_moe,
    "qwen3_moe": _qwen_moe,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "deepseek_v32": _deepseek,
    "kimi_k2": _deepseek,
    "gpt_oss": _gpt_oss,
    "glm4_moe": _glm4_moe,
    "minimax_m2": _minimax_m2,
    "dbrx": _dbrx,
    "grok-1": _grok,
    "grok": _grok,
    "llama4_text": _llama4,
}
