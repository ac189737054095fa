"""Memory per device: weights, KV cache, recurrent state, peak activations and a runtime reserve.

Weights of each layer kind are counted on the slice one device holds (tensor-parallel shards,
its experts, its pipeline stage), with the same closed forms as the parameter count. The KV cache
holds every token of every sequence up to its final length, capped by a layer's sliding window;
MLA caches its latent once per token on every tensor-parallel rank; Mamba layers hold a fixed
recurrent state per sequence instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..models.params import dense_ffn_params, layer_params
from ..models.spec import Layer, Model, MoEFFN
from ..ops.base import Sizes
from ..parallel import Plan
from ..precision import Precisions
from ..errors import require
from ..units import GIB
from ..arrays import real
from .shapes import cache_shape, check_compiled

#: memory an engine keeps outside weights, cache and activations: CUDA context, kernels and
#: library workspaces (about 1 GiB on current GPUs with cuBLAS and NCCL loaded) ...
RESERVE_FIXED_BYTES = 1.0 * GIB
#: ... plus allocator fragmentation and buffers that grow with the device (stated: 5% of capacity)
RESERVE_FRACTION = 0.05


def shard_layer(layer: Layer, plan: Plan) -> Layer:
    """The slice of a layer one device holds under the plan (widths rounded up)."""
    return Layer(None if layer.mixer is None else layer.mixer.shard(plan),
                 None if layer.ffn is None else layer.ffn.shard(plan), layer.norms)


@lru_cache(maxsize=256)
def weight_bytes_per_device(model: Model, plan: Plan, sizes: Sizes) -> float:
    """Weights on the most loaded pipeline stage: its share of the layers plus the vocabulary
    tables (input and output on one stage when pp = 1; the larger of the two otherwise). Kept
    per deployment: a table prices one deployment on many devices and engines."""
    layers = 0.0
    for layer, count in model.layer_kinds().items():
        shard = shard_layer(layer, plan)
        n = layer_params(shard, model).total * sizes.weight
        if isinstance(layer.ffn, MoEFFN):
            ffn = shard.ffn
            router_row = model.hidden + (1 if ffn.router_bias else 0)  # the router is replicated, not split
            n += router_row * (layer.ffn.num_experts - ffn.num_experts) * sizes.weight
            experts = ffn.num_experts * dense_ffn_params(ffn.expert_intermediate, model.hidden, ffn.gated, False)
            n += experts * (sizes.expert_weight - sizes.weight)  # routed experts at their own precision
        layers += count * n
    layers /= plan.pp
    table = model.vocab * model.hidden / plan.tp
    tables = table if model.tied_embeddings or plan.pp > 1 else 2 * table
    extra = model.learned_positions * model.hidden + (model.hidden if model.final_norm else 0)
    return layers + (tables + extra) * sizes.embedding


def cache_bytes_per_sequence(model: Model, plan: Plan, sizes: Sizes, context) -> np.ndarray:
    """KV cache and recurrent state of one sequence holding `context` tokens, on one device."""
    context = real(context)
    total = np.zeros_like(context)
    for layer, count in model.layer_kinds().items():
        if layer.mixer is not None:
            kv, state = layer.mixer.cache_elements(context, plan)
            total = total + count * (kv * sizes.kv + state * sizes.activation)
    return total / (plan.pp * plan.cp)


def recurrent_state_elements(mixer, plan: Plan) -> float:
    """Fixed state (conv window and scan state) of one sequence in one layer, on one device."""
    return mixer.cache_elements(0.0, plan)[1]


def kv_bytes_per_token(model: Model, precisions: Precisions, context: int = 1) -> float:
    """Whole-model KV-cache bytes per token of a sequence `context` tokens long, on one device."""
    sizes = Sizes.of(precisions)
    return float(cache_bytes_per_sequence(model, Plan(), sizes, context)) / context


@lru_cache(maxsize=256)
def activation_bytes_per_token(model: Model, plan: Plan, sizes: Sizes) -> float:
    """Peak transient activations per token of a step: the residual stream and its normed copy,
    the widest projection output of a layer on this device, and (for MoE) routed copies (kept per
    deployment, as the weights)."""
    widest = max(part.activation_width(plan) for layer in model.layer_kinds() for part in shard_layer(layer, plan).parts)
    return (4 * model.hidden + widest) * sizes.activation


LOGIT_BYTES = 4.0


@dataclass
class MemoryBreakdown:
    """Bytes per device by use, whether it fits, and the largest batch that fits. With offload,
    `offloaded_weights` or `offloaded_kv` live in host memory instead (`total` is what stays on
    the device; host memory is taken to be large enough unless the accelerator states its size)."""

    weights: float
    kv_cache: np.ndarray
    activations: np.ndarray
    reserve: float
    capacity: float
    max_batch: np.ndarray
    offloaded_weights: np.ndarray | float = 0.0
    offloaded_kv: np.ndarray | float = 0.0
    host_capacity: float = 0.0

    @property
    def total(self):
        return self.weights + self.kv_cache + self.activations + self.reserve - self.offloaded

    @property
    def offloaded(self):
        return self.offloaded_weights + self.offloaded_kv

    @property
    def fits(self):
        on_host = self.offloaded <= self.host_capacity if self.host_capacity else True
        return (self.total <= self.capacity * (1 + 1e-12)) & on_host


def runtime_reserve(capacity: float, stated: float | None = None) -> float:
    """The accelerator's stated reserve, or the GPU default: a fixed part plus a share of capacity."""
    return stated if stated is not None else RESERVE_FIXED_BYTES + RESERVE_FRACTION * capacity


