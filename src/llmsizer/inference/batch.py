"""A static batch: `batch` identical requests prefilled together, then decoded together.

Metrics follow DESIGN.md:
- ttft: the prefill step of the whole batch, which also produces the first token, plus the
  engine's fixed start-up work for a batch (where a compiled context graph takes one prompt, one
  such step per prompt, in a row: shapes.prefill_graphs);
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

from ..arrays import first, real
from ..cost.profile import Profile
from ..cost.roofline import BOUNDS
from ..ops.base import Op, Step, decode_step, prefill_step
from ..ops.graph import step_ops
from ..units import GB, MS
from .memory import MemoryBreakdown, scenario_memory
from .scenario import Scenario
from .shapes import check_compiled, decode_batch, decode_context, prefill_graphs, prefill_prompt
from .step import StepCost, cost_ops_on, microbatches, pipeline_factors, replays_graphs, slowest_stage_share
from .workload import Workload

#: contexts at which the decode step is evaluated to average TPOT over the output
DECODE_POINTS = 8


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
    if np.shape(values) != np.shape(contexts):  # a value the same at every context counts once per context
        values = np.broadcast_to(values, np.broadcast_shapes(np.shape(values), np.shape(contexts)))
    return np.mean(values, axis=0)


@dataclass(frozen=True)
class Estimate:
    """Metrics of a batch served one way, in SI units, with the step costs behind them.

    `prefill` is one step before the first token (a chunked prefill takes `prefill_steps` of them;
    a disaggregated one runs on `prefill_scenario`'s pool); `decode` is one decode step at each
    quadrature context (a leading axis of `contexts`), yielding `decode_tokens` tokens per
    sequence (more than one under speculative decoding)."""

    scenario: Scenario
    workload: Workload
    ttft: np.ndarray
    tpot: np.ndarray
    prefill: StepCost
    decode: StepCost
    memory: MemoryBreakdown
    contexts: np.ndarray
    prefill_steps: object = 1.0
    decode_tokens: object = 1.0
    prefill_scenario: Scenario | None = None
    #: what each serving mode reports beside the metrics (speculative decoding, chunked prefill, ...)
    serving: dict = field(default_factory=dict)

    @property
    def devices(self) -> int:
        """Devices the batch occupies: the plan's, plus a separate prefill pool's."""
        pool = self.prefill_scenario.plan.devices if self.prefill_scenario is not None else 0
        return self.scenario.plan.devices + pool

    def mean_over_contexts(self, values):
        """A decode quantity averaged over the quadrature contexts (the mean step), whatever its shape."""
        if np.ndim(values) > np.ndim(self.tpot) and np.shape(values)[0] == np.shape(self.contexts)[0]:
            return quadrature_mean(values, self.contexts)
        return values

    @cached_property
    def e2e(self):
        return self.ttft + (real(self.workload.output) - 1) * self.tpot

    @cached_property
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
        points = np.shape(self.contexts)[0]
        if np.ndim(self.decode.time) > np.ndim(self.tpot):
            return self.decode.bound_code_at(points // 2, points)
        return self.decode.bound_code_at(None)

    def band(self, metric: str) -> tuple:
        """(low, high) of a metric's ~80% band from the profile's out-of-sample errors."""
        value = {"ttft": self.ttft, "tpot": self.tpot, "e2e_latency": self.e2e, "throughput": self.throughput}[metric]
        width = np.exp(self.scenario.profile.uncertainty[metric])
        return value / width, value * width

    def to_dict(self) -> dict:
        """Plain numbers for JSON (scalar scenarios)."""
        from ..models.params import parameter_count

        sc, mem = self.scenario, self.memory
        count = parameter_count(sc.model)
        return {
            "model": sc.model.name,
            "parameters": count.total,
            "active_parameters": count.active,
            "system": sc.system.name,
            "hardware": sc.system.accelerator.name,
            "devices": self.devices,
            "plan": {"tp": sc.plan.tp, "pp": sc.plan.pp, "ep": sc.plan.ep, "dp": sc.plan.dp, "cp": sc.plan.cp,
                     "microbatches": sc.plan.pipeline_microbatches, "order": list(sc.plan.order),
                     "experts_span_replicas": sc.plan.experts_span_replicas,
                     "redundant_experts": sc.plan.redundant_experts, "attention_dp": sc.plan.attention_dp,
                     "two_batch_overlap": sc.plan.two_batch_overlap,
                     "label": sc.plan.label},
            "moe_imbalance": sc.moe_imbalance,
            "compiled_batch": sc.compiled_batch,
            "compiled_sequence": sc.compiled_sequence,
            "precisions": sc.precisions.to_dict(),
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
        """Per-operator table (pandas DataFrame) of both phases; decode as the mean step."""
        from .report import breakdown_frame

        return breakdown_frame(self)


@dataclass(frozen=True)
class Prepared:
    """What does not depend on the efficiency profile: both phases' operators and the memory.
    Costing it under many profiles (calibration) skips rebuilding the graphs."""

    scenario: Scenario
    workload: Workload
    prefill_ops: list
    decode_ops: list
    contexts: np.ndarray
    memory: MemoryBreakdown
    prefill_step: Step
    decode_step: Step
    #: prefill steps run one after another before the first token (one per prompt where the
    #: engine's context graph takes one sequence)
    prefill_steps: object = 1.0


def prepare(sc: Scenario, workload: Workload, decode_points: int = DECODE_POINTS,
            memory: MemoryBreakdown | None = None) -> Prepared:
    """Build the operators of the prefill step and of the decode steps at the quadrature contexts,
    at the shapes the engine's compiled graphs run (shapes.py)."""
    check_compiled(sc, workload)
    batch = sc.plan.rank_batch(workload.batch)
    micro = batch / microbatches(sc.plan, batch)
    ctx = sc.context
    contexts = decode_contexts(workload.input, workload.output, decode_points, batch)
    memory = memory if memory is not None else scenario_memory(sc, workload)
    prompt = real(workload.input)
    per_step, prefill_steps = prefill_graphs(sc, micro)
    prefill = prefill_step(per_step, prefill_prompt(sc, per_step, workload.input, workload.cached_prefix),
                           workload.cached_prefix)
    decoding = sc.plan.rank_batch(decode_batch(sc, workload.batch))
    per_micro = decoding / microbatches(sc.plan, decoding)
    decode = decode_step(per_micro, decode_context(sc, contexts), workload.samples, prompt,
                         padding=per_micro * (1.0 - batch / decoding))
    return Prepared(
        sc, workload,
        prefill_ops=step_ops(ctx, prefill) + offload_ops(
            memory, written=memory.kv_cache * (prompt / (prompt + workload.output)) / prefill_steps),
        decode_ops=step_ops(ctx, decode) + offload_ops(memory, written=0.0, read=memory.kv_cache),
        contexts=contexts, memory=memory, prefill_step=prefill, decode_step=decode, prefill_steps=prefill_steps,
    )


def offload_ops(memory: MemoryBreakdown, written, read=0.0) -> list[Op]:
    """Streaming over the host link each step: the offloaded weights, and the offloaded share of
    the KV cache the step writes or reads (its whole cache, at the final length: an upper bound)."""
    if not np.any(memory.offloaded):
        return []
    share = np.where(memory.kv_cache > 0, memory.offloaded_kv / np.maximum(memory.kv_cache, 1e-30), 0.0)
    return [Op(name="offload_stream", block="offload", kind="offload", count=1,
               weight_bytes=memory.offloaded_weights, kv_bytes=share * (np.asarray(written) + np.asarray(read)))]


def cost(prep: Prepared, profile: Profile | None = None, steps: tuple | None = None) -> Estimate:
    """Time both phases under `profile` (the scenario's own by default); `steps`, their
    (prefill, decode) step costs where already worked out (`step_costs`)."""
    sc = prep.scenario
    profile = profile or sc.profile
    prefill, decode = steps or step_costs(prep, [(sc, profile)])[0]
    if sc.plan.pp > 1:  # the pipeline's fill and steady state, paced by its slowest stage
        batch = sc.plan.rank_batch(prep.workload.batch)
        fill, _ = pipeline_factors(sc.plan, batch, slowest_stage_share(sc, prep.prefill_step, prefill.costs, profile))
        decoding = sc.plan.rank_batch(decode_batch(sc, prep.workload.batch))
        _, steady = pipeline_factors(sc.plan, decoding, slowest_stage_share(sc, prep.decode_step, decode.costs, profile))
        prefill, decode = replace(prefill, time=prefill.time * fill), replace(decode, time=decode.time * steady)
    return Estimate(sc, prep.workload, prefill.time * prep.prefill_steps + profile.on_host(profile.prefill_overhead_s),
                    quadrature_mean(decode.time, prep.contexts), prefill, decode, prep.memory, prep.contexts,
                    prefill_steps=prep.prefill_steps)


def step_costs(prep: Prepared, members: list[tuple]) -> list[tuple[StepCost, StepCost]]:
    """The (prefill, decode) step costs of the prepared operators on each of `members`,
    (scenario, profile) pairs of one graph on different hardware or engines, priced together."""
    sequences = prep.scenario.plan.rank_batch(prep.workload.batch) * prep.workload.samples
    prefill, decode = (cost_ops_on(ops, [(sc, p, replays_graphs(p, step, sc.eager)) for sc, p in members], per_step)
                       for ops, step, per_step in ((prep.prefill_ops, prep.prefill_step, sequences / prep.prefill_steps),
                                                   (prep.decode_ops, prep.decode_step, sequences)))
    return list(zip(prefill, decode))


def evaluate(sc: Scenario, workload: Workload) -> Estimate:
    """All metrics of a plain static batch (arrays broadcast)."""
    return cost(prepare(sc, workload))
