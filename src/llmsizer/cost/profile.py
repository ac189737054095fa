"""Efficiency profiles: the few physical parameters that turn datasheet peaks into achieved times.

A profile belongs to a serving engine and version (`vllm/v1`, `trtllm/0.x`; a family name alone
means its current version) on one accelerator. Its documented priors live in
llmsizer/data/profiles/: default.yaml, then the engine family's file and its version section.
Fitted values (profiles/fitted/levels.yaml, from `llmsizer calibrate`) sit in two chains of
levels, shared -> accelerator family -> chip and shared -> engine family -> engine version; a
member without fitted values of its own takes its nearest fitted level moved by its documented
difference from that level (levels.py). A user's own profile file replaces all of this.
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
from .levels import compose, family_of, family_priors, fitted_levels

#: band for profiles never compared with measurements: a factor of two either way
UNCALIBRATED_BAND = {"ttft": 0.693, "tpot": 0.693, "e2e_latency": 0.693, "throughput": 0.693}


#: bounds a profile's values must keep: an efficiency below 0.1% of a peak is a typo (and a
#: subnormal one turns times into NaN); no single overhead lasts a minute
MIN_EFFICIENCY, MAX_OVERHEAD_S = 1e-3, 60.0
#: a host CPU more than ten times slower or faster than the reference is a typo
MAX_HOST_SPEED = 10.0

#: the field holding the large-product efficiency of each precision class
_MATMUL_EFFICIENCY = {"16bit": "matmul_efficiency", "8bit": "matmul_efficiency_8bit",
                      "weight_only": "matmul_efficiency_weight_only", "fp4": "matmul_efficiency_fp4"}

#: the kinds of expert kernel a profile can name (Profile.moe_kernel)
MOE_KERNELS = ("grouped", "nxd")


@dataclass(frozen=True)
class Profile:
    """Efficiency parameters (dimensionless fractions, seconds) of one engine on one device."""

    name: str = "default"
    #: achievable fraction of the datasheet memory bandwidth
    memory_efficiency: float = 0.85
    #: fraction of the 16-bit dense matrix peak that large 16-bit products reach
    matmul_efficiency: float = 0.75
    #: fraction of the 8-bit (fp8/int8) peak that large 8-bit products reach
    matmul_efficiency_8bit: float = 0.7
    #: fraction of the activation type's peak reached by weight-only (4/8-bit) products, before
    #: their dequantisation work
    matmul_efficiency_weight_only: float = 0.6
    #: fraction of the fp4 peak that large fp4 products reach
    matmul_efficiency_fp4: float = 0.6
    #: fraction of the matrix peak that fused prefill attention reaches at head size 128
    attention_efficiency: float = 0.6
    #: fewest rows a product pays for: small products run with swapped operands on 8-row tiles
    tile_tokens: int = 8
    #: share of the shorter of compute and memory time hidden under the longer (1: pure roofline)
    overlap: float = 1.0
    #: device-side gap of each kernel (launch, ramp-up and tail), seconds
    kernel_overhead_s: float = 4e-6
    #: host time to launch one kernel outside a captured graph: an eager step takes at least this
    #: per kernel, seconds
    host_launch_s: float = 5e-6
    #: speed of the host CPU that runs the engine's host work (scheduler, input preparation, kernel
    #: launches) relative to the host the engine's overheads are stated for: the host-side seconds
    #: below and host_launch_s take 1/host_speed as long (the accelerator's usual server: a DGX
    #: H100's Xeon runs a Python scheduler faster than a DGX A100's EPYC)
    host_speed: float = 1.0
    #: whether decode steps replay captured graphs (no host launch per kernel)
    decode_graphs: bool = True
    #: longest sequence (cached tokens plus the new one) a captured decode graph covers; a decode
    #: step with a longer sequence runs eagerly (vLLM V0's max_seq_len_to_capture), 0: any length
    graph_max_context: int = 0
    #: engine work per step outside kernels (scheduler, host sync), seconds
    step_overhead_s: float = 1e-3
    #: engine work per sequence per step (scheduling, sampling, detokenising), seconds
    sequence_overhead_s: float = 20e-6
    #: engine work once per batch before its prefill (input preparation, request set-up), seconds
    prefill_overhead_s: float = 1e-3
    #: engine work per step for each device of a replica beyond the first (a driver process
    #: preparing and sending each worker its inputs), seconds
    worker_overhead_s: float = 0.1e-3
    #: efficiency of expert (grouped) products relative to plain products of the same shape
    moe_efficiency: float = 1.0
    #: achievable fraction of the link bandwidth for collectives
    link_efficiency: float = 0.8
    #: fixed cost of each collective call (launch, synchronisation), seconds
    collective_overhead_s: float = 8e-6
    #: what timing a request at an HTTP client adds to its TTFT and end-to-end latency (tokenising,
    #: HTTP, streaming the first chunk), seconds; estimates are the engine's own times and leave it
    #: out, measurements timed at a client carry it
    client_overhead_s: float = 10e-3
    #: share of a KV head's re-reads that reach memory when decode attention reads the cache once
    #: per query head (0: once per group); applies to group sizes the grouped kernel does not cover
    decode_kv_reread: float = 0.0
    #: query heads per KV head that the engine's grouped decode kernel covers (empty: all of them)
    grouped_kv_group_sizes: tuple = ()
    #: how the engine runs routed experts: "grouped" (each expert a token reaches runs its tokens
    #: once, its weights read once) or "nxd" (NeuronX Distributed's fixed-shape ExpertMLPs: selective
    #: loading, every expert, or worst-case 512-row blocks; ops/ffn.py nxd_expert_work)
    moe_kernel: str = "grouped"
    #: whether the engine pads query heads to a multiple of its tensor-parallel ranks (every core of
    #: `tensor_parallel_cores` a rank) and replicates KV heads per rank, so tp need not divide them
    pads_heads: bool = False
    #: whether the engine runs MoE experts in fp8 when weights are fp8 (else they stay 16-bit)
    fp8_experts: bool = True
    #: whether attention over an 8-bit cache runs 8-bit products (else it runs at the 16-bit rate)
    fp8_attention: bool = False
    #: prompt tokens per prefill step the engine compiles graphs for, ascending: a step's tokens are
    #: padded up to the next one (empty: a step runs at its own size; inference/shapes.py)
    token_buckets: tuple = ()
    #: decode batches the engine compiles graphs for, ascending: a batch is padded up to the next one
    batch_buckets: tuple = ()
    #: most prompt tokens the engine prefills in one step by default (its chunked-prefill size or
    #: token budget), which bounds a prefill step's activations in memory; 0: a batch's prompts in
    #: one step. Prefill time is still counted as one pass (the chunks' products are the same work)
    prefill_step_tokens: int = 0
    source: str = ""
    #: log half-width of the ~80% error band per metric (ttft, tpot, e2e_latency, throughput)
    uncertainty: dict = field(default_factory=lambda: dict(UNCALIBRATED_BAND), compare=False)
    #: where the band comes from (out-of-sample residuals of a fit, or none)
    uncertainty_basis: str = "no calibration data: a wide band of x/÷ 2"

    def __post_init__(self):
        for name in ("memory_efficiency", "matmul_efficiency", "matmul_efficiency_8bit", "matmul_efficiency_weight_only",
                     "matmul_efficiency_fp4", "attention_efficiency", "link_efficiency", "moe_efficiency"):
            value = getattr(self, name)
            require(MIN_EFFICIENCY <= value <= 1, f"profile.{name}", value, f"must be in [{MIN_EFFICIENCY}, 1]")
        for name in ("overlap", "decode_kv_reread"):
            value = getattr(self, name)
            require(0 <= value <= 1, f"profile.{name}", value, "must be in [0, 1]")
        for name in ("kernel_overhead_s", "host_launch_s", "step_overhead_s", "sequence_overhead_s",
                     "prefill_overhead_s", "worker_overhead_s", "collective_overhead_s", "client_overhead_s"):
            require(0 <= getattr(self, name) <= MAX_OVERHEAD_S, f"profile.{name}", getattr(self, name),
                    f"must be in [0, {MAX_OVERHEAD_S:g}] seconds")
        require(1 / MAX_HOST_SPEED <= self.host_speed <= MAX_HOST_SPEED, "profile.host_speed", self.host_speed,
                f"must be in [{1 / MAX_HOST_SPEED:g}, {MAX_HOST_SPEED:g}] (relative to the host the overheads are stated for)")
        require(self.moe_kernel in MOE_KERNELS, "profile.moe_kernel", self.moe_kernel,
                f"must be one of {', '.join(MOE_KERNELS)}")
        require(isinstance(self.tile_tokens, int) and self.tile_tokens >= 1, "profile.tile_tokens",
                self.tile_tokens, "must be a positive integer")
        require(isinstance(self.prefill_step_tokens, int) and not isinstance(self.prefill_step_tokens, bool)
                and self.prefill_step_tokens >= 0, "profile.prefill_step_tokens", self.prefill_step_tokens,
                "must be a whole number of tokens >= 0 (0: a batch's prompts in one step)")
        require(isinstance(self.graph_max_context, int) and self.graph_max_context >= 0, "profile.graph_max_context",
                self.graph_max_context, "must be a whole number of tokens >= 0 (0: graphs cover any length)")
        object.__setattr__(self, "grouped_kv_group_sizes", tuple(self.grouped_kv_group_sizes))
        for name in ("token_buckets", "batch_buckets"):
            buckets = tuple(getattr(self, name))
            require(all(isinstance(b, int) and not isinstance(b, bool) and b >= 1 for b in buckets)
                    and list(buckets) == sorted(set(buckets)), f"profile.{name}", buckets,
                    "must be whole numbers >= 1 in ascending order")
            object.__setattr__(self, name, buckets)

    def on_host(self, seconds):
        """Seconds of host work stated for the reference host, on this profile's host."""
        return seconds / self.host_speed

    def reread_share(self, group: float) -> float:
        """Share of per-query-head KV re-reads paid for a decode kernel over `group` heads per KV head."""
        if self.grouped_kv_group_sizes and group in self.grouped_kv_group_sizes:
            return 0.0
        return self.decode_kv_reread

    def matmul_efficiency_for(self, precision_class: str) -> float:
        """Large-product efficiency of a precision class ("16bit", "8bit", "weight_only", "fp4")."""
        return getattr(self, _MATMUL_EFFICIENCY[precision_class])

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