OFFLOAD_CHOICES = ("weights", "kv")


@dataclass
class MemoryDemand:
    """What a batch asks of each device's memory, whatever the device: its weights, and per
    sequence the KV cache and recurrent state and a step's peak activations, for `batch`
    sequences of which `cached` hold a cache (the compiled batch where graphs run one)."""

    weights: float
    cache_per_sequence: np.ndarray
    activations_per_sequence: np.ndarray
    batch: np.ndarray
    cached: np.ndarray


def memory_breakdown(model: Model, plan: Plan, precisions: Precisions, capacity: float, batch, input, output,
                     prefill_tokens=None, samples: int = 1, offload: str | None = None,
                     host_capacity: float = 0.0, reserve: float | None = None, draft=None,
                     cache_batch=None, cache_length=None) -> MemoryBreakdown:
    """Memory per device for a static batch (per data-parallel replica) whose sequences grow to
    `input + output` tokens, each request decoding `samples` sequences over one shared prompt.
    `prefill_tokens` caps the prompt tokens of the batch one prefill step processes (chunked
    prefill); by default the whole batch's prompts are prefilled at once. `draft` (model, plan,
    precisions) is a draft model sharing the devices: its weights and its own cache count too.
    `cache_batch` and `cache_length` are the sequences and tokens per sequence the KV cache is
    allocated for, when not the batch and its final length (compiled graphs)."""
    demand = memory_demand(model, plan, precisions, batch, input, output, prefill_tokens, samples, draft, cache_batch,
                           cache_length)
    return fitted(demand, capacity, offload, host_capacity, reserve)


