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

from dataclasses import dataclass

import numpy as np

from ..arrays import first
from ..errors import require
from ..ops.base import Segment, Step
from ..ops.graph import layer_ops, step_ops
from .estimate import Scenario, _phase, decode_contexts, quadrature_mean
from .workload import Workload


@dataclass(frozen=True)
class Speculation:
    """`tokens` proposals per step, accepted each with probability `acceptance`; the draft is
    `draft` (a Scenario of the draft model) or, without one, heads of `draft_layers` target layers."""

    tokens: int
    acceptance: float
    draft: Scenario | None = None
    draft_layers: float = 1.0

    def __post_init__(self):
        require(isinstance(self.tokens, int) and self.tokens >= 1, "draft tokens", self.tokens, "must be >= 1")
        a = np.asarray(self.acceptance)
        require(bool(np.all((a >= 0.0) & (a <= 1.0))), "acceptance", self.acceptance, "must be in [0, 1]")
        require(self.draft_layers >= 0, "draft_layers", self.draft_layers, "must be >= 0")


def expected_tokens(k: int, acceptance):
    """Tokens a step yields on average: 1 + a + a^2 + ... + a^k."""
    a = np.asarray(acceptance, dtype=float)
    return np.sum(a[..., None] ** np.arange(k + 1), axis=-1)


@dataclass
class SpeculativeResult:
    tpot: np.ndarray            # seconds per output token with speculation
    plain_tpot: np.ndarray      # seconds per output token without
    step: np.ndarray            # seconds of one verify + draft step
    tokens_per_step: np.ndarray
    break_even: np.ndarray      # the acceptance rate below which speculation does not pay (NaN: never pays)

    @property
    def speedup(self):
        return self.plain_tpot / self.tpot

    def to_dict(self) -> dict:
        return {"tokens_per_step": first(self.tokens_per_step), "speedup": first(self.speedup),
                "step_ms": first(self.step) * 1e3, "plain_tpot_ms": first(self.plain_tpot) * 1e3,
                "break_even_acceptance": first(self.break_even)}


def _decode_time(sc: Scenario, batch, contexts, new_tokens: float = 1.0):
    step = Step((Segment(batch, new_tokens, contexts, decode=True),))
    return _phase(step_ops(sc.context, step), sc, sc.profile, sc.layout, 1.0).time


def _head_layers_time(sc: Scenario, batch, contexts, layers: float):
    """Seconds of `layers` of the target's layers (its most common kind) on one token per sequence."""
    kind, _ = max(sc.model.layer_kinds().items(), key=lambda item: item[1])
    step = Step((Segment(batch, 1.0, contexts, decode=True),))
    ops = layer_ops(sc.context, kind, layers, step)
    return sum(c.total for c in _phase(ops, sc, sc.profile, sc.layout, 1.0).costs)


def speculate(sc: Scenario, workload: Workload, spec: Speculation) -> SpeculativeResult:
    """TPOT with speculative decoding, averaged over the growing context like plain TPOT."""
    batch = np.asarray(workload.batch, dtype=float) * workload.samples / sc.plan.batch_split  # per attention rank
    contexts = decode_contexts(workload.input, workload.output, batch=batch)
    k = spec.tokens
    plain = quadrature_mean(_decode_time(sc, batch, contexts), contexts)
    verify = _decode_time(sc, batch, contexts, new_tokens=k + 1.0)
    if spec.draft is not None:
        draft = k * _decode_time(spec.draft, batch, contexts)
    else:
        draft = k * _head_layers_time(sc, batch, contexts, spec.draft_layers)
    step = quadrature_mean(verify + draft, contexts)
    tokens = expected_tokens(k, spec.acceptance)
    return SpeculativeResult(step / tokens, plain, step, tokens, break_even_acceptance(k, step / plain))


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
