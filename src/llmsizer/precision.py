"""Numeric precisions: bytes per element and the matrix-unit rate each pair of operands runs at.

Weights, activations and the KV cache each have their own precision. A matrix product runs at
the peak of the precision both operands share after any dequantisation: W8A8 fp8 runs at the fp8
rate; weight-only int4 (activations bf16) is dequantised to bf16 and runs at the bf16 rate.
"""

from __future__ import annotations

from dataclasses import dataclass

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

#: group size of quantisation scales for sub-byte weights (one fp16 scale per group), the common
#: default of AWQ/GPTQ checkpoints (group_size 128)
INT4_GROUP_SIZE = 128
#: fp4 weights carry one fp8 scale per 16 elements (NVFP4 block size)
FP4_BLOCK_SIZE = 16


def bytes_per_element(precision: str) -> float:
    require(precision in BYTES, "precision", precision, f"must be one of {', '.join(BYTES)}")
    return BYTES[precision]


def weight_bytes_per_element(precision: str) -> float:
    """Storage of one weight including its share of quantisation scales."""
    base = bytes_per_element(precision)
    if precision == "int4":
        return base + 2.0 / INT4_GROUP_SIZE
    if precision == "fp4":
        return base + 1.0 / FP4_BLOCK_SIZE
    return base


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
    """The precision of each tensor class: weights, activations and the KV cache."""

    weights: str = "bf16"
    activations: str = "bf16"
    kv_cache: str = "bf16"
    #: MoE expert weights, when an engine keeps them in another precision than the other weights
    experts: str | None = None

    def __post_init__(self):
        for field in ("weights", "activations", "kv_cache", "expert_weights"):
            value = getattr(self, field)
            require(value in BYTES, f"{field} precision", value, f"must be one of {', '.join(BYTES)}")
        require(
            self.activations in ("fp32", "bf16", "fp16", "fp8", "int8"),
            "activations precision",
            self.activations,
            "activations must be fp32, bf16, fp16, fp8 or int8",
        )

    @property
    def expert_weights(self) -> str:
        return self.experts or self.weights

    @classmethod
    def from_weight_precision(cls, weights: str, kv_cache: str | None = None) -> "Precisions":
        """The usual pairing: 8-bit float weights run W8A8; 16-bit and sub-byte weights run with
        16-bit activations (weight-only quantisation); the KV cache follows the weights unless given."""
        activations = weights if weights in ("fp8", "int8", "fp16", "bf16", "fp32") else "bf16"
        if weights == "int8":
            activations = "int8"
        kv = kv_cache if kv_cache is not None else (weights if weights in ("fp8", "bf16", "fp16") else "bf16")
        return cls(weights=weights, activations=activations, kv_cache=kv)
