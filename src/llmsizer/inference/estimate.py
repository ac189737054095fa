"""One scenario (or many at once) to TTFT, TPOT, end-to-end latency, throughput and memory.

Metrics follow DESIGN.md for a static batch of `batch` identical requests:
- ttft: the prefill step of the whole batch, which also produces the first token, plus the
  engine's fixed start-up work for a batch;
- tpot: the mean decode step after the first token, averaged over the growing context (a
  midpoint rule over DECODE_POINTS contexts spread across the output; each operator is linear in
  the context within a bound, so this is close to the exact mean over every step);
- e2e = ttft + (output - 1) x tpot; throughput = replicas x batch x output / e2e.
Batch, input and output may be numpy arrays: every formula broadcasts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np

from ..cost.profile import Profile, engine_from_text, load_profile
from ..cost.roofline import BOUNDS, OpCost, op_cost, step_time
from ..errors import require
from ..hardware.spec import System
from ..hardware.zoo import load_accelerator, load_system
from ..models.spec import Model
from ..models.zoo import load_model
from ..ops.base import Context, Op, Sizes, decode_step, prefill_step
from ..ops.graph import step_ops
from ..parallel import Plan
from ..precision import Precisions, quant_preset
from ..units import GB, MS
from .memory import MemoryBreakdown, memory_breakdown
from .workload import Workload
from ..arrays import first, real

#: contexts at which the decode step is evaluated to average TPOT over the output
DECODE_POINTS = 8


@dataclass(frozen=True)
class Scenario:
    """Everything but the workload: model, system, split, precisions, efficiency profile, and how
    unevenly the router loads experts."""

    model: Model
    system: System
    plan: Plan
    precisions: Precisions
    profile: Profile
    moe_imbalance: float = 1.0
    #: what lives in host memory when the device is full: "weights", "kv" or None
    offload: str | None = None

    @property
    def context(self) -> Context:
        return Context(self.model, self.plan.ranks, Sizes.of(self.precisions), self.moe_imbalance)

    @property
    def layout(self):
        return self.plan.layout(self.system)


#: default ratio of the busiest expert device's tokens to the average: uniform routing
MOE_IMBALANCE = 1.0


def scenario(model, hardware=None, *, system=None, devices: int | None = None, tp: int = 1, pp: int = 1,
             ep: int = 1, dp: int | None = None, cp: int = 1, microbatches: int | None = None,
             order: tuple[str, ...] | None = None, weight_precision: str = "bf16", kv_precision: str | None = None,
             activation_precision: str | None = None, quant: str | None = None, engine: str | None = None,
             profile: str | Profile | None = None, moe_imbalance: float = MOE_IMBALANCE,
             offload: str | None = None, redundant_experts: int = 0, attention_dp: bool = False) -> Scenario:
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
    require(moe_imbalance >= 1.0, "moe_imbalance", moe_imbalance, "must be >= 1 (the busiest device over the average)")
    plan = Plan(tp=tp, pp=pp, ep=ep, dp=devices // per_replica, cp=cp, microbatches=microbatches,
                redundant_experts=redundant_experts, attention_dp=attention_dp,
                **({"order": tuple(order)} if order else {}))
    plan.check(model)
    if system is None:
        system = System.single_node(load_accelerator(hardware), devices)
    plan.layout(system)  # fails early, naming the group that does not fit the network
    if not isinstance(profile, Profile):
        name = profile or engine_from_text(engine) or engine or "default"
        profile = load_profile(name, system.accelerator.name)
    if quant is not None:  # a named scheme sets every tensor class; an explicit KV precision still wins
        precisions = quant_preset(quant)
        if kv_precision is not None:
            precisions = replace(precisions, kv_cache=kv_precision, kv_group=None, kv_scale_bytes=None)
    else:
        precisions = Precisions.from_weight_precision(weight_precision, kv_precision)
    if activation_precision is not None:
        precisions = replace(precisions, activations=activation_precision)
    if precisions.weights == "fp8" and not profile.fp8_experts and model.is_moe:
        precisions = replace(precisions, experts="bf16")  # the engine keeps experts in 16 bits
    return Scenario(model, system, plan, precisions, profile, moe_imbalance, offload)


@dataclass
class Phase:
    """The operator costs of one phase's step and its time in seconds; what bounds it (the bound
    holding most of the time) is worked out only when asked for."""

    costs: list[OpCost]
    time: np.ndarray
    step_overhead_s: float

    @cached_property
    def bound(self) -> np.ndarray:
        return self.bound_at(None)

    def bound_at(self, index: int | None, axis_length: int | None = None) -> np.ndarray:
        """The bound, or with `index` the bound at that position of a leading axis of
        `axis_length` (the decode contexts), worked out on that slice only."""
        return np.asarray(BOUNDS)[self.bound_code_at(index, axis_length)]

    def bound_code_at(self, index: int | None, axis_length: int | None = None) -> np.ndarray:
        """As `bound_at`, as indices into BOUNDS."""
        def pick(values):
            values = np.asarray(values)
            if index is None or values.ndim == 0 or values.shape[0] != axis_length:
                return values
            return values[index]

        totals = [pick(c.total) for c in self.costs]
        indices = [c.bound_index_of(pick) for c in self.costs]
        shape = np.broadcast_shapes(*(np.shape(t) for t in totals), *(np.shape(i) for i, _ in indices))
        seconds = np.zeros((len(BOUNDS),) + shape, dtype=np.result_type(*totals))  # float32 in sweeps
        for total, (bound, possible) in zip(totals, indices):
            rest = np.asarray(total)
            for code in possible[:-1]:  # each possible bound takes the op's time where it holds ...
                part = np.where(bound == code, total, 0.0)
                seconds[code] += part
                rest = rest - part
            seconds[possible[-1]] += rest  # ... and the last one the remainder
        seconds[BOUNDS.index("overhead")] += self.step_overhead_s
        return np.argmax(seconds, axis=0)


def _phase(ops: list, sc: Scenario, profile: Profile, layout: dict, pipeline_factor) -> Phase:
    """Cost a step's operators; `pipeline_factor` turns the step over every layer for one
    micro-batch into the phase's time with the pipeline's fill or steady state."""
    costs = [op_cost(op, sc.system, profile, layout) for op in ops]
    return Phase(costs, step_time(costs, profile) * pipeline_factor, profile.step_overhead_s)


def decode_contexts(input, output, points: int = DECODE_POINTS, batch=1.0):
    """Cached tokens before each sampled decode step: a leading axis of `points` midpoints (first,
    so that workload and swept hardware arrays of one shape broadcast in both phases).

    Decode step j (j = 1 .. output-1) appends the j-th generated token to `input + j - 1` cached
    tokens; with one output token the single point is the step that would follow the first token.
    """
    shape = np.broadcast_shapes(np.shape(input), np.shape(output), np.shape(batch))
    input = np.broadcast_to(real(input), shape)
    steps = np.maximum(np.broadcast_to(real(output), shape) - 1, 1)
    fractions = ((np.arange(points) + 0.5) / points).reshape((points,) + (1,) * len(shape)).astype(input.dtype)
    return input + fractions * steps + 0.5 - 1


def quadrature_mean(values, contexts):
    """Mean over the decode contexts' leading axis."""
    return np.mean(np.broadcast_to(values, np.broadcast_shapes(np.shape(values), np.shape(contexts))), axis=0)