# --- engines and their versions ------------------------------------------------------------------

#: free-text engine names (as in a `framework` column) and the engine family each maps to
_ENGINE_PATTERNS = (
    (r"neuron", "neuron"),  # before vllm, tgi and optimum: their Neuron builds are another runtime
    (r"sglang[-_ ]?jax", "sglang-jax"),
    (r"tensorrt|trt[-_ ]?llm|fastertransformer|\bft\b", "trtllm"),
    (r"vllm", "vllm"),
    (r"sglang", "sglang"),
    (r"lmdeploy|turbomind", "lmdeploy"),
    (r"text[-_ ]generation[-_ ]inference|\btgi\b", "tgi"),
    (r"optimum[-_ ]habana|gaudi software|synapseai", "optimum-habana"),
    (r"transformers|\bhf\b|hugging ?face|optimum", "hf"),
)
_VERSION = re.compile(r"(?<![\w.])v?(\d+)\.(\d+)(?:\.(\d+))?")


def _version_tuple(text: str) -> tuple[int, ...] | None:
    match = _VERSION.search(text)
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def version_of(family: str, text: str) -> str | None:
    """The version section of an engine family that a release number in `text` falls in (or,
    without one, that a stated year falls in: a section's `until_year` is its last year current).
    A section's `selected_by` pattern, found in the text, names it at any later release too (an
    engine that kept its older runtime behind a switch, as vLLM kept V0 behind VLLM_USE_V1=0). A
    section with a `build` pattern is a build of the engine rather than a range of its releases: the
    pattern names it, for a release in its range, before anything else does, and nothing else does."""
    release = _version_tuple(text)
    sections = _engine_entry(family).get("versions") or {}
    for name, section in sections.items():
        if "build" in section and re.search(section["build"], text) and (release is None or _in_range(release, section)):
            return name
    versions = {name: section for name, section in sections.items() if "build" not in section}
    for name, section in versions.items():
        chosen = section.get("selected_by") and re.search(section["selected_by"], text)
        if chosen and (release is None or release >= _first_release(section)):
            return name
    if release is None and versions:
        year = re.search(r"(?<!\d)(20\d\d)(?!\d)", text)
        years = [name for name, section in versions.items() if year and int(year.group(1)) <= section.get("until_year", 0)]
        return years[0] if years else None
    if release is None or not versions:
        return None
    return next((name for name, section in versions.items() if _in_range(release, section)), None)


