"""A scenario: everything but the workload, resolved once from names into objects.

Model, system, the split over devices, precisions, the efficiency profile, how unevenly the
router loads experts, what is offloaded to host memory, the batch and sequence length the
engine's graphs were compiled for, and whether it captures graphs at all. `scenario()` turns the
names a user types (or a CSV row holds) into one; every command builds it at the edge and hands
it down.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from ..cost.profile import Profile, engine_from_text, load_profile
from ..errors import require
from ..hardware.spec import System
from ..hardware.zoo import load_accelerator, load_system
from ..models.spec import Model
from ..models.zoo import load_model
from ..ops.base import Context, Sizes
from ..parallel import Plan
from ..precision import Precisions, quant_preset


#: the busiest expert device's tokens over the average when nothing else is said: uniform routing
UNIFORM_ROUTING = 1.0


@dataclass(frozen=True)
class Scenario:
    """Everything but the workload: model, system, split, precisions, efficiency profile, and how
    unevenly the router loads experts."""

    model: Model
    system: System
    plan: Plan
    precisions: Precisions
    profile: Profile
    moe_imbalance: float = UNIFORM_ROUTING
    #: what lives in host memory when the device is full: "weights", "kv" or None
    offload: str | None = None
    #: the batch the engine's decode graphs were compiled for (None: any batch runs as it is)
    compiled_batch: int | None = None
    #: the sequence length the engine's graphs were compiled for (None: any length runs as it is)
    compiled_sequence: int | None = None
    #: every step runs eagerly, decode too (no captured graphs: vLLM --enforce-eager)
    eager: bool = False

    @property
    def context(self) -> Context:
        return Context(self.model, self.plan.ranks, Sizes.of(self.precisions), self.moe_imbalance,
                       self.profile.moe_kernel)

    @cached_property
    def layout(self):
        """The plan laid out on the system's network (worked out once: every step asks for it)."""
        return self.plan.layout(self.system)


def scenario(model, hardware=None, *, system=None, devices: int | None = None, tp: int = 1, pp: int = 1,
             ep: int = 1, dp: int | None = None, cp: int = 1, microbatches: int | None = None,
             order: tuple[str, ...] | None = None, weight_precision: str = "bf16", kv_precision: str | None = None,
             activation_precision: str | None = None, quant: str | None = None, engine: str | None = None,
             profile: str | Profile | None = None, moe_imbalance: float | None = None,
             offload: str | None = None, redundant_experts: int = 0, attention_dp: bool = False,
             two_batch_overlap: bool = False, compiled_batch: int | None = None,
             compiled_sequence: int | None = None, eager: bool = False) -> Scenario:
    """Resolve names into a Scenario. Devices beyond tp x pp x cp become data-parallel replicas
    (`dp`, or as many as `devices` or the system allow)."""
    model = load_model(model)
    require((hardware is None) != (system is None), "hardware/system", (hardware, system),
            "give exactly one of a hardware name (with --devices) or a system")
    if system is not None:
        system = load_system(system)
    per_replica = tp * pp * cp
    if devices is None:
        devices = per_replica * dp if dp is not None else (system.num_devices if system is not None else per_replica)
    require(devices % per_replica == 0, "devices", devices, f"must be a multiple of tp x pp x cp ({per_replica})")
    require(dp is None or dp * per_replica == devices, "dp", dp, f"must equal devices / (tp x pp x cp) = {devices // per_replica}")
    for name, size in (("compiled_batch", compiled_batch), ("compiled_sequence", compiled_sequence)):
        require(size is None or (float(size).is_integer() and size >= 1), name, size, "must be a whole number >= 1")
    moe_imbalance = UNIFORM_ROUTING if moe_imbalance is None else moe_imbalance
    require(moe_imbalance >= 1.0, "moe_imbalance", moe_imbalance, "must be >= 1 (the busiest device over the average)")
    accelerator = system.accelerator if system is not None else load_accelerator(hardware)
    if not isinstance(profile, Profile):
        name = profile or engine_from_text(engine) or engine or accelerator.default_engine or "default"
        profile = load_profile(name, accelerator.name)
    plan = Plan(tp=tp, pp=pp, ep=ep, dp=devices // per_replica, cp=cp, microbatches=microbatches,
                redundant_experts=redundant_experts, attention_dp=attention_dp, two_batch_overlap=two_batch_overlap,
                head_ranks=(accelerator.tensor_parallel_cores or 1) if profile.pads_heads else 0,
                **({"order": tuple(order)} if order else {}))
    plan.check(model)
    if system is None:
        system = System.single_node(accelerator, devices)
    plan.layout(system)  # fails early, naming the group that does not fit the network
    if quant is not None:  # a named scheme sets every tensor class; an explicit KV precision still wins
        precisions = quant_preset(quant, kv_precision)
    else:
        precisions = Precisions.from_weight_precision(weight_precision, kv_precision)
    if activation_precision is not None:
        precisions = replace(precisions, activations=activation_precision)
    precisions = precisions.on(system.accelerator)  # formats the chip cannot compute run weight-only
    if precisions.weights == "fp8" and not profile.fp8_experts and model.is_moe:
        precisions = replace(precisions, experts="bf16")  # the engine keeps experts in 16 bits
    return Scenario(model, system, plan, precisions, profile, moe_imbalance, offload, compiled_batch, compiled_sequence,
                    eager)