@dataclass
class Estimate:
    """Metrics of a static batch, in SI units, with the per-operator costs behind them."""

    scenario: Scenario
    workload: Workload
    ttft: np.ndarray
    tpot: np.ndarray
    prefill: Phase
    decode: Phase
    memory: MemoryBreakdown
    #: results of serving options (speculative decoding, chunked prefill, ...), by name
    serving: dict = field(default_factory=dict)

    @property
    def e2e(self):
        return self.ttft + (real(self.workload.output) - 1) * self.tpot

    @property
    def throughput(self):
        """Output tokens per second of the whole system (all replicas, every sample)."""
        w = self.workload
        return self.scenario.plan.dp * real(w.batch) * w.samples * w.output / self.e2e

    @property
    def fits(self):
        return self.memory.fits

    @property
    def decode_bound(self):
        """What bounds decode: at the mean context, or the middle of the quadrature contexts."""
        return np.asarray(BOUNDS)[self.decode_bound_code]

    @property
    def decode_bound_code(self):
        """As `decode_bound`, as indices into BOUNDS."""
        if np.ndim(self.decode.time) > np.ndim(self.tpot):
            points = np.shape(self.decode.time)[0]
            return self.decode.bound_code_at(points // 2, points)
        return self.decode.bound_code_at(None)

    def band(self, metric: str) -> tuple:
        """(low, high) of a metric's ~80% band from the profile's out-of-sample errors."""
        value = {"ttft": self.ttft, "tpot": self.tpot, "e2e_latency": self.e2e, "throughput": self.throughput}[metric]
        width = np.exp(self.scenario.profile.uncertainty[metric])
        return value / width, value * width

    def to_dict(self) -> dict:
        """Plain numbers for JSON (scalar scenarios)."""
        sc, mem = self.scenario, self.memory
        return {
            "model": sc.model.name,
            "system": sc.system.name,
            "hardware": sc.system.accelerator.name,
            "devices": sc.plan.devices,
            "plan": {"tp": sc.plan.tp, "pp": sc.plan.pp, "ep": sc.plan.ep, "dp": sc.plan.dp, "cp": sc.plan.cp,
                     "microbatches": sc.plan.pipeline_microbatches, "order": list(sc.plan.order),
                     "experts_span_replicas": sc.plan.experts_span_replicas,
                     "redundant_experts": sc.plan.redundant_experts, "attention_dp": sc.plan.attention_dp},
            "moe_imbalance": sc.moe_imbalance,
            "precisions": {"weights": sc.precisions.weights, "activations": sc.precisions.activations,
                           "kv_cache": sc.precisions.kv_cache},
            "workload": {"batch": first(self.workload.batch), "input": first(self.workload.input),
                         "output": first(self.workload.output)},
            "profile": sc.profile.name,
            "ttft_ms": first(self.ttft) / MS,
            "tpot_ms": first(self.tpot) / MS,
            "e2e_latency_ms": first(self.e2e) / MS,
            "throughput_tokens_per_s": first(self.throughput),
            "prefill_bound": str(np.asarray(self.prefill.bound).reshape(-1)[0]),
            "decode_bound": str(np.asarray(self.decode_bound).reshape(-1)[0]),
            "memory_per_device_gb": first(mem.total) / GB,
            "memory_breakdown_gb": {
                "weights": mem.weights / GB, "kv_cache": first(mem.kv_cache) / GB,
                "activations": first(mem.activations) / GB, "runtime_reserve": mem.reserve / GB,
                "capacity": mem.capacity / GB,
            },
            "fits": bool(np.asarray(mem.fits).reshape(-1)[0]),
            "max_batch": int(first(mem.max_batch)),
            "bands": {
                f"{metric}{unit}": [first(low) / scale, first(high) / scale]
                for metric, unit, scale in (("ttft", "_ms", MS), ("tpot", "_ms", MS), ("e2e_latency", "_ms", MS),
                                            ("throughput", "_tokens_per_s", 1.0))
                for low, high in [self.band(metric)]
            },
            "band_basis": sc.profile.uncertainty_basis,
            "serving": {name: result.to_dict() for name, result in self.serving.items()},
        }

    def breakdown(self):
        """Per-operator table (pandas DataFrame) of both phases; decode at the mean context."""
        from .report import breakdown_frame

        return breakdown_frame(self)


@dataclass
class Prepared:
    """What does not depend on the efficiency profile: both phases' operators and the memory.
    Costing it under many profiles (calibration) skips rebuilding the graphs."""

    scenario: Scenario
    workload: Workload
    prefill_ops: list
    decode_ops: list
    contexts: np.ndarray
    memory: MemoryBreakdown
    detail_ops: list | None = None


def prepare(sc: Scenario, workload: Workload, detail: bool = False, decode_points: int = DECODE_POINTS) -> Prepared:
    """Build the operators of the prefill step and of the decode steps at the quadrature contexts;
    with `detail`, also the decode step at the mean context, kept for the breakdown."""
    batch = real(workload.batch) / sc.plan.batch_split  # per attention rank
    micro = batch / microbatches(sc.plan, batch)
    ctx = sc.context
    contexts = decode_contexts(workload.input, workload.output, decode_points, batch)
    acc = sc.system.accelerator
    memory = memory_breakdown(sc.model, sc.plan.ranks, sc.precisions, acc.memory_capacity, batch, workload.input,
                              workload.output, samples=workload.samples, offload=sc.offload,
                              host_capacity=acc.host_capacity, reserve=acc.reserve)
    memory.max_batch = memory.max_batch * sc.plan.batch_split  # of the replica, as the batch is given
    prompt = real(workload.input)
    return Prepared(
        sc, workload,
        prefill_ops=step_ops(ctx, prefill_step(micro, workload.input, workload.cached_prefix))
        + _offload_ops(memory, written=memory.kv_cache * (prompt / (prompt + workload.output))),
        decode_ops=step_ops(ctx, decode_step(micro, contexts, workload.samples, prompt))
        + _offload_ops(memory, written=0.0, read=memory.kv_cache),
        contexts=contexts, memory=memory,
        detail_ops=step_ops(ctx, decode_step(micro, np.mean(contexts, axis=0), workload.samples, prompt))
        + _offload_ops(memory, written=0.0, read=memory.kv_cache) if detail else None,
    )


def _offload_ops(memory: MemoryBreakdown, written, read=0.0) -> list[Op]:
    """Streaming over the host link each step: the offloaded weights, and the offloaded share of
    the KV cache the step writes or reads (its whole cache, at the final length: an upper bound)."""
    if not np.any(memory.offloaded):
        return []
    share = np.where(memory.kv_cache > 0, memory.offloaded_kv / np.maximum(memory.kv_cache, 1e-30), 0.0)
    return [Op(name="offload_stream", block="offload", kind="offload", count=1,
               weight_bytes=memory.offloaded_weights, kv_bytes=share * (np.asarray(written) + np.asarray(read)))]


def microbatches(plan: Plan, batch):
    """Micro-batches a pipeline splits the batch into: the plan's number, at most one per sequence."""
    return np.minimum(plan.pipeline_microbatches, np.maximum(real(batch), 1))


def pipeline_factors(plan: Plan, batch):
    """(prefill, decode) multipliers of one micro-batch's pass over all layers. Each stage holds
    1/pp of it; prefill fills the pipeline, (m + pp - 1) stage times; a decode step of the whole
    batch waits for max(m, pp) stage times. One micro-batch gives no overlap (both are 1)."""
    m, pp = microbatches(plan, batch), plan.pp
    return (m + pp - 1) / pp, np.maximum(m, pp) / pp


def cost(prep: Prepared, profile: Profile | None = None) -> Estimate:
    """Time both phases under `profile` (the scenario's own by default)."""
    sc = prep.scenario
    profile = profile or sc.profile
    layout = sc.layout
    fill, steady = pipeline_factors(sc.plan, real(prep.workload.batch) / sc.plan.batch_split)
    prefill = _phase(prep.prefill_ops, sc, profile, layout, fill)
    ttft = prefill.time + profile.prefill_overhead_s
    decode = _phase(prep.decode_ops, sc, profile, layout, steady)
    tpot = quadrature_mean(decode.time, prep.contexts)
    if prep.detail_ops is not None:  # keep the step at the mean context, for its breakdown and bound
        decode = _phase(prep.detail_ops, sc, profile, layout, steady)
    return Estimate(sc, prep.workload, ttft, tpot, prefill, decode, prep.memory)


def evaluate(sc: Scenario, workload: Workload, detail: bool = False) -> Estimate:
    """All metrics for a workload (arrays broadcast). With `detail`, the decode phase kept for
    the breakdown is the step at the mean context instead of the quadrature points."""
    return cost(prepare(sc, workload, detail))


def estimate(model, hardware=None, *, batch=1, input=1024, output=256, samples: int = 1, cached_prefix=0,
             chunk: int | None = None, background: int = 0, draft=None, draft_tokens: int | None = None,
             acceptance: float | None = None, draft_tp: int = 1, draft_layers: float = 1.0,
             prefill_devices: int | None = None, prefill_tp: int = 1, **options) -> Estimate:
    """Estimate one scenario: `llmsizer.estimate("llama-3.1-8b", "h100", batch=8)`.

    Options are those of `scenario` (system, devices, tp, pp, ep, dp, cp, weight_precision,
    kv_precision, quant, engine, profile, ...) and the serving options: `samples` per request,
    `cached_prefix` tokens, chunked prefill (`chunk` tokens per step mixed with `background`
    decoding requests), speculative decoding (`draft`: a model, or "heads" for self-drafting heads
    of `draft_layers` target layers; `draft_tokens`; `acceptance`, required), and disaggregated
    serving (`prefill_devices` running prefill with `prefill_tp`, the rest of the options
    describing the decode pool)."""
    from .chunked import chunked_prefill
    from .disaggregated import disaggregated
    from .speculative import Speculation, speculate

    sc = scenario(model, hardware, **options)
    workload = Workload(batch, input, output, samples, cached_prefix)
    est = evaluate(sc, workload, detail=True)
    if chunk is not None:
        result = chunked_prefill(sc, workload, chunk, background)
        est = replace(est, ttft=result.ttft, serving={**est.serving, "chunked_prefill": result})
    if draft is not None:
        require(acceptance is not None, "acceptance", acceptance,
                "speculative decoding needs an acceptance rate: it depends on the draft and the task")
        require(draft_tokens is not None, "draft_tokens", draft_tokens, "give the number of proposed tokens")
        draft_sc = None if draft == "heads" else scenario(
            draft, hardware, system=options.get("system"), devices=draft_tp, tp=draft_tp,
            weight_precision=sc.precisions.weights if sc.precisions.weights in ("fp8", "bf16", "fp16") else "bf16",
            engine=options.get("engine"), profile=options.get("profile"))
        result = speculate(sc, workload, Speculation(draft_tokens, acceptance, draft_sc, draft_layers))
        est = replace(est, tpot=result.tpot, serving={**est.serving, "speculative": result})
    if prefill_devices is not None:
        pool = {k: v for k, v in options.items() if k not in ("devices", "tp", "pp", "ep", "dp", "cp", "microbatches")}
        prefill_sc = scenario(model, hardware, devices=prefill_devices, tp=prefill_tp, **pool)
        result = disaggregated(prefill_sc, sc, workload)
        est = replace(est, ttft=result.ttft, serving={**est.serving, "disaggregated": result})
    return est
