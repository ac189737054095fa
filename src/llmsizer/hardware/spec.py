"""Accelerators, network dimensions and systems, in SI units (FLOP/s, bytes, bytes/s, seconds).

Data files state units in their key names (TFLOP/s, GiB, TB/s, GB/s, us); `from_dict` converts
at this edge and keeps the source of every figure. Figures may also be numpy arrays of swept
values: the cost model broadcasts over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from ..arrays import real
from ..datafile import check_fields, number, text, texts
from ..errors import ConfigError, require
from ..units import GB, GIB, MIB, TB, TERA, US

TOPOLOGIES = ("switched", "fully_connected", "ring", "torus")


def _all(value, bound: float, strict: bool = False) -> bool:
    """Every element of a figure (a number, or an array of swept values) above `bound`."""
    value = np.asarray(value)
    return bool(np.all(np.isfinite(value)) and (np.all(value > bound) if strict else np.all(value >= bound)))


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
        check_fields(data, {"name", "size", "gb_s", "latency_us", "topology"}, "network dimension")
        name = text(data, "name", "network dimension")
        return cls(name=name, size=number(data, "size", name, minimum=1, whole=True),
                   bandwidth=number(data, "gb_s", name, strict=True) * GB,
                   latency=number(data, "latency_us", name, default=0.0) * US,
                   topology=text(data, "topology", name, default="switched"))


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
    #: the K x N extent of the weight tile a systolic matrix unit holds at once (128 on Trainium's
    #: 128 x 128 Tensor Engine, 256 on TPU v6e's 256 x 256 MXU): a product whose weight is
    #: shallower or narrower than a whole number of tiles leaves that share of the array idle; None
    #: where kernels choose their tile shapes freely (GPU tensor cores)
    matrix_tile: int | None = None
    #: cores of one chip that its runtime runs as tensor-parallel ranks of their own (logical
    #: NeuronCores: 4 on Trainium2 at its default of two physical cores each, 2 on Trainium1 and
    #: Inferentia2): each holds its own share of the chip's weight shard; None where a chip's
    #: product is one kernel over all its units
    tensor_parallel_cores: int | None = None
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
        require(self.matrix_tile is None or _all(self.matrix_tile, 1), f"{self.name}.matrix_tile",
                self.matrix_tile, "must be a positive count of elements")
        require(self.tensor_parallel_cores is None or _all(self.tensor_parallel_cores, 1),
                f"{self.name}.tensor_parallel_cores", self.tensor_parallel_cores, "must be a positive count")

    def __hash__(self):
        return hash(self.name)

    def peak(self, precision: str) -> float:
        """Dense matrix peak for `precision` in FLOP/s. A device without that rate runs the product
        at the next wider precision it has (fp8 on A100 runs as fp16), as real kernels do."""
        for candidate in _FALLBACK[precision]:
            if candidate in self.peak_flops:
                return self.peak_flops[candidate]
        raise ConfigError(f"{self.name} lists no matrix rate usable for {precision}")

    @cached_property
    def elementwise_flops(self) -> float:
        """Rate of non-matrix (vector) work: the datasheet fp32 vector rate, or else 1/16 of the
        16-bit matrix peak (the ratio of A100's 19.5 to 312 and H100's 67 to 989 TFLOP/s); worked
        out once per device, as every operator asks for it."""
        return real(np.where(np.asarray(self.vector_flops) > 0, self.vector_flops, self.peak("bf16") / 16))

    def runs_natively(self, precision: str) -> bool:
        return precision in self.peak_flops

    @classmethod
    def from_dict(cls, data: dict) -> "Accelerator":
        check_fields(data, {"name", "aliases", "vendor", "source", "sources", "notes", "peak_tflops",
                           "vector_tflops", "compute_units", "matrix_tile", "tensor_parallel_cores",
                           "memory", "scale_up", "scale_out", "tdp_w",
                           "default_engine"},
                    "accelerator")
        name = text(data, "name", "accelerator")
        mem = data.get("memory") or {}
        check_fields(mem, {"hbm_gib", "hbm_tb_s", "sram_mib", "host_link_gb_s", "host_gib", "reserve_gib"}, f"{name}.memory")
        require("hbm_gib" in mem and "hbm_tb_s" in mem, f"{name}.memory", sorted(mem), "needs hbm_gib and hbm_tb_s")
        peaks = check_fields(data.get("peak_tflops") or {}, _FALLBACK, f"{name}.peak_tflops")
        capacity = number(mem, "hbm_gib", f"{name}.memory", strict=True) * GIB
        reserve = number(mem, "reserve_gib", f"{name}.memory", default=None)
        sources = data.get("sources") or {}
        require(isinstance(sources, dict), f"{name}.sources", sources, "must map each figure to its source")
        require(reserve is None or reserve * GIB < capacity, f"{name}.memory.reserve_gib", reserve,
                "must be less than the memory capacity")

        def link(key: str, default_name: str) -> NetworkDim | None:
            raw = data.get(key)
            if not raw:
                return None
            where = f"{name}.{key}"
            check_fields(raw, {"name", "gb_s", "latency_us", "domain", "topology"}, where)
            return NetworkDim(name=text(raw, "name", where, default=default_name),
                              size=number(raw, "domain", where, default=1, minimum=1, whole=True),
                              bandwidth=number(raw, "gb_s", where, strict=True) * GB,
                              latency=number(raw, "latency_us", where, default=0.0) * US,
                              topology=text(raw, "topology", where, default="switched"))

        return cls(
            name=name,
            peak_flops={k: number(peaks, k, f"{name}.peak_tflops") * TERA for k, v in peaks.items() if v},
            memory_capacity=capacity,
            memory_bandwidth=number(mem, "hbm_tb_s", f"{name}.memory", strict=True) * TB,
            sram=number(mem, "sram_mib", f"{name}.memory", default=0.0) * MIB,
            host_link_bandwidth=number(mem, "host_link_gb_s", f"{name}.memory", default=0.0) * GB,
            host_capacity=number(mem, "host_gib", f"{name}.memory", default=0.0) * GIB,
            reserve=reserve * GIB if reserve is not None else None,
            vector_flops=number(check_fields(data.get("vector_tflops") or {}, {"fp32"}, f"{name}.vector_tflops"),
                                "fp32", f"{name}.vector_tflops", default=0.0) * TERA,
            compute_units=number(data, "compute_units", name, default=None, minimum=1, whole=True),
            matrix_tile=number(data, "matrix_tile", name, default=None, minimum=1, whole=True),
            tensor_parallel_cores=number(data, "tensor_parallel_cores", name, default=None, minimum=1, whole=True),
            scale_up=link("scale_up", "scale-up"),
            scale_out=link("scale_out", "scale-out"),
            default_engine=text(data, "default_engine", name, default=None),
            tdp_w=number(data, "tdp_w", name, default=0),
            vendor=str(data.get("vendor", "")),
            aliases=texts(data, "aliases", name),
            source=str(data.get("source", "")),
            sources=dict(sources),
            notes=str(data.get("notes", "")),
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
        check_fields(data, {"name", "aliases", "accelerator", "source", "notes", "network"}, "system")
        name = text(data, "name", "system")
        network = data.get("network") or []
        require(isinstance(network, list), f"{name}.network", network, "must be a list of dimensions")
        return cls(name=name, accelerator=accelerator, network=tuple(NetworkDim.from_dict(d) for d in network),
                   aliases=texts(data, "aliases", name), source=str(data.get("source", "")),
                   notes=str(data.get("notes", "")))

