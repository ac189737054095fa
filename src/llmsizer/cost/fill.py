"""Fill: the share of a matrix unit's work that is useful, as kernels lay a product out.

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
Prefill attention reaches its efficiency at head size 128, less at smaller heads (FlashAttention-2/3
forward rates by head size); decode attention pads a KV head's query heads to 16 rows.
Fills of an operator are kept on it: a graph costed on several devices or engines works each out once.
"""

from __future__ import annotations

import math

import numpy as np

from ..arrays import real
from ..ops.base import Op

#: the output columns of one tile
TILE_COLUMNS = 128.0
#: fewest of the reduction (K) dimension one split of a split-K product works through
SPLIT_K_DEPTH = 512.0
#: query rows a decode attention kernel pads one KV head's query heads to (the mma m16 shape)
DECODE_ATTENTION_ROWS = 16.0
#: head size at which `attention_efficiency` holds, and the head size at which a fused attention
#: kernel reaches half its large-head rate (FlashAttention-2/3 forward rates by head size)
ATTENTION_HEAD_DIM, ATTENTION_HALF_HEAD_DIM = 128.0, 32.0


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
    """`fill` less the share of `units` compute units left idle by `work` (tiles x splits); `units`
    may be an array (devices along a leading axis), None where not stated."""
    if units is None or work is None:
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


def operator_tiles(op: Op, smallest: float):
    """`product_tiles` of a product operator, kept on it by tile height: a graph costed on several
    devices or engines works them out once."""
    key = ("tiles", smallest)
    if key not in op.fills:
        op.fills[key] = product_tiles(op.rows, op.columns, smallest, op.depth)
    return op.fills[key]


def operator_fill(op: Op, smallest: float, units):
    """`matmul_fill` of a product operator, kept on it by tile height and compute units."""
    key = ("fill", smallest, units)
    if key not in op.fills:
        op.fills[key] = spread_fill(*operator_tiles(op, smallest), units)
    return op.fills[key]


def operator_attention_fill(op: Op, matrix_tile):
    """`attention_fill` of an attention operator, kept on it by the systolic array's tile."""
    key = ("attention", matrix_tile)
    if key not in op.fills:
        op.fills[key] = attention_fill(op, matrix_tile)
    return op.fills[key]


def attention_fill(op: Op, matrix_tile=None):
    """Prefill attention's rate relative to head size 128, decode's padding of query rows, and a
    systolic array's share filled by the head size (both products of attention have it as one
    dimension)."""
    head = getattr(op, "head_dim", 0.0) or ATTENTION_HEAD_DIM
    size = (head / (head + ATTENTION_HALF_HEAD_DIM)) / (ATTENTION_HEAD_DIM / (ATTENTION_HEAD_DIM + ATTENTION_HALF_HEAD_DIM))
    return size * tile_fill(op.tokens, DECODE_ATTENTION_ROWS) * array_fill((head,), matrix_tile)


def _positive(values) -> bool:
    """Whether every element of a scalar or array is above zero."""
    return values > 0 if isinstance(values, (int, float)) else bool(np.all(np.asarray(values) > 0))
