"""The time of each operator: roofline of compute and memory under the profile's efficiencies.

compute = FLOPs / (peak at the operands' precision x the efficiency of that precision class x
fill). Fill is the share of the matrix unit's work that is useful, as kernels lay a product out:
- tiles: a product of M tokens pays for at least `tile_tokens` rows (small products swap operands
  so the tokens fill the 8-wide side of the tensor-core instruction), by 128 output columns;
- occupancy: tiles of `tile_tokens` rows, split along K (split-K / stream-K, Osama et al. 2023,
  https://arxiv.org/abs/2301.03598), spread over the chip's compute units; a product with fewer
  of them than units leaves the rest idle (a tensor-parallel shard of a decode step on a chip with
  many units). Kernel libraries pick tile shapes that avoid wave quantization in larger products
  (NVIDIA "Matrix Multiplication Background"), so tiles are counted continuously and a product's
  time never falls, nor its throughput drops, as its tokens grow.
  Without a unit count (or output width), only the first tile's padding is charged.
- array fill: a systolic matrix unit holds a fixed K x N weight tile (the accelerator's
  `matrix_tile`: 128 on Trainium, 256 on TPU v6e); a weight shard of a fraction of a tile in
  either dimension (an expert's width split 64 ways, a head of 128 on a 256-deep array) leaves the
  rest of the array idle. GPUs, whose kernels pick tile shapes to fit, state no tile. Where the
  runtime runs a chip's cores as tensor-parallel ranks of their own (`tensor_parallel_cores`:
  logical NeuronCores), each core holds its share of the chip's shard, split again along the
  tensor-parallel dimension (the smaller of K and N: the width of a column-parallel product, the
  depth of a row-parallel one; per-head products are dealt out whole).
Prefill attention reaches `attention_efficiency` at head size 128, less at smaller heads
(FlashAttention-2/3 forward rates by head size), at the 16-bit rate over an 8-bit cache unless the
engine has 8-bit attention kernels; decode attention pads a KV head's query heads to 16 rows. Weight-only products dequantise each weight once per 64-token block, at most 4 times: from
256 tokens engines dequantise once and run a dense product (vLLM's AWQ path).
memory = bytes / (bandwidth x achievable fraction).
time = max(compute, memory) + (1 - overlap) x min(compute, memory) + a fixed cost per kernel.
A step launched eagerly (no captured graph) takes at least its kernels' host launch time.
Every term is numpy arithmetic, so one call evaluates many configurations.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from ..errors import require
from ..hardware.spec import System
from ..ops.base import Op
from .collectives import collective
from .profile import Profile
from ..arrays import nonzero, real

BOUNDS = ("compute", "memory", "communication", "overhead", "offload")

#: vector operations to turn one quantised weight into the activation type: unpack/convert and
#: multiply by its group scale
DEQUANT_FLOPS_PER_WEIGHT = 2.0
#: tokens per block that a fused weight-only kernel dequantises its weights for, and the most
#: blocks before engines switch to one dequantisation and a dense product
DEQUANT_BLOCK_TOKENS, DEQUANT_MAX_BLOCKS = 64.0, 4.0
#: the output columns of one tile
TILE_COLUMNS = 128.0
#: fewest of the reduction (K) dimension one split of a split-K product works through
SPLIT_K_DEPTH = 512.0
#: query rows a decode attention kernel pads one KV head's query heads to (the mma m16 shape)
DECODE_ATTENTION_ROWS = 16.0
#: head size at which `attention_efficiency` holds, and the head size at which a fused attention
#: kernel reaches half its large-head rate (FlashAttention-2/3 forward rates by head size)
ATTENTION_HEAD_DIM, ATTENTION_HALF_HEAD_DIM = 128.0, 32.0
#: the efficiency class of products at each precision other than 16-bit (weight-only aside)
_PRECISION_CLASSES = {"fp8": "8bit", "int8": "8bit", "fp4": "fp4", "int4": "fp4"}
#: the part of a cost an operator does not have (no collective in a product, no compute in a collective)
ZERO = np.zeros(())


@dataclass(slots=True)
class OpCost:
    """Seconds of one operator instance, its parts, and which resource bounds it. A record made
    once per operator and step and never changed (not frozen: a frozen record takes several times
    as long to make, and a step makes dozens)."""

    op: Op
    time: np.ndarray
    compute: np.ndarray
    memory: np.ndarray
    communication: np.ndarray
    overhead: float
    offload: np.ndarray | float = 0.0
    #: a collective's algorithm per configuration (resolved to names only when a report asks)
    algorithm: object = None

    #: seconds of all `count` instances in the step
    total: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        self.total = self.time * self.op.count

    @property
    def bound_index(self):
        """Index into BOUNDS of the largest part of the time (ties go to the earlier bound)."""
        return self.bound_index_of(lambda part: part)[0]

    def bound_index_of(self, pick):
        """`bound_index` on `pick(part)` of each part (a slice costs only that slice's work), and
        the bounds it can take: those whose part is not absent."""
        parts = [pick(np.asarray(p)) for p in (self.compute, self.memory, self.communication, self.overhead, self.offload)]
        best, index, possible = parts[0], np.zeros(np.shape(parts[0]), dtype=np.int8), [0]
        for i, part in enumerate(parts[1:], start=1):
            if not np.any(part):
                continue  # an absent part (no collective, no offload) never wins
            possible.append(i)
            larger = part > best
            best = np.where(larger, part, best)
            index = np.where(larger, np.int8(i), index)
        return index, possible

    @property
    def bound(self):
        return np.asarray(BOUNDS)[self.bound_index]


def precision_class(op: Op) -> str:
    """The efficiency class of a product: 16-bit, 8-bit, weight-only (dequantised) or fp4."""
    return class_of(op.precision, nonzero(op.dequant_elements))


def class_of(precision: str, dequantised: bool) -> str:
    """The efficiency class of products at `precision`, weight-only when they dequantise first."""
    return "weight_only" if dequantised else _PRECISION_CLASSES.get(precision, "16bit")


def tile_fill(tokens, tile: float):
    """Useful share of the first row tile: a product over fewer tokens still pays for `tile` rows."""
    tokens = real(np.maximum(real(tokens), 1e-9))
    return real(tokens / np.maximum(tokens, tile))


def matmul_fill(tokens, columns, smallest: float, units, depth=SPLIT_K_DEPTH):
    """Useful share of the work a tiled product puts on `units` compute units (module docstring);
    the first tile's padding alone where the units or the output width are unknown. The tiles are
    counted continuously, so a product's time never falls and its throughput never drops as its
    tokens grow."""
    return spread_fill(*product_tiles(tokens, columns, smallest, depth), units)


def product_tiles(tokens, columns, smallest: float, depth=SPLIT_K_DEPTH):
    """What a product's fill takes from its shape alone: the useful share of its first row tile,
    and its tiles of `smallest` rows by TILE_COLUMNS columns times its split-K splits (None where
    the output width is unknown)."""
    fill = tile_fill(tokens, smallest)
    if not _positive(columns):
        return fill, None
    rows = np.maximum(real(np.maximum(real(tokens), 1e-9)), smallest)
    tiles = rows / smallest * np.ceil(columns / TILE_COLUMNS)
    splits = np.maximum(depth / SPLIT_K_DEPTH, 1.0)
    return fill, tiles * splits


def spread_fill(fill, work, units):
    """`fill` less the share of `units` compute units left idle by `work` (tiles x splits)."""
    if not units or work is None:
        return fill
    return real(fill * np.minimum(work / units, 1.0))


def array_fill(dims, tile) -> float:
    """Useful share of a systolic array of `tile` x `tile` for weight dimensions `dims`: each is
    worked in whole tiles (1 where the accelerator states no tile or the shape is unknown)."""
    if not tile:
        return 1.0
    fill = 1.0
    for d in dims:
        fill *= d / (math.ceil(d / tile) * tile) if d > 0 else 1.0
    return fill


def weight_fill(op: Op, acc) -> float:
    """`array_fill` of the weight shard one tensor-parallel core of `acc` holds (module docstring)."""
    tile = getattr(acc, "matrix_tile", None)
    if not tile:
        return 1.0
    dims, cores = op.weight_shape, getattr(acc, "tensor_parallel_cores", None) or 1
    if cores > 1 and op.weight_split and len(dims) == 2:
        k, n = dims
        dims = (k / cores, n) if k <= n else (k, n / cores)
    return array_fill(dims, tile)


def _operator_tiles(op: Op, smallest: float):
    """`product_tiles` of a product operator, kept on it by tile height: a graph costed on several
    devices or engines works its tiles out once."""
    if smallest not in op.tiles:
        op.tiles[smallest] = product_tiles(op.rows, op.columns, smallest, op.depth)
    return op.tiles[smallest]


def attention_fill(op: Op, matrix_tile=None):
    """Prefill attention's rate relative to head size 128, decode's padding of query rows, and a
    systolic array's share filled by the head size (both products of attention have it as one
    dimension)."""
    head = getattr(op, "head_dim", 0.0) or ATTENTION_HEAD_DIM
    size = (head / (head + ATTENTION_HALF_HEAD_DIM)) / (ATTENTION_HEAD_DIM / (ATTENTION_HEAD_DIM + ATTENTION_HALF_HEAD_DIM))
    return size * tile_fill(op.tokens, DECODE_ATTENTION_ROWS) * array_fill((head,), matrix_tile)


def op_costs(ops, system: System, profile: Profile, layout: dict) -> tuple[OpCost, ...]:
    """Seconds of each operator instance. Collectives run over their group's spans in `layout`
    (the plan laid out on the system's network)."""
    return tuple(op_cost(op, system, profile, layout) for op in ops)


def op_cost(op: Op, system: System, profile: Profile, layout: dict) -> OpCost:
    """Seconds of one operator instance (see `op_costs`)."""
    acc = system.accelerator
    if op.kind == "collective":
        result = collective(op.collective, op.message_bytes, layout[op.group], profile.link_efficiency,
                            profile.collective_overhead_s, **op.extra.get("options", {}))
        return OpCost(op, result.time, ZERO, ZERO, result.time, 0.0, algorithm=result.choice)
    if op.kind == "offload":
        require(acc.host_link_bandwidth > 0, "offload", op.name, f"{acc.name} lists no host link to stream from")
        stream = (real(op.weight_bytes) + op.kv_bytes) / acc.host_link_bandwidth
        return OpCost(op, stream, ZERO, ZERO, ZERO, 0.0, stream)
    if op.kind in ("matmul", "expert_matmul"):
        efficiency = profile.matmul_efficiency_for(precision_class(op))
        efficiency = efficiency * (profile.moe_efficiency if op.kind == "expert_matmul" else 1.0)
        fill = spread_fill(*_operator_tiles(op, profile.tile_tokens), getattr(acc, "compute_units", None))
        rate = acc.peak(op.precision) * efficiency * fill * weight_fill(op, acc)
    elif op.kind == "attention":
        precision = op.precision if profile.fp8_attention or op.precision not in ("fp8", "int8") else "bf16"
        rate = acc.peak(precision) * np.minimum(profile.attention_efficiency
                                                * attention_fill(op, getattr(acc, "matrix_tile", None)), 1.0)
    else:
        rate = acc.elementwise_flops
    compute = real(op.flops) / rate
    if nonzero(op.dequant_elements):  # an array where experts touched depend on the tokens
        blocks = np.clip(real(op.tokens) / DEQUANT_BLOCK_TOKENS, 1.0, DEQUANT_MAX_BLOCKS)
        compute = compute + op.dequant_elements * DEQUANT_FLOPS_PER_WEIGHT * blocks / acc.elementwise_flops
    moved = op.bytes
    if op.kv_group > 1:  # a decode kernel reading the cache once per query head re-reads a share of it
        moved = moved + real(op.kv_bytes) * (profile.reread_share(op.kv_group) * (op.kv_group - 1.0))
    memory = moved / (acc.memory_bandwidth * profile.memory_efficiency)
    longer, shorter = np.maximum(compute, memory), np.minimum(compute, memory)
    time = longer + (1.0 - profile.overlap) * shorter + profile.kernel_overhead_s
    return OpCost(op, time, compute, memory, ZERO, profile.kernel_overhead_s)


def _positive(values) -> bool:
    """Whether every element of a scalar or array is above zero."""
    return values > 0 if isinstance(values, (int, float)) else bool(np.all(np.asarray(values) > 0))


def host_work(costs: list[OpCost], profile: Profile, sequences=0.0, graphs=True, workers: int = 0):
    """Engine seconds per step beyond its kernels: the per-step, per-sequence and per-worker work
    (`workers`: devices of the replica beyond the first) and, for a step not replayed from a
    captured graph (any step with a prompt, or decode in an eager engine), each kernel's host
    launch beyond its device gap (`graphs` may be an array, per decode context)."""
    eager = np.logical_not(graphs)
    launches = launch_time(costs, profile) * eager if np.any(eager) else 0.0
    return (profile.step_overhead_s + profile.sequence_overhead_s * sequences + profile.worker_overhead_s * workers
            + launches)


def launch_time(costs: list[OpCost], profile: Profile) -> float:
    """Host seconds launching a step's kernels one by one, beyond their device gaps."""
    return sum(c.op.count for c in costs) * max(profile.host_launch_s - profile.kernel_overhead_s, 0.0)


def step_time(costs: list[OpCost], profile: Profile, overhead=None):
    """Seconds of one engine step: its operators in sequence plus the engine's work beyond them
    (`overhead`, the per-step work by default). Totals of one shape are summed first (most do not
    depend on the decode context), so the full-size additions happen once per shape rather than
    once per operator."""
    by_shape: dict[tuple, list] = {}
    for c in costs:
        by_shape.setdefault(np.shape(c.total), []).append(c.total)
    partial = sorted((functools.reduce(np.add, group) for group in by_shape.values()), key=np.size)
    total = functools.reduce(np.add, partial)
    overlapped = [c.total for c in costs if c.op.extra.get("overlapped")]
    if overlapped:  # two-batch overlap: one half's expert traffic runs while the other half works
        hidden = functools.reduce(np.add, overlapped)
        total = total - np.minimum(hidden, total - hidden)
    return total + (profile.step_overhead_s if overhead is None else overhead)
