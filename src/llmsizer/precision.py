"""Numeric precisions: bytes per element and the matrix-unit rate each pair of operands runs at.

Weights, activations and the KV cache each have their own precision. A matrix product runs at
the peak of the precision both operands share after any dequantisation: W8A8 fp8 runs at the fp8
rate; weight-only int4 (activations bf16) is dequantised to bf16 and runs at the bf16 rate.
A weight precision is a storage format (`fp4`) or the name of a quantisation preset (`nvfp4`).
On a chip with no matrix rate for the activations' format (fp4 on Hopper, fp8 on A100) the
scheme runs weight-only, dequantised to the 16-bit format the chip has, as engines' fallback
kernels do; `Precisions.note` says so.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .errors import require

#: bytes per element of each storage precision
BYTES = {
    "fp32": 4.0,
    "tf32": 4.0,
    "bf16": 2.0,
    "fp16": 2.0,
    "fp8": 1.0,
    "int8": 1.0,
    "int4": 0.5,
    "fp4": 0.5,
}

#: default quantisation groups of sub-byte formats: (elements per scale, bytes per scale).
#: int4: one fp16 scale and a packed int4 zero point per 128 weights (AWQ/GPTQ group_size 128);
#: fp4: one fp8 scale per 16 elements (NVFP4); others use per-channel scales (negligible bytes).
DEFAULT_GROUPS = {"int4": (128, 2.5), "fp4": (16, 1.0)}


def bytes_per_element(precision: str) -> float:
    require(precision in BYTES, "precision", precision, f"must be one of {', '.join(BYTES)}")
    return BYTES[precision]


def stored_bytes(precision: str, group: int | None = None, scale_bytes: float | None = None) -> float:
    """Bytes of one element including its share of quantisation scales (`group` elements per
    scale of `scale_bytes`; the format's default groups when not given)."""
    default_group, default_scale = DEFAULT_GROUPS.get(precision, (0, 0.0))
    group = default_group if group is None else group
    scale_bytes = default_scale if scale_bytes is None else scale_bytes
    return bytes_per_element(precision) + (scale_bytes / group if group else 0.0)


def matmul_precision(weight: str, activation: str) -> str:
    """Precision a weight x activation product runs at on the matrix unit.

    Both operands must share one format, so the narrower is converted to the wider (weight-only
    quantisation dequantises weights to the activation type). Between formats of equal width
    (int8 weights with fp8 activations, fp16 with bf16) the activation format wins.
    """
    if bytes_per_element(weight) > bytes_per_element(activation):
        return weight
    return activation


def needs_dequantisation(weight: str, activation: str) -> bool:
    """Weight-only quantisation: the weights are converted to the activation type before use."""
    return matmul_precision(weight, activation) != weight


@dataclass(frozen=True)
class Precisions:
    """The precision of each tensor class: weights, activations and the KV cache (and MoE experts
    when an engine keeps them apart), with the group size and scale bytes of quantised weights and
    KV (None: the format's default groups)."""

    weights: str = "bf16"
    activations: str = "bf16"
    kv_cache: str = "bf16"
    #: MoE expert weights, when an engine keeps them in another precision than the other weights
    experts: str | None = None
    weight_group: int | None = None
    weight_scale_bytes: float | None = None
    kv_group: int | None = None
    kv_scale_bytes: float | None = None
    #: how the scheme was adapted to the chip it runs on ("" when it runs as asked)
    note: str = ""

    def __post_init__(self):
        for field in ("weights", "activations", "kv_cache", "expert_weights"):
            value = getattr(self, field)
            require(value in BYTES, f"{field} precision", value, f"must be one of {', '.join(BYTES)}")
        require(
            self.activations in ("fp32", "bf16", "fp16", "fp8", "int8", "fp4"),
            "activations precision",
            self.activations,
            "activations must be fp32, bf16, fp16, fp8, int8 or fp4",
        )
        for field in ("weight_group", "kv_group"):
            value = getattr(self, field)
            require(value is None or (isinstance(value, int) and value >= 1), field, value, "must be a positive integer")

    @property
    def expert_weights(self) -> str:
        return self.experts or self.weights

    def weight_bytes(self, precision: str | None = None) -> float:
        """Bytes of one weight in `precision` (the weights' own by default), scales included."""
        return stored_bytes(precision or self.weights, self.weight_group, self.weight_scale_bytes)

    @property
    def kv_bytes(self) -> float:
        return stored_bytes(self.kv_cache, self.kv_group, self.kv_scale_bytes)

    def to_dict(self) -> dict:
        return {"weights": self.weights, "activations": self.activations, "kv_cache": self.kv_cache,
                **({"experts": self.experts} if self.experts else {}), **({"note": self.note} if self.note else {})}

    def on(self, accelerator) -> "Precisions":
        """These precisions as `accelerator` runs them: activations of a format it has no matrix
        rate for become its 16-bit format, so the weights are dequantised (weight-only)."""
        if bytes_per_element(self.activations) >= 2 or accelerator.runs_natively(self.activations):
            return self
        wide = next((p for p in ("bf16", "fp16") if accelerator.runs_natively(p)), "bf16")
        note = (f"{accelerator.name} has no {self.activations} matrix rate: weights run weight-only, "
                f"dequantised to {wide} with {wide} activations")
        return replace(self, activations=wide, note=note)

    @classmethod
    def from_weight_precision(cls, weights: str, kv_cache: str | None = None) -> "Precisions":
        """The usual pairing: 8-bit float weights run W8A8; 16-bit and sub-byte weights run with
        16-bit activations (weight-only quantisation); the KV cache follows the weights unless given.
        A preset name (`nvfp4`, `awq-int4`, ...) gives that preset, with `kv_cache` when given."""
        if weights not in BYTES:
            if weights not in QUANT_PRESETS:
                from .errors import unknown_name

                raise unknown_name("weight precision", str(weights), list(WEIGHT_PRECISIONS),
                                   f"the formats and presets: {', '.join(WEIGHT_PRECISIONS)}")
            return quant_preset(weights, kv_cache)
        activations = weights if weights in ("fp8", "int8", "fp16", "bf16", "fp32") else "bf16"
        kv = kv_cache if kv_cache is not None else (weights if weights in ("fp8", "bf16", "fp16") else "bf16")
        return cls(weights=weights, activations=activations, kv_cache=kv)


@dataclass(frozen=True)
class QuantPreset:
    """A named quantisation scheme and where its conventions come from."""

    precisions: Precisions
    description: str


QUANT_PRESETS = {
    "bf16": QuantPreset(Precisions(), "16-bit weights, activations and KV cache"),
    "fp8": QuantPreset(Precisions("fp8", "fp8", "fp8"),
                       "W8A8 FP8 (e4m3, per-tensor or per-channel scales) with an FP8 KV cache, as TensorRT-LLM, "
                       "vLLM and SGLang serve FP8 checkpoints"),
    "fp8-kv16": QuantPreset(Precisions("fp8", "fp8", "bf16"), "W8A8 FP8 with a 16-bit KV cache"),
    "int8": QuantPreset(Precisions("int8", "int8", "bf16"), "W8A8 INT8 (SmoothQuant, per-channel scales)"),
    "w8a16": QuantPreset(Precisions("int8", "bf16", "bf16"), "INT8 weight-only, per-channel scales"),
    "awq-int4": QuantPreset(Precisions("int4", "bf16", "bf16", weight_group=128, weight_scale_bytes=2.5),
                            "AWQ INT4 weight-only: group 128, an fp16 scale and a packed int4 zero per group"),
    "gptq-int4": QuantPreset(Precisions("int4", "bf16", "bf16", weight_group=128, weight_scale_bytes=2.5),
                             "GPTQ INT4 weight-only: group 128, an fp16 scale and a packed int4 zero per group"),
    "nvfp4": QuantPreset(Precisions("fp4", "fp4", "fp8", weight_group=16, weight_scale_bytes=1.0),
                         "NVFP4 W4A4: blocks of 16 with an FP8 (e4m3) scale, FP8 KV cache (Blackwell)"),
    "mxfp4": QuantPreset(Precisions("fp4", "bf16", "bf16", weight_group=32, weight_scale_bytes=1.0),
                         "MXFP4 weight-only (OCP microscaling): blocks of 32 with an 8-bit power-of-two scale"),
    "kv-fp8": QuantPreset(Precisions("bf16", "bf16", "fp8"), "16-bit weights, FP8 KV cache"),
    "kv-int4": QuantPreset(Precisions("bf16", "bf16", "int4", kv_group=64, kv_scale_bytes=4.0),
                           "16-bit weights, INT4 KV cache with an fp16 scale and zero per 64 values (KIVI-style)"),
}


def quant_preset(name: str, kv_cache: str | None = None) -> Precisions:
    """The preset's precisions; an explicit `kv_cache` precision replaces the preset's (with its
    default groups)."""
    from .errors import unknown_name

    if name not in QUANT_PRESETS:
        raise unknown_name("quantisation preset", name, list(QUANT_PRESETS), f"the presets: {', '.join(QUANT_PRESETS)}")
    precisions = QUANT_PRESETS[name].precisions
    if kv_cache is not None:
        precisions = replace(precisions, kv_cache=kv_cache, kv_group=None, kv_scale_bytes=None)
    return precisions


#: every name a weight precision may take: storage formats and preset names
WEIGHT_PRECISIONS = tuple(BYTES) + tuple(p for p in QUANT_PRESETS if p not in BYTES)