def _first_release(section: dict) -> tuple[int, ...]:
    return _version_tuple(str(section.get("from", "0.0")))


def _in_range(release: tuple[int, ...], section: dict) -> bool:
    """Whether a release falls in a version section's [from, until) range."""
    high = _version_tuple(str(section["until"])) if "until" in section else None
    return release >= _first_release(section) and (high is None or release < high)


def engine_from_text(text: str | None) -> str | None:
    """The profile a free-text framework description names (`family/version` when it states a
    release we know the version section of), or None when it names no engine we know."""
    if not text or not isinstance(text, str):
        return None
    lowered = text.lower()
    if lowered in profile_names():
        return lowered
    for pattern, family in _ENGINE_PATTERNS:
        if re.search(pattern, lowered):
            if family == "trtllm" and re.search(r"fastertransformer|\bft\b", lowered):
                return "trtllm/0.x"  # the C++ runtime TensorRT-LLM 0.x grew out of
            version = version_of(family, lowered[re.search(pattern, lowered).end():])
            return f"{family}/{version}" if version else family
    return None


def split_engine(name: str) -> tuple[str, str | None]:
    """(family, version) of a profile name; a family alone means its `current` version."""
    family, _, version = name.partition("/")
    return family, (version or (_engine_entry(family).get("current") if family in _profile_data() else None))


