"""Fitted efficiency values in levels, and how a profile is composed from them.

Two chains: an accelerator's efficiencies come from shared -> accelerator family (NVIDIA Hopper,
AMD CDNA3, ...) -> chip; an engine's overheads from shared -> engine family -> engine version.
Calibration fits each level that has measured rows as an offset from its parent in a transformed
space (logit for fractions, log for seconds), pulled towards its documented offset, so a member
with few rows stays near its family. A member without rows takes the nearest fitted level above
it, moved by the member's documented difference from that level: an unmeasured chip gets its
family's fitted level, a family without rows the level of the family whose kernels it shares
(its `nearest`, e.g. Blackwell takes Hopper's) or else the shared one, never the raw prior.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

import numpy as np

from ..datafile import parse_yaml

#: accelerator-chain parameters (what a chip's kernels achieve)
HARDWARE_CHAIN = ("memory_efficiency", "matmul_efficiency", "matmul_efficiency_8bit", "matmul_efficiency_weight_only",
                  "matmul_efficiency_fp4", "attention_efficiency", "host_speed")
#: engine-chain parameters (what an engine's runtime adds)
ENGINE_CHAIN = ("step_overhead_s", "sequence_overhead_s", "kernel_overhead_s", "host_launch_s", "prefill_overhead_s",
                "worker_overhead_s", "collective_overhead_s", "moe_efficiency", "decode_kv_reread")
#: parameters fitted once for everything
GLOBAL = ("overlap", "client_overhead_s")
#: seconds and ratios are composed in log space; fractions in logit space (0 and 1 stay out of reach)
_SECONDS = {"step_overhead_s", "sequence_overhead_s", "kernel_overhead_s", "host_launch_s", "prefill_overhead_s",
            "worker_overhead_s", "collective_overhead_s", "client_overhead_s"}
_RATIOS = {"host_speed"}
#: fractions are composed within [_EPS, 1 - _EPS], where a logit still responds to data
_EPS = 0.01
#: the longest a fitted overhead may be (seconds; a profile allows up to a minute)
MAX_FITTED_S = 10.0
#: the furthest a fitted ratio may stray from 1 (a profile allows ten times either way)
MAX_FITTED_RATIO = 5.0


def to_space(name: str, value):
    """The value in the space levels are offsets in."""
    value = np.asarray(value, dtype=float)
    if name in _SECONDS or name in _RATIOS:
        return np.log(np.maximum(value, 1e-9))
    p = np.clip(value, _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def from_space(name: str, x):
    """The plain value of a point in the fitted space, kept within the range fitted values may take
    (a fit's trial steps can wander far out)."""
    x = np.asarray(x, dtype=float)
    if name in _SECONDS:
        return float(np.exp(np.minimum(x, np.log(MAX_FITTED_S))))
    if name in _RATIOS:
        return float(np.exp(np.clip(x, -np.log(MAX_FITTED_RATIO), np.log(MAX_FITTED_RATIO))))
    return float(np.clip(1.0 / (1.0 + np.exp(-x)), _EPS, 1 - _EPS))


def chain_of(name: str) -> str:
    return "hardware" if name in HARDWARE_CHAIN else "engine" if name in ENGINE_CHAIN else "global"


@lru_cache(maxsize=1)
def _family_patterns() -> list[tuple[re.Pattern, str]]:
    return [(re.compile(p, re.IGNORECASE), family) for family, entry in _families().items() for p in entry["match"]]


@lru_cache(maxsize=1)
def _families() -> dict[str, dict]:
    text = resources.files("llmsizer.data").joinpath("profiles", "families", "hardware.yaml").read_text()
    return parse_yaml(text, "profiles/families/hardware.yaml")["families"]


@lru_cache(maxsize=1)
def family_priors() -> dict[str, dict]:
    """Documented per-family prior values (profiles/families/hardware.yaml), where a family has any."""
    return {k: dict(v.get("parameters") or {}) for k, v in _families().items()}


def nearest_family(family: str | None) -> str | None:
    """The family whose kernels a family without measured rows shares (its `nearest` entry)."""
    return (_families().get(family) or {}).get("nearest")


@lru_cache(maxsize=512)
def family_of(accelerator: str | None) -> str | None:
    """The vendor and architecture generation of an accelerator name (None: not one we know)."""
    if accelerator is None:
        return None
    for pattern, family in _family_patterns():
        if pattern.search(accelerator):
            return family
    return None


def engine_keys(family: str, version: str | None) -> tuple[str, str | None]:
    """(engine family key, engine version key) of the engine chain."""
    return family, (f"{family}/{version}" if version else None)


@dataclass
class Levels:
    """Fitted values by level (plain values, not offsets) and the error bands of what was fitted."""

    shared: dict = field(default_factory=dict)
    hardware_families: dict = field(default_factory=dict)
    hardware: dict = field(default_factory=dict)
    engine_families: dict = field(default_factory=dict)
    engines: dict = field(default_factory=dict)
    bands: dict = field(default_factory=dict)
    source: str = ""

    def chain(self, name: str, engine: tuple[str, str | None], hardware: str | None) -> list[dict]:
        """The fitted tables of a parameter's chain, from shared to the most specific level."""
        if chain_of(name) == "hardware":
            family = family_of(hardware)
            table = self.hardware_families.get(family) or self.hardware_families.get(nearest_family(family), {})
            return [self.shared, table, self.hardware.get(hardware, {})]
        if chain_of(name) == "engine":
            family, version = engine
            return [self.shared, self.engine_families.get(family, {}), self.engines.get(version, {})]
        return [self.shared]

    def band(self, family: str, version: str | None, hardware: str | None) -> tuple[dict, str]:
        """The ~80% band for an engine version on a chip: the band of rows like it, wider (the
        held-out-hardware or held-out-source band) where the fit saw no rows of the chip or engine."""
        key = f"{family}/{version}" if version else family
        seen_engine = key in self.engines or (version is None and family in self.engine_families)
        seen_hw = hardware is None or hardware in self.hardware
        case = {(True, True): "measured", (True, False): "unmeasured_hardware",
                (False, True): "unmeasured_engine", (False, False): "unmeasured_both"}[(seen_engine, seen_hw)]
        entry = self.bands.get(case) or self.bands.get("measured") or {}
        why = {"measured": "", "unmeasured_hardware": f"{hardware} had no calibration data: ",
               "unmeasured_engine": f"engine {key} had no calibration data: ",
               "unmeasured_both": f"neither {key} nor {hardware} had calibration data: "}[case]
        return dict(entry.get("width", {})), why + entry.get("basis", "")

    def to_dict(self) -> dict:
        return {"source": self.source, "shared": self.shared, "hardware_families": self.hardware_families,
                "hardware": self.hardware, "engine_families": self.engine_families, "engines": self.engines,
                "bands": self.bands}

    @classmethod
    def from_dict(cls, data: dict) -> "Levels":
        return cls(**{k: data.get(k) or ({} if k != "source" else "") for k in
                      ("shared", "hardware_families", "hardware", "engine_families", "engines", "bands", "source")})


def compose(levels: Levels, family: str, version: str | None, hardware: str | None, prior) -> dict:
    """Values of every fitted parameter for an engine family and version on `hardware`. `prior(family,
    version, hw)` gives documented values (family "default": the defaults; version None: the
    family without a version section). The deepest fitted level of each chain is moved by the
    member's documented difference from that level's own prior."""
    keys = engine_keys(family, version)
    priors = {"hardware": [prior("default", None, None), prior("default", None, hardware), prior(family, version, hardware)],
              "engine": [prior("default", None, hardware), prior(family, None, hardware), prior(family, version, hardware)]}
    priors["global"] = priors["hardware"][:1]
    names = set(levels.shared)
    for table in (*levels.hardware_families.values(), *levels.hardware.values(), *levels.engine_families.values(),
                  *levels.engines.values()):
        names |= set(table)
    out = {}
    for name in names:
        tables, documented = levels.chain(name, keys, hardware), priors[chain_of(name)]
        fitted = [i for i, table in enumerate(tables) if name in table]
        if fitted:
            i = fitted[-1]
            x = to_space(name, tables[i][name]) + to_space(name, documented[-1][name]) - to_space(name, documented[i][name])
            out[name] = from_space(name, x)
    return out


@lru_cache(maxsize=1)
def fitted_levels() -> Levels | None:
    """The shipped fitted levels (profiles/fitted/levels.yaml), or None before any calibration."""
    item = resources.files("llmsizer.data").joinpath("profiles", "fitted", "levels.yaml")
    if not item.is_file():
        return None
    return Levels.from_dict(parse_yaml(item.read_text(), "profiles/fitted/levels.yaml"))
