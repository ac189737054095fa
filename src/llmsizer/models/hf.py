"""Load a Hugging Face `config.json` into a Model.

Each supported `model_type` has one mapping function. A `_Reader` hands out fields and records
which were used; after mapping, any field left over that is not a known non-architectural field
(token ids, dropout, initialisation, positional-encoding constants, ...) is an error that lists
them, so nothing that could change the architecture is dropped silently. Where a field is
absent, the value transformers' own config class defaults to is used (named in FAMILY_DEFAULTS
below and in docs/models.md), never a guess of ours.
"""

from __future__ import annotations

import math
from dataclasses import replace

from ..errors import ConfigError, require
from .spec import MLA, Attention, DenseFFN, Layer, Mamba, Mamba2, Model, MoEFFN, runs_from_sequence

#: fields that do not change the shape or cost of inference, accepted and ignored
NON_ARCHITECTURAL = frozenset(
    """
    _name_or_path architectures auto_map model_type transformers_version torch_dtype dtype use_cache
    bos_token_id eos_token_id pad_token_id sep_token_id decoder_start_token_id unk_token_id
    image_token_index boi_token_index eoi_token_index image_token_id
    initializer_range initializer_factor init_std layer_norm_eps layer_norm_epsilon rms_norm_eps
    norm_eps mixer_rms_eps max_position_embeddings original_max_position_embeddings n_ctx n_positions
    rope_theta rope_scaling rope_parameters rotary_emb_base rotary_dim rotary_pct partial_rotary_factor
    rope_interleave rope_local_base_freq rope_type use_rope rotary_emb_fraction
    attention_dropout hidden_dropout hidden_dropout_prob attention_probs_dropout_prob dropout
    embd_pdrop resid_pdrop attn_pdrop embed_dropout activation_dropout layerdrop ffn_dropout
    summary_activation summary_first_dropout summary_proj_to_labels summary_type summary_use_proj
    hidden_act hidden_activation activation_function
    pretraining_tp tokenizer_class output_router_logits router_aux_loss_coef router_z_loss_coef
    router_jitter_noise aux_loss_alpha seq_aux
    tie_encoder_decoder is_encoder_decoder is_decoder add_cross_attention
    gradient_checkpointing scale_attn_weights scale_attn_by_inverse_layer_idx reorder_and_upcast_attn
    attn_logit_softcapping final_logit_softcapping query_pre_attn_scalar
    attention_multiplier embedding_multiplier residual_multiplier logits_scaling
    use_flash_attn use_mambapy use_cache_dtype residual_in_fp32 rescale_prenorm_residual
    time_step_init_scheme time_step_max time_step_min time_step_floor time_step_scale time_step_limit
    norm_before_gate init_device quantization_config
    num_logits_to_keep use_return_dict return_dict output_hidden_states output_attentions
    torchscript chunk_size_feed_forward problem_type finetuning_task id2label label2id
    prefix task_specific_params bad_words_ids begin_suppress_tokens suppress_tokens
    forced_bos_token_id forced_eos_token_id remove_invalid_values exponential_decay_length_penalty
    max_length min_length do_sample early_stopping num_beams num_beam_groups diversity_penalty
    temperature top_k top_p typical_p repetition_penalty length_penalty no_repeat_ngram_size
    encoder_no_repeat_ngram_size num_return_sequences output_scores return_dict_in_generate
    tf_legacy_loss use_bfloat16 cross_attention_hidden_size pruned_heads
    router_jitter router_dtype moe_router_dtype input_jitter_noise
    n_group topk_group topk_method routed_scaling_factor scoring_func norm_topk_prob
    num_nextn_predict_layers ep_size
    mlp_layer_types bias_act tie_word_embedding _attn_implementation_autoset
    emb_pdrop rotary use_mrope calc_logits_for_entire_prompt cache_implementation use_mamba_kernels fused_add_norm pad_vocab_size_multiple
    qk_layernorm layer_types_pattern apply_residual_connection_post_layernorm
    """.split()
)

