"""Chunked prefill: prompts enter in chunks of `chunk` tokens, each step mixed with decodes.

While a batch of `batch` prompts is prefilled, `background` requests already decoding (at the
middle of their output) add one token each to every step. Splitting the prompts into chunks
bounds each step's size: the background requests' TPOT stays close to plain decoding, while the
new batch's TTFT grows with the number of steps (each paying the per-step costs again). A chunk
of a prompt attends to the part of the prompt before it; over all chunks the attention work is
that of the whole prompt.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import require
from ..ops.base import Segment, Step
from ..ops.graph import step_ops
from .estimate import Scenario, _phase
from .workload import Workload
from ..arrays import first, real


@dataclass
class ChunkedResult:
    ttft: np.ndarray                 # seconds until the whole batch has its first token
    steps: np.ndarray                # mixed steps the prefill takes
    step: np.ndarray                 # seconds of one mixed step
    background_tpot: np.ndarray      # the background requests' time per token during the prefill
    background_plain_tpot: np.ndarray  # their time per token with no prefill mixed in

    def to_dict(self) -> dict:
        return {"steps": first(self.steps), "step_ms": first(self.step) * 1e3,
                "background_tpot_ms": first(self.background_tpot) * 1e3,
                "background_plain_tpot_ms": first(self.background_plain_tpot) * 1e3}


def _step_time(sc: Scenario, segments) -> np.ndarray:
    return _phase(step_ops(sc.context, Step(tuple(segments))), sc, sc.profile, sc.layout, 1.0).time


def chunked_prefill(sc: Scenario, workload: Workload, chunk: int, background: int = 0) -> ChunkedResult:
    require(isinstance(chunk, int) and chunk >= 1, "chunk", chunk, "must be a positive number of tokens")
    require(isinstance(background, int) and background >= 0, "background", background, "must be >= 0")
    batch = real(workload.batch) / sc.plan.batch_split  # per attention rank
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
    decoding = Segment(float(background), 1.0, real(workload.input) + np.asarray(workload.output) / 2,
                       decode=True)
    if background:
        segments.append(decoding)
    step = _step_time(sc, segments)
    nothing = np.full(np.shape(step), np.nan)  # no background requests: nothing to report for them
    plain = _step_time(sc, [decoding]) if background else nothing
    ttft = steps * step + sc.profile.prefill_overhead_s
    return ChunkedResult(ttft, steps, step, step if background else nothing, plain)
