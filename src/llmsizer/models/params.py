"""Parameter counts by hand-checkable closed forms, per component.

Counts are exact element counts of the weight tensors a checkpoint holds for the language model
(vision towers are not part of it). Each layer part counts its own weights (`params`, in its
kind's module); multi-token-prediction modules are counted apart (`mtp_params`).
"""

from __future__ import annotations

from .feedforward import dense_ffn_params
from .kinds import ParamCount
from .spec import Layer, Model

__all__ = ["ParamCount", "dense_ffn_params", "embedding_params", "layer_params", "mtp_params", "norm_params",
           "parameter_count"]


def norm_params(width: int, norm: str) -> int:
    """RMSNorm has a scale; LayerNorm a scale and a bias."""
    return width * (2 if norm == "layernorm" else 1)


def layer_params(layer: Layer, model: Model) -> ParamCount:
    base = layer.norms * norm_params(model.hidden, model.norm)
    mixer = layer.mixer.params(model.hidden) if layer.mixer is not None else 0
    ffn = layer.ffn.params(model.hidden) if layer.ffn is not None else ParamCount(0, 0)
    return ParamCount(base + mixer + ffn.total, base + mixer + ffn.active)


def embedding_params(model: Model) -> int:
    """Input table, output head when untied, learned positions and the final norm."""
    tables = model.vocab * model.hidden * (1 if model.tied_embeddings else 2)
    positions = model.learned_positions * model.hidden
    final = norm_params(model.hidden, model.norm) if model.final_norm else 0
    return tables + positions + final


def parameter_count(model: Model) -> ParamCount:
    """Total and active (per token) parameters of the model, without its MTP modules."""
    total = active = embedding_params(model)
    for layer, count in model.layer_kinds().items():
        n = layer_params(layer, model)
        total += count * n.total
        active += count * n.active
    return ParamCount(total, active)


def mtp_params(model: Model) -> ParamCount:
    """Multi-token-prediction modules (DeepSeek-V3 style): each is one more decoder layer like the
    model's last, a projection of [embedding; hidden state] (2h x h) and three norms (embedding,
    hidden state, head); they share the embedding table and output head with the model."""
    last = layer_params(model.layers[-1].layer, model)
    extra = 2 * model.hidden * model.hidden + 3 * norm_params(model.hidden, model.norm)
    return ParamCount(model.mtp_layers * (last.total + extra), model.mtp_layers * (last.active + extra))
