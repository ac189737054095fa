"""Named use cases: prompt and output lengths with the latency targets a deployment must meet.

Each built-in is a data file under llmsizer/data/usecases/ citing where its lengths and SLOs come
from (the GenZ paper's use-case table, MLPerf Inference latency limits, the inference-perf workload
catalog). A length is either fixed, `{tokens: 1024}`, or a distribution whose representative
value llmsizer evaluates is the statistic named by `use` (mean, p50 or p99), e.g.
`{distribution: lognormal, mean: 1024, p50: 800, p99: 4000, use: mean}`. SLOs are given in ms
in the files and held in seconds, like every other time in llmsizer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from .datafile import check_fields, parse_yaml
from .errors import require, unknown_name
from .units import MS

#: statistics a distribution may state, and those that may stand for it
STATISTICS = ("mean", "p50", "p99", "min", "max", "std")
REPRESENTATIVE = ("mean", "p50", "p99")
DISTRIBUTIONS = ("lognormal", "normal", "exponential", "bimodal", "uniform", "empirical")

_TOP_KEYS = {"name", "description", "source", "input", "output", "slo"}
_SLO_KEYS = {"ttft_ms", "tpot_ms"}


@dataclass(frozen=True)
class UseCase:
    """A workload shape with its targets: representative lengths in tokens, SLOs in seconds, and
    the length specifications as written (distribution statistics kept for reference)."""

    name: str
    description: str
    source: str
    input_tokens: int
    output_tokens: int
    ttft_slo_s: float
    tpot_slo_s: float
    input_spec: dict = field(default_factory=dict, hash=False)
    output_spec: dict = field(default_factory=dict, hash=False)

    @classmethod
    def from_dict(cls, data: dict, where: str = "use case") -> "UseCase":
        check_fields(data, _TOP_KEYS, where)
        for key in ("name", "input", "output", "slo"):
            require(key in data, f"{where}.{key}", None, "is required")
        name = data["name"]
        require(isinstance(name, str) and name.strip() != "", f"{where}.name", name, "must be a non-empty string")
        slo = data["slo"]
        check_fields(slo, _SLO_KEYS, f"{name}.slo")
        for key in sorted(_SLO_KEYS):
            require(key in slo, f"{name}.slo.{key}", None, "is required")
            require(_positive(slo[key]), f"{name}.slo.{key}", slo[key], "must be a positive number of milliseconds")
        return cls(name=name, description=str(data.get("description", "")), source=str(data.get("source", "")),
                   input_tokens=_representative(data["input"], f"{name}.input"),
                   output_tokens=_representative(data["output"], f"{name}.output"),
                   ttft_slo_s=slo["ttft_ms"] * MS, tpot_slo_s=slo["tpot_ms"] * MS,
                   input_spec=dict(data["input"]), output_spec=dict(data["output"]))


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value < float("inf")


def _representative(spec, where: str) -> int:
    """Tokens of a fixed length, or the `use` statistic of a distribution (rounded to a whole token)."""
    if isinstance(spec, dict) and "distribution" not in spec:
        check_fields(spec, {"tokens"}, where)
        require("tokens" in spec, f"{where}.tokens", None, "is required (or give a distribution)")
        return _whole_tokens(spec["tokens"], f"{where}.tokens")
    check_fields(spec, {"distribution", "use", *STATISTICS}, where)
    require(spec["distribution"] in DISTRIBUTIONS, f"{where}.distribution", spec["distribution"],
            f"must be one of {', '.join(DISTRIBUTIONS)}")
    for stat in STATISTICS:
        if stat in spec:
            require(_positive(spec[stat]), f"{where}.{stat}", spec[stat], "must be a positive number of tokens")
    use = spec.get("use")
    require(use in REPRESENTATIVE, f"{where}.use", use,
            f"must name the statistic that represents the distribution: one of {', '.join(REPRESENTATIVE)}")
    require(use in spec, f"{where}.use", use, f"names a statistic the distribution does not state ({where}.{use})")
    value = spec[use]
    require(spec.get("min", value) <= value <= spec.get("max", value), f"{where}.{use}", value,
            "must lie between the stated min and max")
    return _whole_tokens(value, f"{where}.{use}")


def _whole_tokens(value, where: str) -> int:
    """A length rounded to whole tokens, at least one."""
    require(_positive(value) and round(value) >= 1, where, value, "must be a positive number of tokens")
    return int(round(value))


def _read(text: str, where: str) -> UseCase:
    return UseCase.from_dict(parse_yaml(text, where), where)


@lru_cache(maxsize=1)
def _builtin() -> dict[str, UseCase]:
    folder = resources.files("llmsizer.data").joinpath("usecases")
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)
    return {u.name.lower(): u for u in (_read(p.read_text(), p.name) for p in files)}


def list_usecases() -> list[UseCase]:
    """The built-in use cases, by file name."""
    return list(_builtin().values())


def load_usecase(name_or_path) -> UseCase:
    """A built-in use case by name (case-insensitive), or one read from a YAML file."""
    if isinstance(name_or_path, UseCase):
        return name_or_path
    key = str(name_or_path)
    found = _builtin().get(key.strip().lower())
    if found is not None:
        return found
    path = Path(key)
    if path.is_file():
        return _read(path.read_text(), str(path))
    raise unknown_name("use case", key, [u.name for u in list_usecases()], "`llmsizer usecases`")


def meets_slo(ttft_s, tpot_s, usecase):
    """Whether TTFT and TPOT (seconds; scalars or arrays that broadcast) are both within the use
    case's targets."""
    uc = load_usecase(usecase)
    return within_slo(ttft_s, tpot_s, uc.ttft_slo_s, uc.tpot_slo_s)


def within_slo(ttft_s, tpot_s, ttft_slo_s, tpot_slo_s):
    """Whether TTFT and TPOT (seconds, broadcasting) are both within the targets: the one SLO check."""
    return np.logical_and(np.asarray(ttft_s) <= ttft_slo_s, np.asarray(tpot_s) <= tpot_slo_s)