#: transformers config-class defaults that real config.json files rely on by omitting the field
#: (multimodal checkpoints store only what differs from the text config class)
CLASS_DEFAULTS = {
    "gemma3_text": {"vocab_size": 262208, "head_dim": 256, "sliding_window_pattern": 6},
}


class _Reader:
    """Hands out config fields and remembers which were read."""

    def __init__(self, data: dict, where: str):
        self.data = data
        self.where = where
        self.used: set[str] = set()

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def req(self, *keys: str):
        """The first of `keys` present (aliases of one field); an error naming them if none is."""
        for key in keys:
            self.used.add(key)
        for key in keys:
            if self.data.get(key) is not None:
                return self.data[key]
        raise ConfigError(f"{self.where}: required field {' or '.join(keys)} is missing")

    def opt(self, key: str, default):
        self.used.add(key)
        value = self.data.get(key)
        return default if value is None else value

    def finish(self) -> None:
        leftover = sorted(k for k in self.data if k not in self.used and k not in NON_ARCHITECTURAL)
        if leftover:
            raise ConfigError(
                f"{self.where}: cannot map field(s) {', '.join(leftover)}; llmsizer does not know how "
                "they change the architecture, so it refuses rather than ignore them"
            )


def _int(reader: _Reader, *keys: str) -> int:
    value = reader.req(*keys)
    require(isinstance(value, int) and not isinstance(value, bool), f"{reader.where}.{keys[0]}", value,
            "must be an integer")
    return value


def _heads(r: _Reader, hidden: int, heads_key=("num_attention_heads",), kv_key=("num_key_value_heads",)):
    heads = _int(r, *heads_key)
    kv = r.opt(kv_key[0], None)
    for extra in kv_key[1:]:
        kv = r.opt(extra, kv) if kv is None else kv
    kv = heads if kv is None else kv
    if r.has("head_dim"):
        head_dim = _int(r, "head_dim")
    else:
        r.used.add("head_dim")
        require(hidden % heads == 0, f"{r.where}.num_attention_heads", heads,
                f"must divide hidden_size ({hidden}) when head_dim is not given")
        head_dim = hidden // heads
    return heads, kv, head_dim


def _layer_types(r: _Reader, n: int, default_sliding) -> list[bool]:
    """Per layer: True for sliding-window attention. Reads `layer_types` when the config has it."""
    types = r.opt("layer_types", None)
    if types is None:
        return [default_sliding(i) for i in range(n)]
    require(len(types) == n, f"{r.where}.layer_types", f"{len(types)} entries",
            f"must list one type per layer ({n})")
    allowed = {"sliding_attention", "full_attention", "chunked_attention"}
    bad = sorted(set(types) - allowed)
    require(not bad, f"{r.where}.layer_types", bad, f"entries must be among {sorted(allowed)}")
    return [t != "full_attention" for t in types]


def _finish_model(r: _Reader, name: str, hidden: int, sequence: list[Layer], **kw) -> Model:
    vocab = _int(r, "vocab_size")
    r.finish()
    return Model(name=name, hidden=hidden, vocab=vocab, layers=runs_from_sequence(sequence), **kw)


# -- families ------------------------------------------------------------------------------------


def _llama_like(r: _Reader, name: str, family: str) -> Model:
    """llama, mistral, qwen2, qwen3, phi3, gemma, gemma2, gemma3_text, nemotron, granite, olmo2."""
    hidden = _int(r, "hidden_size")
    n = _int(r, "num_hidden_layers")
    if family == "nemotron" and r.has("kv_channels"):
        require(not r.has("head_dim") or r.data["head_dim"] == r.data["kv_channels"], f"{r.where}.kv_channels",
                r.data["kv_channels"], "must equal head_dim when both are given")
        r.data.setdefault("head_dim", r.req("kv_channels"))
    heads, kv, head_dim = _heads(r, hidden)
    inter = _int(r, "intermediate_size")
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
        sliding = _layer_types(r, n, lambda i: use_swa and i >= full_layers)
    elif family == "gemma2":
        sliding = _layer_types(r, n, lambda i: i % 2 == 0)
    elif family == "gemma3_text":
        pattern = r.opt("sliding_window_pattern", 6)
        sliding = _layer_types(r, n, lambda i: (i + 1) % pattern != 0)
    else:
        sliding = _layer_types(r, n, lambda i: window is not None)
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
    return _finish_model(r, name, hidden, seq, tied_embeddings=tied, norm=norm)


