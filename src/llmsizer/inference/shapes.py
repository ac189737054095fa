"""Compiled shapes: the sizes a step really runs at on runtimes that compile graphs ahead of time.

XLA and Neuron runtimes run graphs compiled for fixed shapes. A step of any other size runs the
graph of the next shape up, with padding rows that do every product and read their cache slots
(copies of a real row, so a MoE layer sends them to that row's experts):
- a deployment's `compiled_batch` (the batch its decode graphs were exported for): every decode
  step runs that many sequences, and the KV cache is allocated for that many;
- a deployment's `compiled_sequence` (the sequence length its graphs were exported for): every
  prompt is prefilled padded to it, one prompt per context-encoding graph (optimum-neuron serving
  with continuous batching compiles that graph for one sequence: `ctx_batch_size` is 1 when
  `continuous_batching` is set, optimum/neuron/models/inference/backend/config.py), every decode
  step reads the cache over all of it, and the KV cache holds that many tokens per sequence;
- an engine profile's `batch_buckets`: a decode batch is padded up to the next bucket;
- an engine profile's `token_buckets`: the prompt tokens of a prefill step are padded up to the
  next bucket.
A size above the largest bucket is left as it is: the runtime's last bucket is its configured
maximum step, which a scenario does not state. The engine's host work (scheduling, detokenising)
is still paid for the real sequences only.
"""

from __future__ import annotations

import numpy as np

from ..arrays import real
from ..errors import require


def padded(values, buckets):
    """Each value rounded up to the smallest bucket holding it (values above every bucket kept)."""
    values = real(values)
    if not buckets:
        return values
    edges = np.asarray(buckets, dtype=float)
    index = np.searchsorted(edges, values, side="left")
    return np.where(index < len(edges), edges[np.minimum(index, len(edges) - 1)], values)


def check_compiled(sc, workload) -> None:
    """A batch or a sequence larger than the compiled one cannot run on the compiled graphs."""
    if sc.compiled_batch is not None:
        require(bool(np.all(real(workload.batch) <= sc.compiled_batch)), "batch", workload.batch,
                f"must not exceed compiled_batch = {sc.compiled_batch}: the engine's decode graphs were compiled "
                f"for at most that many sequences (export the model for a larger batch)")
    if sc.compiled_sequence is not None:
        length = real(workload.input) + real(workload.output)
        require(bool(np.all(length <= sc.compiled_sequence)), "input + output", length,
                f"must not exceed compiled_sequence = {sc.compiled_sequence}: the engine's graphs hold at most "
                f"that many tokens of a sequence (export the model for a longer sequence)")


def _compiled(like, compiled):
    """A compiled size in the shape and float type of `like`."""
    like = real(like)
    return compiled * np.ones_like(like) if np.ndim(like) else float(compiled)


def decode_batch(sc, batch):
    """Requests of a replica that a decode step runs: the compiled batch when the deployment
    states one, else the batch padded to the engine's next batch bucket."""
    if sc.compiled_batch is not None:
        return _compiled(batch, sc.compiled_batch)
    return padded(batch, sc.profile.batch_buckets)


def decode_context(sc, contexts):
    """Cached tokens a decode step reads: the whole compiled sequence less the new token when the
    deployment states one (the graph attends over every slot, masking the unused ones)."""
    return contexts if sc.compiled_sequence is None else _compiled(contexts, sc.compiled_sequence - 1)


def cache_shape(sc, workload):
    """(sequences per replica, tokens per sequence) the KV cache is allocated for: the compiled
    sizes where stated (None: the batch, and each sequence's final length)."""
    batch = None if sc.compiled_batch is None else _compiled(workload.batch, sc.compiled_batch)
    return batch, None if sc.compiled_sequence is None else float(sc.compiled_sequence)


def prefill_graphs(sc, sequences):
    """(sequences per prefill step, steps in a row) that prefill `sequences`: one prompt per
    step when the deployment states a compiled sequence, else all of them in one step."""
    if sc.compiled_sequence is not None:
        return _compiled(sequences, 1), real(sequences)
    return sequences, 1.0


def prefill_prompt(sc, sequences, prompt, cached_prefix=0.0):
    """Prompt length each of `sequences` prefills: the compiled sequence when the deployment
    states one (one context graph, every prompt padded to it), else the prompt with the step's new
    tokens padded to the engine's next token bucket (a cached prefix is not recomputed, so not
    padded)."""
    if sc.compiled_sequence is not None:
        return _compiled(prompt, sc.compiled_sequence)
    buckets = sc.profile.token_buckets
    if not buckets:
        return prompt
    sequences = np.maximum(real(sequences), 1e-30)
    new = real(prompt) - real(cached_prefix)
    return real(cached_prefix) + padded(sequences * new, buckets) / sequences