def memory_demand(model: Model, plan: Plan, precisions: Precisions, batch, input, output, prefill_tokens=None,
                  samples: int = 1, draft=None, cache_batch=None, cache_length=None) -> MemoryDemand:
    """The `MemoryDemand` of a batch (arguments as `memory_breakdown`)."""
    sizes = Sizes.of(precisions)
    batch = real(batch)
    input = real(input)
    final = cache_bytes_per_sequence(model, plan, sizes, input + real(output) if cache_length is None else cache_length)
    # samples share the prompt's cache and each hold their own generated tokens and recurrent state
    prompt = cache_bytes_per_sequence(model, plan, sizes, input)
    state = cache_bytes_per_sequence(model, plan, sizes, 0.0)
    per_seq_cache = prompt + samples * (final - prompt) + (samples - 1) * state
    weights = weight_bytes_per_device(model, plan, sizes)
    if draft is not None:
        draft_model, draft_plan, draft_precisions = draft
        draft_sizes = Sizes.of(draft_precisions)
        weights += weight_bytes_per_device(draft_model, draft_plan, draft_sizes)
        per_seq_cache = per_seq_cache + samples * cache_bytes_per_sequence(draft_model, draft_plan, draft_sizes,
                                                                           input + real(output))
    # a step's activations: every prompt token of the batch, or one chunk's tokens shared by the batch
    step_tokens_per_seq = input if prefill_tokens is None else np.minimum(input, prefill_tokens / np.maximum(batch, 1))
    step_tokens_per_seq = step_tokens_per_seq / plan.cp / plan.pipeline_microbatches  # per device, per micro-batch
    per_seq_act = step_tokens_per_seq * activation_bytes_per_token(model, plan, sizes) + model.vocab / plan.tp * LOGIT_BYTES
    return MemoryDemand(weights, per_seq_cache, per_seq_act, batch, batch if cache_batch is None else real(cache_batch))


def fitted(demand: MemoryDemand, capacity: float, offload: str | None = None, host_capacity: float = 0.0,
           reserve: float | None = None) -> MemoryBreakdown:
    """The memory account of `demand` on a device of `capacity` bytes (host memory, offload and
    reserve as `memory_breakdown`)."""
    reserve = runtime_reserve(capacity, reserve)
    room = capacity - demand.weights - reserve
    max_batch = np.maximum(np.floor(room / (demand.cache_per_sequence + demand.activations_per_sequence)), 0)
    kv, act = demand.cached * demand.cache_per_sequence, demand.batch * demand.activations_per_sequence
    weights = demand.weights
    require(offload in (None, *OFFLOAD_CHOICES), "offload", offload, f"must be one of {', '.join(OFFLOAD_CHOICES)}")
    overflow = np.maximum(weights + kv + act + reserve - capacity, 0.0)
    return MemoryBreakdown(weights=weights, kv_cache=kv, activations=act, reserve=reserve, capacity=capacity,
                           max_batch=max_batch,
                           offloaded_weights=np.minimum(overflow, weights) if offload == "weights" else 0.0,
                           offloaded_kv=np.minimum(overflow, kv) if offload == "kv" else 0.0,
                           host_capacity=host_capacity)


def scenario_memory(sc, workload, prefill_tokens=None, draft=None, demand: MemoryDemand | None = None
                    ) -> MemoryBreakdown:
    """The one memory account of a scenario and workload that every command uses: the
    accelerator's capacity, host memory and stated reserve, the scenario's offload, chunked
    prefill's step size and a draft model's share (a Scenario). With attention data parallelism a
    device holds its rank's share of the batch, and the largest batch is the replica's. `demand`
    is the scenario's `scenario_demand` where already worked out (deployments of one model, split
    and precisions on other hardware share it)."""
    acc = sc.system.accelerator
    check_compiled(sc, workload)
    memory = fitted(demand or scenario_demand(sc, workload, prefill_tokens, draft), acc.memory_capacity, sc.offload,
                    acc.host_capacity, acc.reserve)
    memory.max_batch = memory.max_batch * sc.plan.batch_split  # of the replica, as its batch is given
    return memory


def scenario_demand(sc, workload, prefill_tokens=None, draft=None) -> MemoryDemand:
    """The `MemoryDemand` of a scenario and workload (arguments as `scenario_memory`); without a
    stated chunk, a prefill step takes the engine's default budget (`prefill_step_tokens`)."""
    sequences, length = cache_shape(sc, workload)
    prefill_tokens = prefill_tokens if prefill_tokens is not None else (sc.profile.prefill_step_tokens or None)
    return memory_demand(sc.model, sc.plan.ranks, sc.precisions, sc.plan.rank_batch(workload.batch), workload.input,
                         workload.output, prefill_tokens=prefill_tokens, samples=workload.samples,
                         draft=None if draft is None else (draft.model, draft.plan, draft.precisions),
                         cache_batch=None if sequences is None else sc.plan.rank_batch(sequences), cache_length=length)