def _mixtral(r: _Reader, name: str, family: str) -> Model:
    """mixtral and phimoe: every layer a MoE of `num_local_experts` experts."""
    hidden = _int(r, "hidden_size")
    n = _int(r, "num_hidden_layers")
    heads, kv, head_dim = _heads(r, hidden)
    window = r.opt("sliding_window", None)
    bias = bool(r.opt("attention_bias", False))
    moe = MoEFFN(_int(r, "num_local_experts"), _int(r, "num_experts_per_tok"), _int(r, "intermediate_size"))
    layer = Layer(Attention(heads, kv, head_dim, window=window, qkv_bias=bias, out_bias=bias), moe)
    tied = bool(r.opt("tie_word_embeddings", False))
    norm = "layernorm" if family == "phimoe" else "rmsnorm"
    if family == "phimoe":
        r.opt("lm_head_bias", False)
    return _finish_model(r, name, hidden, [layer] * n, tied_embeddings=tied, norm=norm)


def _qwen_moe(r: _Reader, name: str, family: str) -> Model:
    """qwen2_moe (shared expert with a gate) and qwen3_moe (no shared expert)."""
    hidden = _int(r, "hidden_size")
    n = _int(r, "num_hidden_layers")
    heads, kv, head_dim = _heads(r, hidden)
    shared = r.opt("shared_expert_intermediate_size", 0)
    moe = MoEFFN(_int(r, "num_experts"), _int(r, "num_experts_per_tok"), _int(r, "moe_intermediate_size"),
                 shared_intermediate=shared, shared_gate=shared > 0)
    dense = DenseFFN(_int(r, "intermediate_size"))
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
    return _finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _deepseek(r: _Reader, name: str, family: str) -> Model:
    """deepseek_v2 / deepseek_v3: MLA attention, dense-first then MoE every `moe_layer_freq` layers."""
    hidden = _int(r, "hidden_size")
    n = _int(r, "num_hidden_layers")
    heads = _int(r, "num_attention_heads")
    r.opt("num_key_value_heads", None)  # MLA has no separate KV heads; the field mirrors num_heads
    require(not r.opt("attention_bias", False), f"{r.where}.attention_bias", True, "MLA with biases is not supported")
    mla = MLA(heads, _int(r, "kv_lora_rank"), _int(r, "qk_nope_head_dim"), _int(r, "qk_rope_head_dim"),
              _int(r, "v_head_dim"), q_lora_rank=r.opt("q_lora_rank", None))
    dense = DenseFFN(_int(r, "intermediate_size"))
    n_shared = r.opt("n_shared_experts", 0)
    expert = _int(r, "moe_intermediate_size")
    moe = MoEFFN(_int(r, "n_routed_experts"), _int(r, "num_experts_per_tok"), expert,
                 shared_intermediate=n_shared * expert, router_bias=r.opt("topk_method", "") == "noaux_tc")
    first_dense = r.opt("first_k_dense_replace", 0)
    freq = r.opt("moe_layer_freq", 1)
    seq = [Layer(mla, moe if (i >= first_dense and i % freq == 0) else dense) for i in range(n)]
    return _finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _falcon(r: _Reader, name: str, family: str) -> Model:
    hidden = _int(r, "hidden_size")
    n = _int(r, "num_hidden_layers", "n_layer")
    heads = _int(r, "num_attention_heads", "n_head")
    require(hidden % heads == 0, f"{r.where}.num_attention_heads", heads, f"must divide hidden_size ({hidden})")
    new_arch = bool(r.opt("new_decoder_architecture", False))
    multi_query = bool(r.opt("multi_query", True))
    if new_arch:
        kv = _int(r, "num_kv_heads", "n_head_kv")
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
    return _finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", True)),
                         norm="layernorm")


