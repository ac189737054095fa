"""The cost of one engine step: the public building block of every phase and serving mode.

A step is one forward pass over any composition of token segments (`ops.base.Step`): prompts
being prefilled with the context already cached before them, decoding sequences with theirs,
or both mixed. `step_cost` builds its operators for a scenario, costs each on the system and
returns the step's time with the costs behind it (for the bound and the breakdown). Static
prefill and decode, chunked prefill, speculative decoding, disaggregated serving and the request
simulator all price their steps here. Every size may be a numpy array: one call costs many
compositions.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from ..arrays import real
from ..cost.profile import Profile
from ..cost.priced import op_costs_on
from ..cost.roofline import BOUNDS, OpCost, host_work, op_costs, step_time
from ..ops.base import Op, Step
from ..ops.graph import layer_ops, step_ops
from ..parallel import Plan
from .scenario import Scenario


@dataclass(frozen=True)
class StepCost:
    """The operator costs of one step and its time in seconds; what bounds it (the bound holding
    most of the time) is worked out only when asked for."""

    costs: tuple[OpCost, ...]
    time: np.ndarray
    step_overhead_s: np.ndarray | float

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
        overhead = pick(self.step_overhead_s)  # an array where decode steps beyond the captured length run eagerly
        shape = np.broadcast_shapes(*(np.shape(t) for t in totals), *(np.shape(i) for i, _ in indices),
                                    np.shape(overhead))
        seconds = np.zeros((len(BOUNDS),) + shape, dtype=np.result_type(*totals))  # float32 in sweeps
        for total, (bound, possible) in zip(totals, indices):
            rest = np.asarray(total)
            for code in possible[:-1]:  # each possible bound takes the op's time where it holds ...
                part = np.where(bound == code, total, 0.0)
                seconds[code] += part
                rest = rest - part
            seconds[possible[-1]] += rest  # ... and the last one the remainder
        seconds[BOUNDS.index("overhead")] += overhead
        return np.argmax(seconds, axis=0)

    @cached_property
    def busy(self):
        """Seconds per step that operators keep the device's compute or memory saturated."""
        return sum(np.maximum(c.compute, c.memory) * c.op.count for c in self.costs)


def cost_ops(ops: list[Op], sc: Scenario, profile: Profile | None = None, pipeline_factor=1.0, sequences=0.0,
             graphs: bool = True) -> StepCost:
    """Cost a step's operators under `profile` (the scenario's own by default); `pipeline_factor`
    turns the pass over every layer for one micro-batch into the step's time with the pipeline's
    fill or steady state. The engine's per-sequence work is paid for `sequences`, its per-worker
    work for each device of the replica beyond the first; a step not replayed from captured
    `graphs` pays each kernel's host launch."""
    return cost_ops_on(ops, [(sc, profile or sc.profile, graphs)], sequences, pipeline_factor)[0]


def cost_ops_on(ops: list[Op], members: list[tuple], sequences=0.0, pipeline_factor=1.0) -> list[StepCost]:
    """`cost_ops` of one step's operators on each of `members`, (scenario, profile, graphs) of one
    graph on different hardware or engines, priced together (`op_costs_on`)."""
    priced = op_costs_on(ops, [(sc.system, profile, sc.layout) for sc, profile, _ in members])
    seconds = step_time(priced.ops, priced.totals())
    steps = []
    for member, (sc, profile, graphs) in enumerate(members):
        plan = sc.plan.ranks  # with attention data parallelism each rank schedules its own requests
        overhead = host_work(priced.ops, profile, sequences, graphs, workers=plan.tp * plan.pp * plan.cp - 1)
        steps.append(StepCost(priced.costs_of(member), (priced.of(seconds, member) + overhead) * pipeline_factor,
                              overhead))
    return steps


def replays_graphs(profile: Profile, step: Step, eager: bool = False):
    """Whether the engine replays a captured graph for `step` (an array where the step's lengths
    are): engines capture decode steps only, so a step with a prompt runs eagerly, as does every
    step of a deployment run `eager`, and a decode step whose longest sequence is longer than the
    profile's `graph_max_context`."""
    if eager or not profile.decode_graphs or not all(s.decode for s in step.segments):
        return False
    if not profile.graph_max_context:
        return True
    longest = functools.reduce(np.maximum, (real(s.past_tokens) + s.new_tokens for s in step.segments))
    return longest <= profile.graph_max_context


def step_cost(sc: Scenario, step: Step, profile: Profile | None = None, pipeline_factor=1.0) -> StepCost:
    """Time, bounds and breakdown of one engine step of any composition on one replica."""
    profile = profile or sc.profile
    return cost_ops(step_ops(sc.context, step), sc, profile, pipeline_factor, step.sequences,
                    replays_graphs(profile, step, sc.eager))


def microbatches(plan: Plan, batch):
    """Micro-batches a pipeline splits the batch into: the plan's number, at most one per sequence."""
    return np.minimum(plan.pipeline_microbatches, np.maximum(real(batch), 1))


def pipeline_factors(plan: Plan, batch, slowest_share=None):
    """(prefill, decode) multipliers of one micro-batch's pass over all layers, whose slowest
    stage takes `slowest_share` of it (1/pp when the stages are even). Prefill fills the pipeline:
    the pass plus (m - 1) slowest-stage times; a decode step of the whole batch takes the longer
    of one pass (a micro-batch's next token waits for its last) and m slowest-stage times. One
    micro-batch gives no overlap (both are 1)."""
    m, pp = microbatches(plan, batch), plan.pp
    share = 1.0 / pp if slowest_share is None else slowest_share
    if pp == 1:
        return 1.0, 1.0
    return 1.0 + (m - 1) * share, np.maximum(1.0, m * share)


def stage_layers(model, pp: int) -> list[dict]:
    """Each pipeline stage's layer kinds and counts: contiguous runs of the layer sequence,
    ceil/floor-even in number (the first stages take the remainder)."""
    sequence = model.layer_sequence()
    bounds = np.cumsum([0] + [len(part) for part in np.array_split(np.arange(len(sequence)), pp)])
    stages = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        counts: dict = {}
        for layer in sequence[start:end]:
            counts[layer] = counts.get(layer, 0) + 1
        stages.append(counts)
    return stages


def slowest_stage_share(sc: Scenario, step: Step, costs, profile: Profile | None = None):
    """The slowest pipeline stage's share of one pass over every layer: layer kinds differ in
    cost (sliding and global attention, dense and MoE layers), so stages of equal layer counts
    need not take equal time. Outside the layers, the embedding runs on the first stage, each
    stage but the last sends its activations on once, and the head (and anything else) runs on
    the last stage."""
    if sc.plan.pp == 1:
        return 1.0
    profile = profile or sc.profile
    layout = sc.layout
    per_layer = {layer: sum(c.total for c in op_costs(layer_ops(sc.context, layer, 1.0, step), sc.system, profile,
                                                       layout))
                 for layer in sc.model.layer_kinds()}
    whole = sum(c.total for c in costs)
    stages = [sum(count * per_layer[layer] for layer, count in stage.items())
              for stage in stage_layers(sc.model, sc.plan.pp)]
    embedding = sum(c.total for c in costs if c.op.block == "embedding" or c.op.extra.get("of") == "embedding")
    send = sum(c.total for c in costs if c.op.name == "stage_send") / (sc.plan.pp - 1)
    rest = whole - sum(stages) - embedding - send * (sc.plan.pp - 1)
    stages = [stage + send for stage in stages[:-1]] + [stages[-1] + rest]
    stages[0] = stages[0] + embedding
    return functools.reduce(np.maximum, stages) / whole
