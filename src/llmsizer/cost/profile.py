"""Efficiency profiles: the few physical parameters that turn datasheet peaks into achieved times.

A profile is named after a serving engine (trtllm, vllm, sglang, lmdeploy, hf) and may be
specialised per hardware. The defaults and each engine's values live in
llmsizer/data/profiles/*.yaml with the reasoning and sources behind them; a profile file of a
user's own (for example from `llmsizer calibrate`) overrides any of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import ConfigError, require, unknown_name


@dataclass(frozen=True)
class Profile:
    """Efficiency parameters (dimensionless fractions, seconds) of one engine on one device."""

    name: str = "default"
    #: achievable fraction of the datasheet memory bandwidth
    memory_efficiency: float = 0.85
    #: fraction of the dense matrix peak that large matrix products reach
    matmul_efficiency: float = 0.75
    #: fraction of the dense matrix peak that fused attention reaches
    attention_efficiency: float = 0.6
    #: rows of the matrix unit's tile: a product over fewer tokens still pays for the whole tile
    tile_tokens: int = 64
    #: share of the shorter of compute and memory time hidden under the longer (1: pure roofline)
    overlap: float = 1.0
    #: fixed cost of each kernel (launch gap, ramp-up and tail), seconds
    kernel_overhead_s: float = 4e-6
    #: engine work per step outside kernels (scheduler, sampling, host sync), seconds
    step_overhead_s: float = 1e-3
    #: engine work once per batch before its prefill (input preparation, request set-up), seconds
    prefill_overhead_s: float = 0.0
    #: efficiency of expert (grouped) products relative to plain products of the same shape
    moe_efficiency: float = 1.0
    #: achievable fraction of the link bandwidth for collectives
    link_efficiency: float = 0.8
    #: fixed cost of each collective call (launch, synchronisation), seconds
    collective_overhead_s: float = 8e-6
    #: 0: decode attention reads each KV head once per group of query heads; 1: once per query head
    decode_kv_reread: float = 0.0
    source: str = ""

    def __post_init__(self):
        for name in ("memory_efficiency", "matmul_efficiency", "attention_efficiency", "link_efficiency",
                     "moe_efficiency"):
            value = getattr(self, name)
            require(0 < value <= 1, f"profile.{name}", value, "must be in (0, 1]")
        for name in ("overlap", "decode_kv_reread"):
            value = getattr(self, name)
            require(0 <= value <= 1, f"profile.{name}", value, "must be in [0, 1]")
        for name in ("kernel_overhead_s", "step_overhead_s", "prefill_overhead_s", "collective_overhead_s"):
            require(getattr(self, name) >= 0, f"profile.{name}", getattr(self, name), "must be non-negative")
        require(isinstance(self.tile_tokens, int) and self.tile_tokens >= 1, "profile.tile_tokens",
                self.tile_tokens, "must be a positive integer")

    def with_values(self, values: dict, where: str) -> "Profile":
        allowed = {f.name for f in fields(self)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ConfigError(f"{where}: unknown profile parameter(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(allowed))}")
        return replace(self, **values)


PARAMETERS = tuple(f.name for f in fields(Profile) if f.name not in ("name", "source"))

#: free-text engine names (as in a `framework` column) and the profile each maps to
_ENGINE_PATTERNS = (
    (r"tensorrt|trt[-_ ]?llm|fastertransformer|\bft\b", "trtllm"),
    (r"vllm", "vllm"),
    (r"sglang", "sglang"),
    (r"lmdeploy|turbomind", "lmdeploy"),
    (r"transformers|\bhf\b|hugging ?face|optimum", "hf"),
)


def engine_from_text(text: str | None) -> str | None:
    """The profile a free-text framework description names, or None when it names none we know."""
    if not text or not isinstance(text, str):
        return None
    lowered = text.lower()
    for pattern, engine in _ENGINE_PATTERNS:
        if re.search(pattern, lowered):
            return engine
    return None


@lru_cache(maxsize=1)
def _profile_data() -> dict[str, dict]:
    import yaml

    data = {}
    for item in resources.files("llmsizer.data").joinpath("profiles").iterdir():
        if item.name.endswith(".yaml"):
            entry = yaml.safe_load(item.read_text())
            data[entry["name"]] = entry
    return data


def profile_names() -> list[str]:
    return sorted(_profile_data())


@lru_cache(maxsize=64)
def load_profile(name: str = "default", hardware: str | None = None) -> Profile:
    """The named engine profile (a built-in name or a YAML file path), specialised to `hardware`
    when the profile has values for it; the default profile's values fill the rest."""
    base = Profile().with_values(_profile_data()["default"].get("parameters", {}), "default profile")
    path = Path(name)
    if name in _profile_data():
        entry = _profile_data()[name]
    elif path.suffix in (".yaml", ".yml") and path.is_file():
        import yaml

        entry = yaml.safe_load(path.read_text())
    else:
        raise unknown_name("profile", name, profile_names())
    profile = base.with_values(entry.get("parameters", {}), f"profile {name}")
    per_hw = entry.get("hardware", {}) or {}
    if hardware is not None and hardware in per_hw:
        profile = profile.with_values(per_hw[hardware], f"profile {name} for {hardware}")
    return replace(profile, name=entry.get("name", name), source=entry.get("source", ""))
