"""Speculative decoding: a draft proposes `k` tokens, the target verifies `k + 1` in one step.

With a per-token acceptance rate a (an explicit input: it depends on the draft, the task and the
sampling temperature), a step yields (1 - a^(k+1)) / (1 - a) tokens on average (k + 1 at a = 1).
A step costs the target's verification of k + 1 tokens per sequence plus k draft steps: a
separate draft model with its own plan, or self-drafting heads (multi-token prediction, Medusa)
costed as `draft_layers` of the target's layers each. Published acceptance rates: 0.6-0.8 for
EAGLE-style heads and small same-family draft models (Li et al. 2024, EAGLE; Cai et al. 2024,
Medusa), 0.85-0.9 for DeepSeek-V3's multi-token-prediction module on its second token
(DeepSeek-V3 technical report, 2024).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..arrays import first, real
from ..errors import require
from ..ops.base import Segment, Step
from ..ops.graph import layer_ops, step_ops
from .batch import Estimate, quadrature_mean
from .scenario import Scenario
from .step import StepCost, cost_ops, microbatches, pipeline_factors


@dataclass(frozen=True)
class Speculation:
    """`tokens` proposals per step, accepted each with probability `acceptance`; the draft is
    `draft` (a Scenario of the draft model) or, without one, heads of `draft_layers` target layers."""

    tokens: int
    acceptance: float
    draft: Scenario | None = None
    draft_layers: float = 1.0

    def __post_init__(self):
        require(isinstance(self.tokens, (int, np.integer)) and self.tokens >= 1, "draft tokens", self.tokens,
                "must be >= 1")
        a = np.asarray(self.acceptance)
        require(bool(np.all((a >= 0.0) & (a <= 1.0))), "acceptance", self.acceptance, "must be in [0, 1]")
        require(self.draft_layers >= 0, "draft_layers", self.draft_layers, "must be >= 0")


def expected_tokens(k: int, acceptance):
    """Tokens a step yields on average: 1 + a + a^2 + ... + a^k."""
    a = np.asarray(acceptance, dtype=float)
    return np.sum(a[..., None] ** np.arange(k + 1), axis=-1)


@dataclass(frozen=True)
class SpeculativeResult:
    step: StepCost              # one verify + draft step at each decode context
    verify_s: np.ndarray        # seconds of the target's verification in the mean step
    draft_s: np.ndarray         # seconds of the k draft proposals in the mean step
    plain_tpot: np.ndarray      # seconds per output token without speculation
    tpot: np.ndarray            # seconds per output token with it
    tokens_per_step: np.ndarray
    break_even: np.ndarray      # the acceptance rate below which speculation does not pay (NaN: never pays)

    @property
    def speedup(self):
        return self.plain_tpot / self.tpot

    def to_dict(self) -> dict:
        return {"tokens_per_step": first(self.tokens_per_step), "speedup": first(self.speedup),
                "step_ms": first(self.tpot * self.tokens_per_step) * 1e3, "verify_ms": first(self.verify_s) * 1e3,
                "draft_ms": first(self.draft_s) * 1e3, "plain_tpot_ms": first(self.plain_tpot) * 1e3,
                "break_even_acceptance": first(self.break_even)}


def _repeat(costs, times: float):
    """The same operator costs run `times` times in the step."""
    return tuple(replace(c, op=replace(c.op, count=c.op.count * times)) for c in costs)


def _draft_costs(sc: Scenario, spec: Speculation, batch, contexts):
    """Operator costs of the k proposals of one step. They run inside the target's engine step,
    so the engine's per-step work is paid once for the whole step, not once per proposal. Heads
    cost `draft_layers` of the target's most common layer plus its output head and sampling."""
    step = Step((Segment(batch, 1.0, contexts, decode=True),))
    if spec.draft is not None:
        return _repeat(cost_ops(step_ops(spec.draft.context, step), spec.draft).costs, spec.tokens)
    kind, _ = max(sc.model.layer_kinds().items(), key=lambda item: item[1])
    head = [op for op in step_ops(sc.context, step) if op.block == "head"]
    ops = layer_ops(sc.context, kind, spec.draft_layers, step) + head
    return _repeat(cost_ops(ops, sc).costs, spec.tokens)


def speculate(plain: Estimate, spec: Speculation) -> Estimate:
    """The batch's estimate with speculative decoding: each decode step verifies k + 1 tokens per
    sequence after k draft proposals, and yields the expected accepted tokens."""
    sc, workload, contexts = plain.scenario, plain.workload, plain.contexts
    require(spec.draft is None or spec.draft.model.vocab == sc.model.vocab, "draft", getattr(spec.draft, "model", None),
            f"must share the target's vocabulary ({sc.model.vocab} tokens) to propose its tokens")
    batch = sc.plan.rank_batch(workload.batch)
    batch = batch / microbatches(sc.plan, batch) * workload.samples  # sequences of one micro-batch
    k = spec.tokens
    verify = cost_ops(step_ops(sc.context, Step((Segment(batch, k + 1.0, contexts, decode=True),))), sc)
    draft = _draft_costs(sc, spec, batch, contexts)
    _, steady = pipeline_factors(sc.plan, sc.plan.rank_batch(workload.batch))
    draft_s = sum(c.total for c in draft)
    step = StepCost(verify.costs + draft, (verify.time + draft_s) * steady, verify.step_overhead_s)
    tokens = expected_tokens(k, spec.acceptance)
    step_s = quadrature_mean(step.time, contexts)
    tpot = step_s / tokens
    result = SpeculativeResult(step, quadrature_mean(verify.time * steady, contexts),
                               quadrature_mean(draft_s * steady, contexts), plain.tpot, tpot, tokens,
                               break_even_acceptance(k, step_s / plain.tpot))
    return replace(plain, decode=step, tpot=tpot, decode_tokens=tokens,
                   serving={**plain.serving, "speculative": result})
def break_even_acceptance(k: int, cost_ratio):
    """Acceptance at which k-token speculation matches plain decoding: expected tokens equal the
    step's cost in plain steps. Expected tokens grow from 1 to k + 1 with the rate, so bisection
    finds it; NaN where even full acceptance does not pay."""
    ratio = np.asarray(cost_ratio, dtype=float)
    low, high = np.zeros_like(ratio), np.ones_like(ratio)
    for _ in range(50):
        mid = (low + high) / 2
        below = expected_tokens(k, mid) < ratio
        low, high = np.where(below, mid, low), np.where(below, high, mid)
    return np.where(ratio > k + 1, np.nan, np.where(ratio <= 1, 0.0, high))
