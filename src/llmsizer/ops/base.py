"""The records the operator graph is made of: a step's token segments and its operators.

Every numeric field may be a numpy array (one value per configuration): the graph of a model
and plan is built once and evaluated for many batches and lengths at the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from ..models.spec import Model
from ..parallel import Plan
from ..precision import Precisions, bytes_per_element, matmul_precision, needs_dequantisation
from ..arrays import real


class _once:
    """A property worked out once per object and kept on it: `functools.cached_property` without
    its lock (Python before 3.12), which takes longer than the sizes it keeps."""

    def __init__(self, method):
        self.method, self.__doc__ = method, method.__doc__

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        value = instance.__dict__[self.name] = self.method(instance)  # read from there from now on
        return value


@dataclass(frozen=True)
class Segment:
    """`sequences` sequences that each add `new_tokens` to a cache already holding `past_tokens`.
    `decode` marks one-token steps, which some operators run in a different form (absorbed MLA).
    The first `shared_prefix` cached tokens are shared by groups of `share` sequences (the samples
    or beams of one request), so their KV cache is read once per group. Of the `sequences`,
    `padding` are rows a compiled graph runs beyond the real ones, copies of a real row: they do
    every product but route to the experts of the row they copy."""

    sequences: np.ndarray | float
    new_tokens: np.ndarray | float
    past_tokens: np.ndarray | float = 0.0
    decode: bool = False
    shared_prefix: np.ndarray | float = 0.0
    share: float = 1.0
    padding: np.ndarray | float = 0.0

    @property
    def tokens(self):
        return real(self.sequences) * self.new_tokens

    def cached_reads(self, span=None):
        """Cached tokens the segment's attention reads in all: each sequence's visible cache,
        less the shared prefix re-read by the other members of its group."""
        seqs = real(self.sequences)
        total = real(self.past_tokens) + self.new_tokens
        visible = total if span is None else np.minimum(total, span)
        shared_visible = np.clip(real(self.shared_prefix) - (total - visible), 0.0, None)
        return seqs * visible - (seqs - seqs / self.share) * shared_visible


@dataclass(frozen=True)
class Step:
    """One forward pass of the engine over one or more segments (prefill, decode, or both mixed)."""

    segments: tuple[Segment, ...]

    @property
    def tokens(self):
        return sum(s.tokens for s in self.segments)

    @property
    def sequences(self):
        """Sequences that produce a token this step: the output head runs on their last token only."""
        return sum(real(s.sequences) for s in self.segments)


def prefill_step(batch, prompt, cached_prefix=0.0) -> Step:
    return Step((Segment(batch, real(prompt) - cached_prefix, cached_prefix),))


def decode_step(batch, context, samples: int = 1, shared_prefix=0.0, padding=0.0) -> Step:
    """One new token per sequence over `context` cached tokens; with `samples` > 1, each of the
    `batch` requests decodes that many sequences sharing its first `shared_prefix` tokens. Of the
    `batch`, `padding` are copies of real rows that a compiled graph runs."""
    return Step((Segment(real(batch) * samples, 1.0, context, decode=True,
                         shared_prefix=shared_prefix, share=samples, padding=real(padding) * samples),))


@dataclass(frozen=True)
class Op:
    """One operator instance per device; `count` is how many times it runs in the step (layers).

    `weight_bytes`, `act_bytes` and `kv_bytes` are bytes moved to and from device memory
    (weights read; activations read and written; KV cache or recurrent state read and written).
    `kv_group` is the number of query heads per KV head, for engines whose decode kernel reads the
    cache once per query head. `dequant_elements` are weights converted to the activation type
    before the product (weight-only quantisation). `tokens` is the M dimension of a matrix product (what fills the
    matrix unit). Collectives carry `collective`, `message_bytes` and the plan `group` they run
    over (tp, cp, pp, ep or dp).
    """

    name: str
    block: str
    kind: str
    count: float
    flops: object = 0.0
    weight_bytes: object = 0.0
    act_bytes: object = 0.0
    kv_bytes: object = 0.0
    tokens: object = 1.0
    precision: str = "bf16"
    kv_group: float = 1.0
    dequant_elements: float = 0.0
    #: output width of a product (N, all heads), and the head size of an attention kernel
    columns: float = 0.0
    head_dim: float = 0.0
    #: (K, N) of the weight one of the op's independent products multiplies by on this device (one
    #: head's, one expert's shard): what a systolic matrix unit's fixed tile is filled by; and
    #: whether a tensor-parallel split cuts that weight (not where it deals out whole heads)
    weight_shape: tuple = ()
    weight_split: bool = True
    collective: str | None = None
    message_bytes: object = 0.0
    group: str = ""
    extra: dict = field(default_factory=dict)
    #: the operator's fills of matrix units by tile height and compute units, kept by the cost model
    fills: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # The sizes below do not depend on the hardware or the engine: a graph costed on several
    # devices or under several profiles works them out once.

    @_once
    def rows(self):
        """The M dimension of a product, kept above zero (an empty batch still has a shape)."""
        return real(np.maximum(real(self.tokens), 1e-9))

    @_once
    def depth(self):
        """The reduction (K) dimension of a product: FLOPs / (2 M N)."""
        return real(self.flops) / np.maximum(2.0 * self.rows * self.columns, 1e-9)


    @_once
    def bytes(self):
        """Bytes moved to and from device memory, each once (an engine's kernel may re-read the cache)."""
        return real(self.weight_bytes) + self.act_bytes + real(self.kv_bytes)


@dataclass(frozen=True)
class Sizes:
    """Bytes per element of each tensor class, and the rates products run at."""

    weight: float
    activation: float
    kv: float
    embedding: float
    matmul_precision: str
    attention_precision: str
    activation_precision: str
    dequantise: bool
    expert_weight: float
    expert_matmul_precision: str
    expert_dequantise: bool

    @classmethod
    @lru_cache(maxsize=64)
    def of(cls, precisions: Precisions) -> "Sizes":
        """The sizes of a set of precisions (kept: every scenario and memory account asks for them)."""
        wb = precisions.weight_bytes()
        ab = bytes_per_element(precisions.activations)
        return cls(
            weight=wb,
            activation=ab,
            kv=precisions.kv_bytes,
            embedding=max(wb, 2.0) if precisions.weights != "fp32" else 4.0,
            matmul_precision=matmul_precision(precisions.weights, precisions.activations),
            attention_precision=matmul_precision(precisions.kv_cache, precisions.activations),
            activation_precision=precisions.activations,
            dequantise=needs_dequantisation(precisions.weights, precisions.activations),
            expert_weight=precisions.weight_bytes(precisions.expert_weights),
            expert_matmul_precision=matmul_precision(precisions.expert_weights, precisions.activations),
            expert_dequantise=needs_dequantisation(precisions.expert_weights, precisions.activations),
        )


@dataclass(frozen=True)
class Context:
    """What every operator builder needs: the model, the split, the element sizes, how unevenly
    a router loads the experts (the busiest device's tokens over the average), and the engine's
    kind of expert kernel (profile.moe_kernel)."""

    model: Model
    plan: Plan
    sizes: Sizes
    moe_imbalance: float = 1.0
    moe_kernel: str = "grouped"

    def linear_tokens(self, step: "Step"):
        """Tokens one device runs through the projections: a context-parallel group splits each
        prompt's tokens; decode tokens are not split."""
        return sum(s.tokens / (1 if s.decode else self.plan.cp) for s in step.segments)

    def routed_tokens(self, step: "Step"):
        """Of the linear tokens, those a router sends to experts of their own: padding rows copy a
        real row and reach the experts it reaches."""
        return sum((real(s.sequences) - s.padding) * s.new_tokens / (1 if s.decode else self.plan.cp)
                   for s in step.segments)


def matmul(ctx: Context, name: str, block: str, count: float, tokens, k: float, n: float,
           weight_bytes_per_element: float | None = None, bias: bool = False, heads: int = 1) -> Op:
    """A dense product of `tokens` x k activations with a k x n weight on one device; `heads`
    independent such products with their own weights (per-head projections of absorbed MLA)."""
    wb = ctx.sizes.weight if weight_bytes_per_element is None else weight_bytes_per_element
    tokens = real(tokens)
    return Op(
        name=name, block=block, kind="matmul", count=count,
        flops=2.0 * tokens * k * n * heads,
        weight_bytes=(k * n + (n if bias else 0)) * wb * heads,
        act_bytes=tokens * (k + n) * heads * ctx.sizes.activation,
        tokens=tokens,
        columns=n * heads,
        weight_shape=(k, n),
        weight_split=heads == 1,
        precision=ctx.sizes.matmul_precision,
        dequant_elements=k * n * heads if ctx.sizes.dequantise and weight_bytes_per_element is None else 0.0,
    )


def elementwise(ctx: Context, name: str, block: str, count: float, elements_read, elements_written,
                flops_per_element: float = 1.0, weight_bytes: float = 0.0) -> Op:
    """Memory-bound element-wise work (norms, activations, residual adds, rotary embedding);
    `weight_bytes` are the small parameters it reads (norm scales, conv taps)."""
    ab = ctx.sizes.activation
    return Op(
        name=name, block=block, kind="elementwise", count=count,
        flops=flops_per_element * real(elements_written),
        weight_bytes=weight_bytes,
        act_bytes=(real(elements_read) + elements_written) * ab,
        precision="fp32",
    )


def collective(name: str, block: str, count: float, kind: str, message_bytes, group: str,
               options: dict | None = None) -> Op:
    """A collective over a plan group; `options` are the collective's own (the routing of a dispatch)."""
    return Op(name=name, block="communication", kind="collective", count=count, collective=kind,
              message_bytes=real(message_bytes), group=group, extra={"of": block, "options": options or {}})


def all_reduce(ctx: Context, name: str, block: str, count: float, elements) -> list[Op]:
    """The tensor-parallel all-reduce of a layer output (none without tensor parallelism)."""
    if ctx.plan.tp == 1:
        return []
    return [collective(name, block, count, "all_reduce", real(elements) * ctx.sizes.activation, "tp")]
