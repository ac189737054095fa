"""Efficiency profiles: the few physical parameters that turn datasheet peaks into achieved times.

A profile is named after a serving engine (trtllm, vllm, sglang, lmdeploy, hf) and may be
specialised per hardware. The defaults and each engine's values live in
llmsizer/data/profiles/*.yaml with the reasoning and sources behind them; a profile file of a
user's own (for example from `llmsizer calibrate`) overrides any of them.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..datafile import load_document, parse_yaml
from ..errors import ConfigError, require, unknown_name


#: band for profiles never compared with measurements: a factor of two either way
UNCALIBRATED_BAND = {"ttft": 0.693, "tpot": 0.693, "e2e_latency": 0.693, "throughput": 0.693}


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
    #: share of a KV head's re-reads that reach memory when decode attention reads the cache once
    #: per query head (0: once per group); applies to group sizes the grouped kernel does not cover
    decode_kv_reread: float = 0.0
    #: query heads per KV head that the engine's grouped decode kernel covers (empty: all of them)
    grouped_kv_group_sizes: tuple = ()
    #: whether the engine runs MoE experts in fp8 when weights are fp8 (else they stay 16-bit)
    fp8_experts: bool = True
    source: str = ""
    #: log half-width of the ~80% error band per metric (ttft, tpot, e2e_latency, throughput)
    uncertainty: dict = field(default_factory=lambda: dict(UNCALIBRATED_BAND), compare=False)
    #: where the band comes from (out-of-sample residuals of a fit, or none)
    uncertainty_basis: str = "no calibration data: a wide band of x/÷ 2"

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
        object.__setattr__(self, "grouped_kv_group_sizes", tuple(self.grouped_kv_group_sizes))

    def reread_share(self, group: float) -> float:
        """Share of per-query-head KV re-reads paid for a decode kernel over `group` heads per KV head."""
        if self.grouped_kv_group_sizes and group in self.grouped_kv_group_sizes:
            return 0.0
        return self.decode_kv_reread

    def with_values(self, values: dict, where: str) -> "Profile":
        allowed = {f.name for f in fields(self)}
        unknown = sorted(set(values) - allowed)
        if unknown:
            raise ConfigError(f"{where}: unknown profile parameter(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(allowed))}")
        for key, value in values.items():  # a number stays a finite number
            current = getattr(self, key)
            if isinstance(current, (int, float)) and not isinstance(current, bool):
                require(isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value),
                        f"{where}.{key}", value, "must be a finite number")
        return replace(self, **values)


PARAMETERS = tuple(f.name for f in fields(Profile)
                   if f.name not in ("name", "source", "uncertainty", "uncertainty_basis"))

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


def _read_folder(*parts: str) -> dict[str, dict]:
    folder = resources.files("llmsizer.data").joinpath("profiles", *parts)
    if not folder.is_dir():
        return {}
    entries = (parse_yaml(item.read_text(), item.name) for item in folder.iterdir() if item.name.endswith(".yaml"))
    return {entry["name"]: entry for entry in entries}


@lru_cache(maxsize=1)
def _profile_data() -> dict[str, dict]:
    return _read_folder()


@lru_cache(maxsize=1)
def _fitted_data() -> dict[str, dict]:
    return _read_folder("fitted")


def profile_names() -> list[str]:
    return sorted(_profile_data())


def _entry(name: str) -> dict:
    if name in _profile_data():
        return _profile_data()[name]
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return load_document(path)
    raise unknown_name("profile", name, profile_names(), f"the profiles: {', '.join(profile_names())}, or a YAML file")


def _overlay(profile: Profile, entry: dict, hardware: str | None, where: str, own: bool) -> Profile:
    """Apply a profile file's sections: `shared`, the hardware's own values and, when the file is
    the profile's own, its engine `parameters` and its error band."""
    profile = profile.with_values(entry.get("shared", {}) or {}, f"{where} shared")
    per_hw = entry.get("hardware", {}) or {}
    if hardware is not None and hardware in per_hw:
        profile = profile.with_values(per_hw[hardware], f"{where} for {hardware}")
    if own:
        profile = profile.with_values(entry.get("parameters", {}) or {}, where)
        if "uncertainty" in entry:
            profile = replace(profile, uncertainty=dict(entry["uncertainty"]),
                              uncertainty_basis=entry.get("uncertainty_basis", ""))
    return profile


@lru_cache(maxsize=256)
def load_profile(name: str = "default", hardware: str | None = None, fitted: bool = True) -> Profile:
    """The named engine profile (a built-in name or a YAML file path) on `hardware`.

    The documented prior (llmsizer/data/profiles/NAME.yaml over default.yaml) is the start; with
    `fitted`, the values calibrated on the shipped measurements (profiles/fitted/) are laid on
    top: the shared and per-hardware ones always, the engine's own where it was in the data."""
    base = Profile().with_values(_profile_data()["default"].get("parameters", {}), "default profile")
    entry = _entry(name)
    profile = _overlay(base, entry, hardware, f"profile {name}", own=True)
    profile = replace(profile, name=entry.get("name", name), source=entry.get("source", ""))
    fitted_entry = _fitted_data().get(profile.name) if fitted else None
    if fitted and (fitted_entry or "default" in _fitted_data()):
        own = fitted_entry is not None
        fitted_entry = fitted_entry or _fitted_data()["default"]
        profile = _overlay(profile, fitted_entry, hardware, f"fitted profile {profile.name}", own)
        profile = replace(profile, source=f"{fitted_entry.get('source', '')} Prior: {profile.source}")
        if not own:
            profile = _widen(profile, _fitted_data()["default"], f"engine {profile.name} had no calibration data")
        elif hardware is not None and hardware not in (fitted_entry.get("hardware") or {}):
            profile = _widen(profile, _fitted_data()["default"], f"{hardware} had no calibration data")
    return profile


def _widen(profile: Profile, unseen: dict, why: str) -> Profile:
    """The band of predictions outside the calibration data: the held-out-source band."""
    band = {k: max(profile.uncertainty.get(k, 0.0), v) for k, v in (unseen.get("uncertainty") or {}).items()}
    return replace(profile, uncertainty=band, uncertainty_basis=f"{why}: {unseen.get('uncertainty_basis', '')}")
