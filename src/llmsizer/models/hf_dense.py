"""Hugging Face families of dense decoders: the Llama-like family (Llama, Mistral, Qwen, Phi,
Gemma, Nemotron, OLMo), Falcon, GPT-J/GPT-2, GPT-NeoX and OPT."""

from __future__ import annotations

from ..errors import require
from .hf_reader import Reader, attention_heads, finish_model, int_field, sliding_flags
from .spec import Attention, DenseFFN, Layer, Model

def _llama_like(r: Reader, name: str, family: str) -> Model:
    """llama, mistral, qwen2, qwen3, phi3, gemma, gemma2, gemma3_text, nemotron, granite, olmo2."""
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    if family == "nemotron" and r.has("kv_channels"):
        require(not r.has("head_dim") or r.data["head_dim"] == r.data["kv_channels"], f"{r.where}.kv_channels",
                r.data["kv_channels"], "must equal head_dim when both are given")
        r.data.setdefault("head_dim", r.req("kv_channels"))
    heads, kv, head_dim = attention_heads(r, hidden)
    inter = int_field(r, "intermediate_size")
    attn_bias = bool(r.opt("attention_bias", family == "qwen2"))
    qkv_bias = attn_bias or family == "qwen2"
    out_bias = attn_bias and family != "qwen2"
    mlp_bias = bool(r.opt("mlp_bias", False))
    qk_norm = family in ("qwen3", "gemma3_text", "olmo2")
    gated = family != "nemotron"
    norms = 4 if family in ("gemma2", "gemma3_text") else 2
    norm = "layernorm" if family == "nemotron" else "rmsnorm"

    window = r.opt("sliding_window", None)
    older = r.opt("sliding_window_size", None)  # the field's earlier name in gemma2 configs
    require(older is None or window is None or older == window, f"{r.where}.sliding_window_size", older,
            f"must equal sliding_window ({window}) when both are given")
    window = window if window is not None else older
    if family in ("qwen2", "qwen3"):
        use_swa = bool(r.opt("use_sliding_window", False))
        full_layers = r.opt("max_window_layers", n)
        sliding = sliding_flags(r, n, lambda i: use_swa and i >= full_layers)
    elif family == "gemma2":
        sliding = sliding_flags(r, n, lambda i: i % 2 == 0)
    elif family == "gemma3_text":
        pattern = r.opt("sliding_window_pattern", 6)
        sliding = sliding_flags(r, n, lambda i: (i + 1) % pattern != 0)
    else:
        sliding = sliding_flags(r, n, lambda i: window is not None)
    if any(sliding):
        require(isinstance(window, int) and window > 0, f"{r.where}.sliding_window", window,
                "must be a positive integer when layers use sliding-window attention")

    ffn = DenseFFN(inter, gated=gated, bias=mlp_bias)
    seq = [
        Layer(Attention(heads, kv, head_dim, window=window if s else None, qkv_bias=qkv_bias,
                        out_bias=out_bias, qk_norm=qk_norm), ffn, norms)
        for s in sliding
    ]
    tied = bool(r.opt("tie_word_embeddings", family in ("gemma", "gemma2", "gemma3_text")))
    return finish_model(r, name, hidden, seq, tied_embeddings=tied, norm=norm)


def _falcon(r: Reader, name: str, family: str) -> Model:
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers", "n_layer")
    heads = int_field(r, "num_attention_heads", "n_head")
    require(hidden % heads == 0, f"{r.where}.num_attention_heads", heads, f"must divide hidden_size ({hidden})")
    new_arch = bool(r.opt("new_decoder_architecture", False))
    multi_query = bool(r.opt("multi_query", True))
    if new_arch:
        kv = int_field(r, "num_kv_heads", "n_head_kv")
        norms = r.opt("num_ln_in_parallel_attn", 2)
    else:
        r.opt("num_kv_heads", None)
        kv = 1 if multi_query else heads
        norms = 1 if r.opt("parallel_attn", True) else 2
    r.opt("parallel_attn", True)
    bias = bool(r.opt("bias", False))
    require(not r.opt("alibi", False), f"{r.where}.alibi", True, "ALiBi Falcon variants are not supported")
    ffn = DenseFFN(r.opt("ffn_hidden_size", 4 * hidden), gated=False, bias=bias)
    layer = Layer(Attention(heads, kv, hidden // heads, qkv_bias=bias, out_bias=bias), ffn, norms)
    return finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", True)),
                         norm="layernorm")


def _gpt_family(r: Reader, name: str, family: str) -> Model:
    """gptj (parallel attention/FFN, one norm, no attention bias) and gpt2 (GPT-3 shape)."""
    hidden = int_field(r, "n_embd")
    n = int_field(r, "n_layer")
    heads = int_field(r, "n_head")
    require(hidden % heads == 0, f"{r.where}.n_head", heads, f"must divide n_embd ({hidden})")
    inter = r.opt("n_inner", 4 * hidden)
    gptj = family == "gptj"
    attn = Attention(heads, heads, hidden // heads, qkv_bias=not gptj, out_bias=not gptj)
    layer = Layer(attn, DenseFFN(inter, gated=False, bias=True), 1 if gptj else 2)
    positions = 0 if gptj else int_field(r, "n_positions")
    tied = bool(r.opt("tie_word_embeddings", not gptj))
    return finish_model(r, name, hidden, [layer] * n, tied_embeddings=tied, norm="layernorm",
                         learned_positions=positions)


def _gpt_neox(r: Reader, name: str, family: str) -> Model:
    hidden = int_field(r, "hidden_size")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    bias = bool(r.opt("attention_bias", True))
    r.opt("use_parallel_residual", True)
    layer = Layer(Attention(heads, kv, head_dim, qkv_bias=bias, out_bias=bias),
                  DenseFFN(int_field(r, "intermediate_size"), gated=False, bias=True))
    return finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", False)),
                         norm="layernorm")


def _opt(r: Reader, name: str, family: str) -> Model:
    hidden = int_field(r, "hidden_size")
    require(r.opt("word_embed_proj_dim", hidden) == hidden, f"{r.where}.word_embed_proj_dim",
            r.data.get("word_embed_proj_dim"), f"must equal hidden_size ({hidden}); projected embeddings are not supported")
    require(r.opt("do_layer_norm_before", True), f"{r.where}.do_layer_norm_before", False,
            "post-norm OPT variants are not supported")
    n = int_field(r, "num_hidden_layers")
    heads, kv, head_dim = attention_heads(r, hidden)
    bias = bool(r.opt("enable_bias", True))
    layer = Layer(Attention(heads, kv, head_dim, qkv_bias=bias, out_bias=bias),
                  DenseFFN(int_field(r, "ffn_dim"), gated=False, bias=bias))
    r.opt("layer_norm_elementwise_affine", True)
    require(r.opt("output_projection", True), f"{r.where}.output_projection", False, "must be true (a causal LM head)")
    final_norm = not r.opt("_remove_final_layer_norm", False)
    positions = int_field(r, "max_position_embeddings") + 2  # OPT offsets learned positions by 2
    return finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", True)),
                         norm="layernorm", learned_positions=positions, final_norm=final_norm)


FAMILIES = {
    **dict.fromkeys(("llama", "mistral", "qwen2", "qwen3", "phi3", "gemma", "gemma2", "gemma3_text", "nemotron", "olmo2"),
                    _llama_like),
    **dict.fromkeys(("falcon", "RefinedWeb", "RefinedWebModel"), _falcon),
    "gptj": _gpt_family,
    "gpt2": _gpt_family,
    "gpt_neox": _gpt_neox,
    "opt": _opt,
}