# --- files ---------------------------------------------------------------------------------------

def _yaml(text: str, where: str = "profile") -> dict:
    return parse_yaml(text, where) or {}


@lru_cache(maxsize=1)
def _profile_data() -> dict[str, dict]:
    folder = resources.files("llmsizer.data").joinpath("profiles")
    entries = (_yaml(item.read_text(), item.name) for item in folder.iterdir() if item.name.endswith(".yaml"))
    return {entry["name"]: entry for entry in entries if "name" in entry}


def _engine_entry(family: str) -> dict:
    return _profile_data().get(family, {})


def engine_pooled(family: str) -> bool:
    """Whether an engine family's fitted overheads inform the shared level (its file's `pooled`)."""
    return bool(_engine_entry(family).get("pooled", True))


def profile_names() -> list[str]:
    """Every engine family and family/version the shipped profiles describe."""
    names = []
    for family, entry in _profile_data().items():
        names.append(family)
        names += [f"{family}/{v}" for v in entry.get("versions") or {}]
    return sorted(names)


@lru_cache(maxsize=1024)
def _documented(family: str, version: str | None, hardware: str | None) -> dict:
    values = dict(_profile_data()["default"].get("parameters") or {})
    values.update(family_priors().get(family_of(hardware), {}))
    if family != "default":
        values.update(_engine_entry(family).get("parameters") or {})
    if version is not None:  # a section `like` another version starts from that one's parameters
        sections = _engine_entry(family).get("versions") or {}
        section = sections.get(version, {})
        values.update((sections[section["like"]].get("parameters") or {}) if "like" in section else {})
        values.update(section.get("parameters") or {})
    return values


def documented(family: str, version: str | None, hardware: str | None) -> dict:
    """Documented values: default.yaml, the accelerator family's priors, then the engine family's
    file (none for family "default") and its version section (none for version None)."""
    return dict(_documented(family, version, hardware))


def prior_values(name: str, hardware: str | None = None) -> dict:
    """The documented values of a named engine profile on an accelerator."""
    if name not in profile_names():
        raise unknown_name("profile", name, profile_names(), f"the profiles: {', '.join(profile_names())}, or a YAML file")
    return documented(*split_engine(name), hardware)


def _user_profile(path: Path, hardware: str | None) -> Profile:
    """A profile file of the user's own: its parameters (and its section for `hardware`) over the
    defaults, with its own band (widened where it says the hardware was outside its data)."""
    entry = load_document(path) or {}
    where = f"profile file {path}"
    profile = Profile().with_values(_profile_data()["default"].get("parameters") or {}, "default profile")
    profile = profile.with_values(entry.get("parameters") or {}, where)
    per_hw = entry.get("hardware") or {}
    seen = hardware in per_hw
    if seen:
        profile = profile.with_values(per_hw[hardware], f"{where} for {hardware}")
    band = entry.get("uncertainty") or dict(UNCALIBRATED_BAND)
    basis = entry.get("uncertainty_basis", "the profile file's own band")
    if not seen and hardware is not None and entry.get("uncertainty_unseen_hardware"):
        band, basis = entry["uncertainty_unseen_hardware"], f"{hardware} was outside the file's data: {basis}"
    return replace(profile, name=entry.get("name", path.stem), source=entry.get("source", str(path)),
                   uncertainty=dict(band), uncertainty_basis=basis)


@lru_cache(maxsize=256)
def load_profile(name: str = "default", hardware: str | None = None, fitted: bool = True) -> Profile:
    """The named engine profile (a built-in name or a YAML file path) on `hardware`.

    The documented prior is the start; with `fitted`, the values calibrated on the shipped
    measurements are composed over it level by level, with the band of what the fit saw."""
    path = Path(name)
    if path.suffix in (".yaml", ".yml") and path.is_file():
        return _user_profile(path, hardware)
    family, version = split_engine(name)
    prior = Profile().with_values(prior_values(name, hardware), f"profile {name}")
    prior = replace(prior, name=name, source=_engine_entry(family).get("source", "").strip())
    levels = fitted_levels() if fitted else None
    if not levels:
        return prior
    values = compose(levels, family, version, hardware, _documented)
    band, basis = levels.band(family, version, hardware)
    return replace(prior.with_values(values, f"fitted profile {name}"), uncertainty=band, uncertainty_basis=basis,
                   source=f"{levels.source} Prior: {prior.source}")
