"""Accelerators, network dimensions and systems, in SI units (FLOP/s, bytes, bytes/s, seconds).

Data files state units in their key names (TFLOP/s, GiB, TB/s, GB/s, us); `from_dict` converts
at this edge and keeps the source of every figure. Figures may also be numpy arrays of swept
values: the cost model broadcasts over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..arrays import real
from ..errors import ConfigError, require
from ..units import GB, GIB, MIB, TB, TERA, US

TOPOLOGIES = ("switched", "fully_connected", "ring", "torus")


def _all(value, bound: float, strict: bool = False) -> bool:
    """Every element of a figure (a number, or an array of swept values) above `bound`."""
    value = np.asarray(value)
    return bool(np.all(value > bound) if strict else np.all(value >= bound))


@dataclass(frozen=True)
class NetworkDim:
    """One level of a network: `size` devices joined by links of `bandwidth` bytes/s per device per
    direction and `latency` seconds per hop."""

    name: str
    size: int
    bandwidth: float
    latency: float
    topology: str = "switched"

    def __post_init__(self):
        require(isinstance(self.size, int) and self.size >= 1, f"network[{self.name}].size", self.size,
                "must be a positive integer")
        require(_all(self.bandwidth, 0, strict=True), f"network[{self.name}].gb_s", self.bandwidth, "must be positive")
        require(_all(self.latency, 0), f"network[{self.name}].latency_us", self.latency, "must be non-negative")
        require(self.topology in TOPOLOGIES, f"network[{self.name}].topology", self.topology,
                f"must be one of {', '.join(TOPOLOGIES)}")

    @classmethod
    def from_dict(cls, data: dict) -> "NetworkDim":
        _check_keys(data, {"name", "size", "gb_s", "latency_us", "topology"}, "network dimension")
        return cls(name=data["name"], size=data["size"], bandwidth=data["gb_s"] * GB,
                   latency=data.get("latency_us", 0.0) * US, topology=data.get("topology", "switched"))


@dataclass(frozen=True)
class Span:
    """The part of one network dimension a group of devices uses: `size` devices along `dim`."""

    dim: NetworkDim
    size: int


@dataclass(frozen=True)
class Accelerator:
    """One device: dense matrix peaks per precision, memory tiers, links, power and sources."""

    name: str
    peak_flops: dict[str, float]
    memory_capacity: float
    memory_bandwidth: float
    sram: float = 0.0
    host_link_bandwidth: float = 0.0
    host_capacity: float = 0.0
    #: memory the runtime keeps outside weights, cache and activations; None: llmsizer's GPU default
    reserve: float | None = None
    vector_flops: float = 0.0
    #: units a matrix product's output tiles are spread over, one tile per unit at a time (SMs on
    #: NVIDIA, CUs on AMD, MXUs on TPU, NeuronCores, MMEs on Gaudi); None when not stated
    compute_units: int | None = None
    scale_up: NetworkDim | None = None
    scale_out: NetworkDim | None = None
    #: efficiency profile used when no engine is named (None: the default GPU-style profile)
    default_engine: str | None = None
    tdp_w: float = 0.0
    vendor: str = ""
    aliases: tuple[str, ...] = ()
    source: str = ""
    sources: dict[str, str] = field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        require(bool(self.peak_flops), f"{self.name}.peak_tflops", self.peak_flops, "must list at least one precision")
        for precision, value in self.peak_flops.items():
            require(_all(value, 0, strict=True), f"{self.name}.peak_tflops.{precision}", value, "must be positive")
        require(_all(self.memory_capacity, 0, strict=True), f"{self.name}.memory.hbm_gib", self.memory_capacity,
                "must be positive")
        require(_all(self.memory_bandwidth, 0, strict=True), f"{self.name}.memory.hbm_tb_s", self.memory_bandwidth,
                "must be positive")
        require(self.compute_units is None or _all(self.compute_units, 1), f"{self.name}.compute_units",
                self.compute_units, "must be a positive count")

    def __hash__(self):
        return hash(self.name)

    def peak(self, precision: str) -> float:
        """Dense matrix peak for `precision` in FLOP/s. A device without that rate runs the product
        at the next wider precision it has (fp8 on A100 runs as fp16), as real kernels do."""
        for candidate in _FALLBACK[precision]:
            if candidate in self.peak_flops:
                return self.peak_flops[candidate]
        raise ConfigError(f"{self.name} lists no matrix rate usable for {precision}")

    @property
    def elementwise_flops(self) -> float:
        """Rate of non-matrix (vector) work: the datasheet fp32 vector rate, or else 1/16 of the
        16-bit matrix peak (the ratio of A100's 19.5 to 312 and H100's 67 to 989 TFLOP/s)."""
        return real(np.where(np.asarray(self.vector_flops) > 0, self.vector_flops, self.peak("bf16") / 16))

    def runs_natively(self, precision: str) -> bool:
        return precision in self.peak_flops

    @classmethod
    def from_dict(cls, data: dict) -> "Accelerator":
        _check_keys(data, {"name", "aliases", "vendor", "source", "sources", "notes", "peak_tflops",
                           "vector_tflops", "compute_units", "memory", "scale_up", "scale_out", "tdp_w",
                           "default_engine"},
                    "accelerator")
        name = data["name"]
        mem = data.get("memory") or {}
        _check_keys(mem, {"hbm_gib", "hbm_tb_s", "sram_mib", "host_link_gb_s", "host_gib", "reserve_gib"}, f"{name}.memory")
        require("hbm_gib" in mem and "hbm_tb_s" in mem, f"{name}.memory", sorted(mem), "needs hbm_gib and hbm_tb_s")
        peaks = data.get("peak_tflops") or {}
        unknown = sorted(set(peaks) - set(_FALLBACK))
        require(not unknown, f"{name}.peak_tflops", unknown, f"precisions must be among {', '.join(_FALLBACK)}")

        def link(key: str, default_name: str) -> NetworkDim | None:
            raw = data.get(key)
            if not raw:
                return None
            _check_keys(raw, {"name", "gb_s", "latency_us", "domain", "topology"}, f"{name}.{key}")
            return NetworkDim(name=raw.get("name", default_name), size=raw.get("domain", 1),
                              bandwidth=raw["gb_s"] * GB, latency=raw.get("latency_us", 0.0) * US,
                              topology=raw.get("topology", "switched"))

        return cls(
            name=name,
            peak_flops={k: v * TERA for k, v in peaks.items() if v},
            memory_capacity=mem["hbm_gib"] * GIB,
            memory_bandwidth=mem["hbm_tb_s"] * TB,
            sram=mem.get("sram_mib", 0) * MIB,
            host_link_bandwidth=mem.get("host_link_gb_s", 0) * GB,
            host_capacity=mem.get("host_gib", 0) * GIB,
            reserve=mem["reserve_gib"] * GIB if "reserve_gib" in mem else None,
            vector_flops=(data.get("vector_tflops") or {}).get("fp32", 0) * TERA,
            compute_units=data.get("compute_units"),
            scale_up=link("scale_up", "scale-up"),
            scale_out=link("scale_out", "scale-out"),
            default_engine=data.get("default_engine"),
            tdp_w=data.get("tdp_w", 0),
            vendor=data.get("vendor", ""),
            aliases=tuple(data.get("aliases", ())),
            source=data.get("source", ""),
            sources=dict(data.get("sources") or {}),
            notes=data.get("notes", ""),
        )


#: where a precision's product runs when the device lacks its own rate: the next wider one
_FALLBACK = {
    "fp4": ("fp4", "fp8", "bf16", "fp16"),
    "int4": ("int4", "int8", "fp8", "bf16", "fp16"),
    "fp8": ("fp8", "bf16", "fp16"),
    "int8": ("int8", "fp8", "bf16", "fp16"),
    "bf16": ("bf16", "fp16", "tf32", "fp32"),
    "fp16": ("fp16", "bf16", "tf32", "fp32"),
    "tf32": ("tf32", "fp32"),
    "fp32": ("fp32", "tf32"),
}


@dataclass(frozen=True)
class System:
    """Accelerators joined by a network of ordered dimensions (innermost first)."""

    name: str
    accelerator: Accelerator
    network: tuple[NetworkDim, ...]
    aliases: tuple[str, ...] = ()
    source: str = ""
    notes: str = ""

    def __post_init__(self):
        require(len(self.network) > 0, f"{self.name}.network", self.network, "must have at least one dimension")

    @property
    def num_devices(self) -> int:
        n = 1
        for dim in self.network:
            n *= dim.size
        return n

    @classmethod
    def single_node(cls, accelerator: Accelerator, devices: int) -> "System":
        """`devices` accelerators on the accelerator's own scale-up link, spilling onto its scale-out
        NIC when they exceed one scale-up domain."""
        up = accelerator.scale_up
        if up is None:
            require(devices == 1, "devices", devices, f"{accelerator.name} has no scale-up link; use 1 device "
                    "or a system file that describes its network")
            return cls(f"{accelerator.name}", accelerator, (NetworkDim("local", 1, 1.0, 0.0),))
        domain = min(devices, up.size)
        dims = [NetworkDim(up.name, domain, up.bandwidth, up.latency, up.topology)]
        if devices > domain:
            require(devices % domain == 0, "devices", devices,
                    f"must be a multiple of the scale-up domain ({domain}) when it exceeds it")
            out = accelerator.scale_out
            require(out is not None, "devices", devices, f"{accelerator.name} has no scale-out link for > {domain}")
            dims.append(NetworkDim(out.name, devices // domain, out.bandwidth, out.latency, out.topology))
        return cls(f"{devices}x {accelerator.name}", accelerator, tuple(dims))

    @classmethod
    def from_dict(cls, data: dict, accelerator: Accelerator) -> "System":
        _check_keys(data, {"name", "aliases", "accelerator", "source", "notes", "network"}, "system")
        return cls(name=data["name"], accelerator=accelerator,
                   network=tuple(NetworkDim.from_dict(d) for d in data.get("network", [])),
                   aliases=tuple(data.get("aliases", ())), source=data.get("source", ""), notes=data.get("notes", ""))


def _check_keys(data: dict, allowed: set[str], where: str) -> None:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
