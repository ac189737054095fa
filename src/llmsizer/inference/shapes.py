"""Compiled shapes: the sizes a step really runs at on runtimes that compile graphs ahead of time.

XLA and Neuron runtimes run graphs compiled for fixed shapes. A step of any other size runs the
graph of the next shape up, with padding rows that do every product and read their cache slots:
- a deployment's `compiled_batch` (the batch its decode graphs were exported for): every decode
  step runs that many sequences, and the KV cache is allocated for that many;
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


def check_compiled(batch, compiled_batch) -> None:
    """A batch larger than the compiled one cannot run on the compiled graphs."""
    if compiled_batch is None:
        return
    require(bool(np.all(real(batch) <= compiled_batch)), "batch", batch,
            f"must not exceed compiled_batch = {compiled_batch}: the engine's decode graphs were compiled "
            f"for at most that many sequences (export the model for a larger batch)")


def _compiled(batch, compiled_batch):
    """The compiled batch in the shape and float type of `batch`."""
    batch = real(batch)
    return compiled_batch * np.ones_like(batch) if np.ndim(batch) else float(compiled_batch)


def decode_batch(sc, batch):
    """Requests of a replica that a decode step runs: the compiled batch when the deployment
    states one, else the batch padded to the engine's next batch bucket."""
    check_compiled(batch, sc.compiled_batch)
    if sc.compiled_batch is not None:
        return _compiled(batch, sc.compiled_batch)
    return padded(batch, sc.profile.batch_buckets)


def cache_batch(sc, batch):
    """Requests of a replica the KV cache is allocated for: the compiled batch, when stated."""
    check_compiled(batch, sc.compiled_batch)
    return batch if sc.compiled_batch is None else _compiled(batch, sc.compiled_batch)


def prefill_prompt(sc, sequences, prompt, cached_prefix=0.0):
    """Prompt length each of `sequences` prefills at once the step's new tokens are padded to the
    engine's next token bucket (the cached prefix is not recomputed, so not padded)."""
    buckets = sc.profile.token_buckets
    if not buckets:
        return prompt
    sequences = np.maximum(real(sequences), 1e-30)
    new = real(prompt) - real(cached_prefix)
    return real(cached_prefix) + padded(sequences * new, buckets) / sequences