def _gpt_family(r: _Reader, name: str, family: str) -> Model:
    """gptj (parallel attention/FFN, one norm, no attention bias) and gpt2 (GPT-3 shape)."""
    hidden = _int(r, "n_embd")
    n = _int(r, "n_layer")
    heads = _int(r, "n_head")
    require(hidden % heads == 0, f"{r.where}.n_head", heads, f"must divide n_embd ({hidden})")
    inter = r.opt("n_inner", 4 * hidden)
    gptj = family == "gptj"
    attn = Attention(heads, heads, hidden // heads, qkv_bias=not gptj, out_bias=not gptj)
    layer = Layer(attn, DenseFFN(inter, gated=False, bias=True), 1 if gptj else 2)
    positions = 0 if gptj else _int(r, "n_positions")
    tied = bool(r.opt("tie_word_embeddings", not gptj))
    return _finish_model(r, name, hidden, [layer] * n, tied_embeddings=tied, norm="layernorm",
                         learned_positions=positions)


def _gpt_neox(r: _Reader, name: str, family: str) -> Model:
    hidden = _int(r, "hidden_size")
    n = _int(r, "num_hidden_layers")
    heads, kv, head_dim = _heads(r, hidden)
    bias = bool(r.opt("attention_bias", True))
    r.opt("use_parallel_residual", True)
    layer = Layer(Attention(heads, kv, head_dim, qkv_bias=bias, out_bias=bias),
                  DenseFFN(_int(r, "intermediate_size"), gated=False, bias=True))
    return _finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", False)),
                         norm="layernorm")


def _opt(r: _Reader, name: str, family: str) -> Model:
    hidden = _int(r, "hidden_size")
    require(r.opt("word_embed_proj_dim", hidden) == hidden, f"{r.where}.word_embed_proj_dim",
            r.data.get("word_embed_proj_dim"), f"must equal hidden_size ({hidden}); projected embeddings are not supported")
    require(r.opt("do_layer_norm_before", True), f"{r.where}.do_layer_norm_before", False,
            "post-norm OPT variants are not supported")
    n = _int(r, "num_hidden_layers")
    heads, kv, head_dim = _heads(r, hidden)
    bias = bool(r.opt("enable_bias", True))
    layer = Layer(Attention(heads, kv, head_dim, qkv_bias=bias, out_bias=bias),
                  DenseFFN(_int(r, "ffn_dim"), gated=False, bias=bias))
    r.opt("layer_norm_elementwise_affine", True)
    require(r.opt("output_projection", True), f"{r.where}.output_projection", False, "must be true (a causal LM head)")
    final_norm = not r.opt("_remove_final_layer_norm", False)
    positions = _int(r, "max_position_embeddings") + 2  # OPT offsets learned positions by 2
    return _finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", True)),
                         norm="layernorm", learned_positions=positions, final_norm=final_norm)


def _mamba_mixer(r: _Reader, hidden: int) -> Mamba:
    expand = r.opt("expand", 2)
    d_inner = r.opt("intermediate_size", expand * hidden)
    rank = r.opt("time_step_rank", "auto")
    rank = math.ceil(hidden / 16) if rank == "auto" else rank
    return Mamba(d_inner, _int(r, "state_size"), r.opt("conv_kernel", 4), rank,
                 proj_bias=bool(r.opt("use_bias", False)), conv_bias=bool(r.opt("use_conv_bias", True)))


def _layers_and_norm(r: _Reader) -> tuple[int, str]:
    """Mamba configs carry the layer count under two names and say whether norms are RMSNorm."""
    n = _int(r, "num_hidden_layers", "n_layer")
    other = r.opt("n_layer", n)
    require(other == n, f"{r.where}.n_layer", other, f"must equal num_hidden_layers ({n})")
    return n, "rmsnorm" if r.opt("rms_norm", True) else "layernorm"


def _mamba(r: _Reader, name: str, family: str) -> Model:
    hidden = _int(r, "hidden_size")
    n, norm = _layers_and_norm(r)
    layer = Layer(_mamba_mixer(r, hidden), None, norms=1)
    return _finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", True)),
                         norm=norm)


