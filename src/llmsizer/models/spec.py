"""A model as data: an ordered stack of layers, each a token mixer plus a feed-forward part.

Layers are stored as runs (`count` consecutive identical layers), so interleaved patterns
(sliding/global attention, Jamba's attention/Mamba and dense/MoE schedules, dense-first MoE)
are exact, while `layer_kinds()` groups identical layers so each kind is costed once.
Every dataclass is frozen and hashable; validation happens at construction and names the
field and the rule that failed. Each mixer and FFN kind lives in its own module with its rules
(see `kinds`); this module assembles them into layers and models.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Union

from ..errors import ConfigError, require
from .attention import MLA, Attention
from .feedforward import DenseFFN, MoEFFN
from .kinds import FFNS, MIXERS, non_negative, positive, register
from .recurrent import LinearAttention, Mamba, Mamba2


@register(MIXERS, "parallel")
@dataclass(frozen=True)
class ParallelMixers:
    """Mixers that read the same normed input side by side and add their outputs (Falcon-H1:
    attention and Mamba-2 in every layer). Each answer is the sum of its parts'."""

    parts: tuple

    def __post_init__(self):
        require(len(self.parts) >= 2 and all(getattr(p, "tag", "parallel") in MIXERS for p in self.parts),
                "ParallelMixers.parts", self.parts, "must hold two or more mixers")

    window = None
    span = None

    @property
    def kind(self) -> str:
        return "+".join(p.kind for p in self.parts)

    def params(self, hidden: int) -> int:
        return sum(p.params(hidden) for p in self.parts)

    def shard(self, plan) -> "ParallelMixers":
        return ParallelMixers(tuple(p.shard(plan) for p in self.parts))

    def check(self, plan) -> None:
        for p in self.parts:
            p.check(plan)

    def cache_elements(self, context, plan):
        kv = state = 0.0
        for p in self.parts:
            k, s = p.cache_elements(context, plan)
            kv, state = kv + k, state + s
        return kv, state

    def activation_width(self, plan) -> float:
        return sum(p.activation_width(plan) for p in self.parts)


Mixer = Union[Attention, MLA, Mamba, Mamba2, LinearAttention, ParallelMixers]
FFN = Union[DenseFFN, MoEFFN]


@dataclass(frozen=True)
class Layer:
    """One decoder layer: a mixer, an optional FFN (pure Mamba layers have none) and its norms.
    `norms` counts the normalisation ops of the layer (2 pre-norms; 1 for parallel attention/FFN
    with a shared norm; 4 for Gemma-2's sandwich norms)."""

    mixer: Mixer | None
    ffn: FFN | None
    norms: int = 2

    def __post_init__(self):
        non_negative(self, "norms")
        require(self.mixer is not None or self.ffn is not None, "Layer", self, "needs a mixer, an FFN or both")

    @property
    def parts(self) -> tuple:
        """The mixer and the FFN that are present, in order."""
        return tuple(p for p in (self.mixer, self.ffn) if p is not None)


@dataclass(frozen=True)
class LayerRun:
    count: int
    layer: Layer

    def __post_init__(self):
        positive(self, "count")


@dataclass(frozen=True)
class Model:
    """A decoder-only language model. `mtp_layers`: multi-token-prediction modules the checkpoint
    carries beside the model (DeepSeek-V3, GLM-4.5, MiniMax-M2), usable as a self-draft."""

    name: str
    hidden: int
    vocab: int
    layers: tuple[LayerRun, ...]
    tied_embeddings: bool = False
    norm: str = "rmsnorm"
    learned_positions: int = 0
    final_norm: bool = True
    mtp_layers: int = 0
    source: str = ""
    aliases: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self):
        positive(self, "hidden", "vocab")
        non_negative(self, "learned_positions", "mtp_layers")
        require(self.norm in ("rmsnorm", "layernorm"), "Model.norm", self.norm, "must be rmsnorm or layernorm")
        require(len(self.layers) > 0, "Model.layers", self.layers, "must hold at least one layer")

    @property
    def num_layers(self) -> int:
        return sum(run.count for run in self.layers)

    def layer_kinds(self) -> dict[Layer, int]:
        """Distinct layers with how many times each occurs: costed once, then multiplied.
        Kept after the first call (the model is immutable)."""
        if "_kinds" not in self.__dict__:
            counts: Counter[Layer] = Counter()
            for run in self.layers:
                counts[run.layer] += run.count
            object.__setattr__(self, "_kinds", dict(counts))
        return self.__dict__["_kinds"]

    def layer_sequence(self) -> list[Layer]:
        return [run.layer for run in self.layers for _ in range(run.count)]

    @property
    def is_moe(self) -> bool:
        return any(layer.ffn is not None and layer.ffn.kind == "moe" for layer in self.layer_kinds())


def runs_from_sequence(sequence: list[Layer]) -> tuple[LayerRun, ...]:
    """Compress a per-layer list into runs of identical consecutive layers."""
    runs: list[LayerRun] = []
    for layer in sequence:
        if runs and runs[-1].layer == layer:
            runs[-1] = LayerRun(runs[-1].count + 1, layer)
        else:
            runs.append(LayerRun(1, layer))
    return tuple(runs)


# -- native (de)serialisation -------------------------------------------------------------------

def _build(cls, data: dict, where: str):
    """Construct a dataclass from a dict, rejecting unknown fields by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    allowed = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    try:
        return cls(**data)
    except TypeError as exc:  # a missing required field
        raise ConfigError(f"{where}: {exc}") from None


def _tagged(table: dict, data: dict | None, where: str):
    """A layer part from its tagged mapping (None stays None); a parallel mixer holds its parts."""
    if data is None:
        return None
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in table:
        raise ConfigError(f"{where}.type = {kind!r}: must be one of {', '.join(table)}")
    if kind == "parallel":
        data["parts"] = tuple(_tagged(table, part, f"{where}.parts[{i}]") for i, part in enumerate(data.get("parts", [])))
    return _build(table[kind], data, where)


def _untagged(part) -> dict | None:
    """The tagged mapping of a layer part: what `_tagged` reads back."""
    if part is None:
        return None
    values = {f.name: getattr(part, f.name) for f in fields(part)}
    if "parts" in values:
        values["parts"] = [_untagged(p) for p in values["parts"]]
    return {"type": part.tag, **values}


def model_from_dict(data: dict) -> Model:
    """Build a Model from llmsizer's native schema (see docs/models.md)."""
    data = dict(data)
    runs = []
    for i, item in enumerate(data.pop("layers", [])):
        item = dict(item)
        where = f"layers[{i}]"
        count = item.pop("count", 1)
        mixer = _tagged(MIXERS, item.pop("mixer", None), f"{where}.mixer")
        ffn = _tagged(FFNS, item.pop("ffn", None), f"{where}.ffn")
        layer = _build(Layer, {"mixer": mixer, "ffn": ffn, **item}, where)
        runs.append(_build(LayerRun, {"count": count, "layer": layer}, where))
    data["layers"] = tuple(runs)
    if "aliases" in data:
        data["aliases"] = tuple(data["aliases"])
    return _build(Model, data, "model")


def model_to_dict(model: Model) -> dict:
    """The native schema of a model: what `model_from_dict` reads back."""
    return {
        **{f.name: getattr(model, f.name) for f in fields(model) if f.name not in ("layers", "aliases")},
        "aliases": list(model.aliases),
        "layers": [
            {
                "count": run.count,
                "mixer": _untagged(run.layer.mixer),
                "ffn": _untagged(run.layer.ffn),
                "norms": run.layer.norms,
            }
            for run in model.layers
        ],
    }
