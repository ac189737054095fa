"""Reading a Hugging Face `config.json`: the field reader every family mapping uses.

A `Reader` hands out fields and records which were used; after mapping, any field left over that
is not a known non-architectural field (token ids, dropout, initialisation, positional-encoding
constants, ...) is an error that lists them, so nothing that could change the architecture is
dropped silently. Where a field is absent, the value transformers' own config class defaults to
is used (named in CLASS_DEFAULTS below and in docs/models.md), never a guess of ours.
"""

from __future__ import annotations

from ..errors import ConfigError, require
from .spec import Layer, Model, runs_from_sequence

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
    "gemma3_text": {"vocab_size": 262208, "head_dim": 256, "sliding_window_pattern": 6, "num_attention_heads": 8,
                    "num_key_value_heads": 4},
}


class Reader:
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


def int_field(reader: Reader, *keys: str) -> int:
    value = reader.req(*keys)
    require(isinstance(value, int) and not isinstance(value, bool), f"{reader.where}.{keys[0]}", value,
            "must be an integer")
    return value


def attention_heads(r: Reader, hidden: int, heads_key=("num_attention_heads",), kv_key=("num_key_value_heads",)):
    heads = int_field(r, *heads_key)
    kv = r.opt(kv_key[0], None)
    for extra in kv_key[1:]:
        kv = r.opt(extra, kv) if kv is None else kv
    kv = heads if kv is None else kv
    if r.has("head_dim"):
        head_dim = int_field(r, "head_dim")
    else:
        r.used.add("head_dim")
        require(hidden % heads == 0, f"{r.where}.num_attention_heads", heads,
                f"must divide hidden_size ({hidden}) when head_dim is not given")
        head_dim = hidden // heads
    return heads, kv, head_dim


def sliding_flags(r: Reader, n: int, default_sliding) -> list[bool]:
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


def finish_model(r: Reader, name: str, hidden: int, sequence: list[Layer], **kw) -> Model:
    vocab = int_field(r, "vocab_size")
    r.finish()
    return Model(name=name, hidden=hidden, vocab=vocab, layers=runs_from_sequence(sequence), **kw)
