"""A model as data: an ordered stack of layers, each a token mixer plus a feed-forward part.

Layers are stored as runs (`count` consecutive identical layers), so interleaved patterns
(sliding/global attention, Jamba's attention/Mamba and dense/MoE schedules, dense-first MoE)
are exact, while `layer_kinds()` groups identical layers so each kind is costed once.
Every dataclass is frozen and hashable; validation happens at construction and names the
field and the rule that failed.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields
from typing import Union

from ..errors import ConfigError, require


def _positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        require(
            isinstance(value, int) and not isinstance(value, bool) and value > 0,
            f"{type(obj).__name__}.{name}",
            value,
            "must be a positive integer",
        )


def _non_negative(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        require(
            isinstance(value, int) and not isinstance(value, bool) and value >= 0,
            f"{type(obj).__name__}.{name}",
            value,
            "must be a non-negative integer",
        )


@dataclass(frozen=True)
class Attention:
    """Softmax attention with `num_kv_heads` key/value heads: MHA (= heads), GQA (divides heads),
    MQA (one). `window` is the sliding-window length in tokens (None: global). `chunk` is
    chunked local attention (Llama 4): each token sees only its own chunk of this many tokens."""

    num_heads: int
    num_kv_heads: int
    head_dim: int
    window: int | None = None
    chunk: int | None = None
    qkv_bias: bool = False
    out_bias: bool = False
    qk_norm: bool = False

    def __post_init__(self):
        _positive(self, "num_heads", "num_kv_heads", "head_dim")
        require(
            self.num_heads % self.num_kv_heads == 0,
            "Attention.num_kv_heads",
            self.num_kv_heads,
            f"must divide num_heads ({self.num_heads})",
        )
        for name in ("window", "chunk"):
            value = getattr(self, name)
            require(value is None or (isinstance(value, int) and value > 0), f"Attention.{name}", value,
                    "must be a positive integer or null")

    @property
    def kind(self) -> str:
        if self.num_kv_heads == self.num_heads:
            return "MHA"
        return "MQA" if self.num_kv_heads == 1 else "GQA"

    @property
    def span(self) -> int | None:
        """Most tokens one query attends to, or None for global attention."""
        spans = [s for s in (self.window, self.chunk) if s is not None]
        return min(spans) if spans else None


@dataclass(frozen=True)
class MLA:
    """Multi-head latent attention (DeepSeek-V2/V3): keys and values are compressed into a shared
    latent of `kv_lora_rank` plus a decoupled rope key of `qk_rope_head_dim`; only those are cached."""

    num_heads: int
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    q_lora_rank: int | None = None

    def __post_init__(self):
        _positive(self, "num_heads", "kv_lora_rank", "qk_nope_head_dim", "qk_rope_head_dim", "v_head_dim")
        require(self.q_lora_rank is None or (isinstance(self.q_lora_rank, int) and self.q_lora_rank > 0),
                "MLA.q_lora_rank", self.q_lora_rank, "must be a positive integer or null")

    kind = "MLA"
    window = None
    span = None

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim


@dataclass(frozen=True)
class Mamba:
    """Mamba (S6) selective state-space mixer: inner width `expand * hidden`, state `d_state`,
    depthwise causal conv of `d_conv` taps, delta projection rank `dt_rank`."""

    d_inner: int
    d_state: int
    d_conv: int
    dt_rank: int
    proj_bias: bool = False
    conv_bias: bool = True

    def __post_init__(self):
        _positive(self, "d_inner", "d_state", "d_conv", "dt_rank")

    kind = "Mamba"
    window = None
    span = None


@dataclass(frozen=True)
class Mamba2:
    """Mamba-2 (SSD) mixer: `d_inner` split into `num_heads` heads of `head_dim`, B and C shared
    across `n_groups` groups of state size `d_state`."""

    d_inner: int
    d_state: int
    d_conv: int
    num_heads: int
    head_dim: int
    n_groups: int = 1
    proj_bias: bool = False
    conv_bias: bool = True

    def __post_init__(self):
        _positive(self, "d_inner", "d_state", "d_conv", "num_heads", "head_dim", "n_groups")
        require(self.num_heads * self.head_dim == self.d_inner, "Mamba2.num_heads", self.num_heads,
                f"num_heads x head_dim ({self.head_dim}) must equal d_inner ({self.d_inner})")
        require(self.num_heads % self.n_groups == 0, "Mamba2.n_groups", self.n_groups,
                f"must divide num_heads ({self.num_heads})")

    kind = "Mamba2"
    window = None
    span = None

    @property
    def conv_dim(self) -> int:
        return self.d_inner + 2 * self.n_groups * self.d_state


Mixer = Union[Attention, MLA, Mamba, Mamba2]


@dataclass(frozen=True)
class DenseFFN:
    """Feed-forward: up (and gate, when `gated`) projection to `intermediate`, then down."""

    intermediate: int
    gated: bool = True
    bias: bool = False

    def __post_init__(self):
        _positive(self, "intermediate")

    kind = "dense"


@dataclass(frozen=True)
class MoEFFN:
    """Mixture of experts: a router picks `top_k` of `num_experts` routed experts per token, each
    of width `expert_intermediate`; `shared_intermediate` is the total width of always-on shared
    experts (0 when none), with an optional sigmoid gate on their output (Qwen2-MoE)."""

    num_experts: int
    top_k: int
    expert_intermediate: int
    gated: bool = True
    shared_intermediate: int = 0
    shared_gate: bool = False
    router_bias: bool = False

    def __post_init__(self):
        _positive(self, "num_experts", "top_k", "expert_intermediate")
        _non_negative(self, "shared_intermediate")
        require(self.top_k <= self.num_experts, "MoEFFN.top_k", self.top_k,
                f"must not exceed num_experts ({self.num_experts})")

    kind = "moe"


FFN = Union[DenseFFN, MoEFFN]


@dataclass(frozen=True)
class Layer:
    """One decoder layer: a mixer, an optional FFN (pure Mamba layers have none) and its norms.
    `norms` counts the normalisation ops of the layer (2 pre-norms; 1 for parallel attention/FFN
    with a shared norm; 4 for Gemma-2's sandwich norms)."""

    mixer: Mixer
    ffn: FFN | None
    norms: int = 2

    def __post_init__(self):
        _non_negative(self, "norms")


@dataclass(frozen=True)
class LayerRun:
    count: int
    layer: Layer

    def __post_init__(self):
        _positive(self, "count")


@dataclass(frozen=True)
class Model:
    """A decoder-only language model."""

    name: str
    hidden: int
    vocab: int
    layers: tuple[LayerRun, ...]
    tied_embeddings: bool = False
    norm: str = "rmsnorm"
    learned_positions: int = 0
    final_norm: bool = True
    source: str = ""
    aliases: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self):
        _positive(self, "hidden", "vocab")
        _non_negative(self, "learned_positions")
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
        return any(isinstance(layer.ffn, MoEFFN) for layer in self.layer_kinds())


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

