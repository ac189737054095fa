"""Chunked prefill: prompts enter in chunks of `chunk` tokens, each step mixed with decodes.

While a batch of `batch` prompts is prefilled, `background` requests already decoding (at the
middle of their output) add one token each to every step. Splitting the prompts into chunks
bounds each step's size: the background requests' TPOT stays close to plain decoding, while the
new batch's TTFT grows with the number of steps (each paying the per-step costs again). A chunk
of a prompt attends to the part of the prompt before it; over all chunks the attention work is
that of the whole prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..arrays import first, real
from ..errors import require
from ..ops.base import Segment, Step
from .batch import Estimate
from .scenario import Scenario
from .step import StepCost, step_cost
from .workload import Workload


@dataclass(frozen=True)
class ChunkedResult:
    """The mixed steps of a chunked prefill and what the background requests see meanwhile."""

    steps: np.ndarray                # mixed steps the prefill takes
    step: StepCost                   # one mixed step
    background_tpot: np.ndarray      # the background requests' time per token during the prefill
    background_plain_tpot: np.ndarray  # their time per token with no prefill mixed in

    def to_dict(self) -> dict:
        return {"steps": first(self.steps), "step_ms": first(self.step.time) * 1e3,
                "background_tpot_ms": first(self.background_tpot) * 1e3,
                "background_plain_tpot_ms": first(self.background_plain_tpot) * 1e3}


def chunked_steps(sc: Scenario, workload: Workload, chunk: int, background: int = 0) -> ChunkedResult:
    """The prompts of the batch spread over steps of `chunk` tokens, beside `background` decodes."""
    require(chunk >= 1, "chunk", chunk, "must be a positive number of tokens")
    require(background >= 0, "background", background, "must be >= 0")
    batch = sc.plan.rank_batch(workload.batch)
    prefix = real(workload.cached_prefix)
    prompt = real(workload.input) - prefix  # tokens each prompt still has to prefill
    steps = np.ceil(batch * prompt / chunk)
    per_step = batch * prompt / steps  # tokens per step, the prompts spread evenly over the steps
    whole = per_step >= prompt
    # a step holds whole prompts, or a slice of one prompt after (on average) half of what precedes it
    sequences = np.where(whole, per_step / prompt, 1.0)
    new = np.where(whole, prompt, per_step)
    past = prefix + np.where(whole, 0.0, (prompt - per_step) / 2)
    segments = [Segment(sequences, new, past)]
    decoding = Segment(float(background), 1.0, real(workload.input) + np.asarray(workload.output) / 2, decode=True)
    if background:
        segments.append(decoding)
    step = step_cost(sc, Step(tuple(segments)))
    nothing = np.full(np.shape(step.time), np.nan)  # no background requests: nothing to report for them
    plain = step_cost(sc, Step((decoding,))).time if background else nothing
    return ChunkedResult(steps, step, step.time if background else nothing, plain)


def chunked_prefill(plain: Estimate, chunk: int, background: int = 0) -> Estimate:
    """The batch's estimate with its prompts prefilled in chunks: the prefill phase is the mixed
    step repeated until every prompt is in, decode is unchanged."""
    sc, workload = plain.scenario, plain.workload
    result = chunked_steps(sc, workload, chunk, background)
    ttft = result.steps * result.step.time + sc.profile.on_host(sc.profile.prefill_overhead_s)
    return replace(plain, ttft=ttft, prefill=result.step, prefill_steps=result.steps,
                   serving={**plain.serving, "chunked_prefill": result})