def _mamba2(r: _Reader, name: str, family: str) -> Model:
    hidden = _int(r, "hidden_size")
    n, norm = _layers_and_norm(r)
    d_inner = r.opt("expand", 2) * hidden
    stated = r.opt("intermediate_size", d_inner)
    require(stated == d_inner, f"{r.where}.intermediate_size", stated, f"must equal expand x hidden_size ({d_inner})")
    head_dim = r.opt("head_dim", 64)
    heads = r.opt("num_heads", d_inner // head_dim)
    mixer = Mamba2(d_inner, _int(r, "state_size"), r.opt("conv_kernel", 4), heads, head_dim,
                   n_groups=r.opt("n_groups", 1), proj_bias=bool(r.opt("use_bias", False)),
                   conv_bias=bool(r.opt("use_conv_bias", True)))
    r.opt("chunk_size", 256)
    r.opt("time_step_rank", None)
    return _finish_model(r, name, hidden, [Layer(mixer, None, norms=1)] * n,
                         tied_embeddings=bool(r.opt("tie_word_embeddings", True)), norm=norm)


def _jamba(r: _Reader, name: str, family: str) -> Model:
    hidden = _int(r, "hidden_size")
    n = _int(r, "num_hidden_layers")
    heads, kv, head_dim = _heads(r, hidden)
    attn = Attention(heads, kv, head_dim, window=r.opt("sliding_window", None))
    mamba = Mamba(r.opt("mamba_expand", 2) * hidden, _int(r, "mamba_d_state"), r.opt("mamba_d_conv", 4),
                  r.opt("mamba_dt_rank", math.ceil(hidden / 16)), proj_bias=bool(r.opt("mamba_proj_bias", False)),
                  conv_bias=bool(r.opt("mamba_conv_bias", True)))
    r.opt("mamba_inner_layernorms", False)  # norms of dt_rank + 2 d_state weights per layer: negligible
    inter = _int(r, "intermediate_size")
    moe = MoEFFN(_int(r, "num_experts"), _int(r, "num_experts_per_tok"), inter)
    dense = DenseFFN(inter)
    a_period, a_offset = r.opt("attn_layer_period", 8), r.opt("attn_layer_offset", 4)
    e_period, e_offset = r.opt("expert_layer_period", 2), r.opt("expert_layer_offset", 1)
    seq = [
        Layer(attn if i % a_period == a_offset else mamba, moe if i % e_period == e_offset else dense)
        for i in range(n)
    ]
    return _finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _dbrx(r: _Reader, name: str, family: str) -> Model:
    hidden = _int(r, "d_model")
    n = _int(r, "n_layers")
    heads = _int(r, "n_heads")
    require(hidden % heads == 0, f"{r.where}.n_heads", heads, f"must divide d_model ({hidden})")
    attn_cfg = _Reader(r.req("attn_config"), f"{r.where}.attn_config")
    kv = _int(attn_cfg, "kv_n_heads")
    attn_cfg.opt("clip_qkv", None)
    attn_cfg.opt("attn_pdrop", None)
    attn_cfg.finish()
    ffn_cfg = _Reader(r.req("ffn_config"), f"{r.where}.ffn_config")
    moe = MoEFFN(_int(ffn_cfg, "moe_num_experts"), _int(ffn_cfg, "moe_top_k"), _int(ffn_cfg, "ffn_hidden_size"))
    for key in ("ffn_act_fn", "moe_jitter_eps", "moe_loss_weight", "moe_normalize_expert_weights", "uniform_expert_assignment"):
        ffn_cfg.opt(key, None)
    ffn_cfg.finish()
    r.opt("max_seq_len", None)
    layer = Layer(Attention(heads, kv, hidden // heads), moe)
    return _finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


def _grok(r: _Reader, name: str, family: str) -> Model:
    """Grok-1 ports: eight experts, top-2, with sandwich norms around attention and the MoE."""
    hidden = _int(r, "hidden_size")
    n = _int(r, "num_hidden_layers")
    heads, kv, head_dim = _heads(r, hidden)
    moe = MoEFFN(_int(r, "num_experts", "num_local_experts"), _int(r, "num_experts_per_tok"),
                 _int(r, "intermediate_size", "widening_factor"))
    for key in ("max_attn_value", "output_multiplier_scale", "embedding_multiplier_scale", "attn_output_multiplier"):
        r.opt(key, None)
    layer = Layer(Attention(heads, kv, head_dim), moe, norms=4)
    return _finish_model(r, name, hidden, [layer] * n, tied_embeddings=bool(r.opt("tie_word_embeddings", True)))


def _llama4(r: _Reader, name: str, family: str) -> Model:
    """llama4_text: MoE every `interleave_moe_layer_step` layers with one shared expert; chunked
    local attention on RoPE layers, global attention on the NoPE layers."""
    hidden = _int(r, "hidden_size")
    n = _int(r, "num_hidden_layers")
    heads, kv, head_dim = _heads(r, hidden)
    expert = _int(r, "intermediate_size")
    moe = MoEFFN(_int(r, "num_local_experts"), _int(r, "num_experts_per_tok"), expert, shared_intermediate=expert)
    dense = DenseFFN(_int(r, "intermediate_size_mlp"))
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
    return _finish_model(r, name, hidden, seq, tied_embeddings=bool(r.opt("tie_word_embeddings", False)))


_FAMILIES = {
    "llama": _llama_like,
    "mistral": _llama_like,
    "qwen2": _llama_like,
    "qwen3": _llama_like,
    "phi3": _llama_like,
    "gemma": _llama_like,
    "gemma2": _llama_like,
    "gemma3_text": _llama_like,
    "nemotron": _llama_like,
    "olmo2": _llama_like,
    "mixtral": _mixtral,
    "phimoe": _mixtral,
    "qwen2_moe": _qwen_moe,
    "qwen3_moe": _qwen_moe,
    "deepseek_v2": _deepseek,
    "deepseek_v3": _deepseek,
    "falcon": _falcon,
    "RefinedWeb": _falcon,
    "RefinedWebModel": _falcon,
    "gptj": _gpt_family,
    "gpt2": _gpt_family,
    "gpt_neox": _gpt_neox,
    "opt": _opt,
    "mamba": _mamba,
    "falcon_mamba": _mamba,
    "mamba2": _mamba2,
    "jamba": _jamba,
    "dbrx": _dbrx,
    "grok-1": _grok,
    "grok": _grok,
    "llama4_text": _llama4,
}

#: multimodal wrappers whose language model lives under `text_config`
_WRAPPERS = {"gemma3": "gemma3_text", "llama4": "llama4_text"}
_WRAPPER_FIELDS = {"text_config", "vision_config", "mm_tokens_per_image", "boi_token_index", "eoi_token_index",
                   "image_token_index", "initializer_range", "vision_feature_layer", "vision_feature_select_strategy",
                   "projector_hidden_act", "multimodal_projector_bias", "tie_word_embeddings"}

SUPPORTED_MODEL_TYPES = tuple(sorted(set(_FAMILIES) | set(_WRAPPERS)))


def model_from_hf_config(config: dict, name: str = "model", source: str = "", aliases=()) -> Model:
    """Map a Hugging Face config dict to a Model; unknown families or fields fail loudly."""
    if not isinstance(config, dict):
        raise ConfigError(f"{name}: a config.json must hold a JSON object")
    model_type = config.get("model_type")
    if model_type in _WRAPPERS:
        extra = sorted(set(config) - _WRAPPER_FIELDS - NON_ARCHITECTURAL)
        if extra:
            raise ConfigError(f"{name}: cannot map field(s) {', '.join(extra)} of the {model_type} wrapper")
        text = dict(config.get("text_config") or {})
        text.setdefault("model_type", _WRAPPERS[model_type])
        if "tie_word_embeddings" in config:
            text.setdefault("tie_word_embeddings", config["tie_word_embeddings"])
        config, model_type = text, text["model_type"]
    if model_type not in _FAMILIES:
        raise ConfigError(
            f"{name}: model_type {model_type!r} is not supported; supported: {', '.join(SUPPORTED_MODEL_TYPES)}"
        )
    config = {**CLASS_DEFAULTS.get(model_type, {}), **config}
    model = _FAMILIES[model_type](_Reader(config, name), name, model_type)
    return replace(model, source=source, aliases=tuple(aliases))
