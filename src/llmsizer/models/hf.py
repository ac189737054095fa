"""Load a Hugging Face `config.json` into a Model: one mapping function per `model_type` (in
`hf_dense`, `hf_moe` and `hf_hybrid`, reading fields through `hf_reader.Reader`), and the
multimodal wrappers whose language model sits under `text_config`."""

from __future__ import annotations

from dataclasses import replace

from ..errors import ConfigError
from . import hf_dense, hf_hybrid, hf_moe
from .hf_reader import CLASS_DEFAULTS, NON_ARCHITECTURAL, Reader
from .spec import Model

#: model_type -> mapping function, from each family module
_FAMILIES = {**hf_dense.FAMILIES, **hf_moe.FAMILIES, **hf_hybrid.FAMILIES}

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
    model = _FAMILIES[model_type](Reader(config, name), name, model_type)
    return replace(model, source=source, aliases=tuple(aliases))