_MIXERS = {"attention": Attention, "mla": MLA, "mamba": Mamba, "mamba2": Mamba2}
_FFNS = {"dense": DenseFFN, "moe": MoEFFN}


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


def _tagged(table: dict, data: dict, where: str):
    data = dict(data)
    kind = data.pop("type", None)
    if kind not in table:
        raise ConfigError(f"{where}.type = {kind!r}: must be one of {', '.join(table)}")
    return _build(table[kind], data, where)


def model_from_dict(data: dict) -> Model:
    """Build a Model from llmsizer's native schema (see docs/models.md)."""
    data = dict(data)
    runs = []
    for i, item in enumerate(data.pop("layers", [])):
        item = dict(item)
        where = f"layers[{i}]"
        count = item.pop("count", 1)
        mixer = _tagged(_MIXERS, item.pop("mixer", {}), f"{where}.mixer")
        ffn_data = item.pop("ffn", None)
        ffn = None if ffn_data is None else _tagged(_FFNS, ffn_data, f"{where}.ffn")
        layer = _build(Layer, {"mixer": mixer, "ffn": ffn, **item}, where)
        runs.append(_build(LayerRun, {"count": count, "layer": layer}, where))
    data["layers"] = tuple(runs)
    if "aliases" in data:
        data["aliases"] = tuple(data["aliases"])
    return _build(Model, data, "model")


def model_to_dict(model: Model) -> dict:
    """The native schema of a model: what `model_from_dict` reads back."""

    def tagged(obj, table):
        tag = next(k for k, v in table.items() if isinstance(obj, v))
        return {"type": tag, **{f.name: getattr(obj, f.name) for f in fields(obj)}}

    return {
        **{f.name: getattr(model, f.name) for f in fields(model) if f.name not in ("layers", "aliases")},
        "aliases": list(model.aliases),
        "layers": [
            {
                "count": run.count,
                "mixer": tagged(run.layer.mixer, _MIXERS),
                "ffn": None if run.layer.ffn is None else tagged(run.layer.ffn, _FFNS),
                "norms": run.layer.norms,
            }
            for run in model.layers
        ],
    }
