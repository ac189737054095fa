"""What each engine runs in a step: its limits, as it ships them, and its scheduling policy.

- vLLM V1: decodes first, then the prompts in progress, then new requests, all in one step under
  `max_num_batched_tokens`, at most `max_num_seqs` running; prompts are chunked to fit the budget;
  KV blocks of 16 tokens; when blocks run out the latest admitted request is preempted and
  recomputed later; prefix caching on. Defaults of `vllm serve` on a GPU with >= 70 GiB (not A100):
  8192 tokens and 1024 sequences, else 2048 and 256 (vllm/engine/arg_utils.py,
  EngineArgs.get_batch_defaults, https://github.com/vllm-project/vllm/blob/main/vllm/engine/arg_utils.py).
- SGLang: prefill first: a step of new prompts (up to `chunked_prefill_size` tokens, the last one
  chunked) whenever one can start, otherwise a decode step of every running request; token-level
  pages (page_size 1); no cap on running requests but the KV pool (4096 here); chunked_prefill_size 2048 below 35 GB, 8192 up to 160 GB, 16384 above
  (python/sglang/srt/server_args.py, https://github.com/sgl-project/sglang); radix prefix cache on.
- TensorRT-LLM in-flight batching: generation requests and whole new prompts in one step under
  `max_num_tokens`, at most `max_batch_size` requests; chunked context off and the
  GUARANTEED_NO_EVICT capacity policy (a request starts only when blocks for its whole length are
  free, so nothing is ever preempted); max_batch_size 2048, max_num_tokens 8192, 32 tokens per
  block (https://nvidia.github.io/TensorRT-LLM/performance/performance-tuning-guide/tuning-max-batch-size-and-max-num-tokens.html).
- compiled: a runtime of graphs compiled for a fixed batch and sequence length (AWS Neuron under
  vLLM or TGI, with optimum-neuron's models): a step of one waiting prompt, whole and alone,
  whenever a request slot is free (its context-encoding graph takes one sequence: `ctx_batch_size`
  is 1 under continuous batching, optimum/neuron/models/inference/backend/config.py), otherwise a
  decode step of every running request; at most `max_num_seqs` running, the deployment's
  `compiled_batch` where it states one (else 256, llmsizer's bound); each request holds the cache
  slots of its whole length from its start, so none is preempted.
- static: a batch of up to `max_num_seqs` waiting requests (whole prompts, at most
  `max_num_batched_tokens` in all) is prefilled at once and decoded until its last request ends
  before the next batch starts (llmsizer's static-batch estimate as a run); 256 requests and 65,536
  tokens are llmsizer's own bounds, not an engine's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..errors import require

ENGINES = ("vllm", "sglang", "trtllm", "compiled", "static")
GIB = 1024**3
#: llmsizer's own bounds for engines that run whole prompts in batches of their own
STATIC_LIMITS = dict(max_num_batched_tokens=65536, max_num_seqs=256, block_size=16, chunked_prefill=False,
                     prefix_caching=False)


def default_scheduler(engine: str | None, compiled: bool) -> str:
    """The scheduler a deployment runs when none is named: `compiled` on compiled graphs, else
    its engine's (an engine profile name such as `sglang`), else vLLM's."""
    if compiled:
        return "compiled"
    return engine if engine in ENGINES else "vllm"


@dataclass(frozen=True)
class Limits:
    """An engine's scheduling limits; None takes the engine's shipped default (see `resolve`)."""

    engine: str = "vllm"
    max_num_batched_tokens: int | None = None
    max_num_seqs: int | None = None
    block_size: int | None = None
    chunked_prefill: bool | None = None
    prefix_caching: bool | None = None
    #: what happens to a preempted decode's cache: "recompute" (dropped, prefilled again later) or
    #: "swap" (copied to host memory over the host link and back; vLLM V0's other mode)
    preemption: str = "recompute"

    def __post_init__(self):
        require(self.engine in ENGINES, "scheduler", self.engine, f"must be one of {', '.join(ENGINES)}")
        require(self.preemption in ("recompute", "swap"), "preemption", self.preemption, "must be recompute or swap")
        for name in ("max_num_batched_tokens", "max_num_seqs", "block_size"):
            value = getattr(self, name)
            require(value is None or value >= 1, name, value, "must be >= 1")

    def resolve(self, device_memory: float) -> "Limits":
        """The limits with every default filled as the engine ships it for a device of
        `device_memory` bytes."""
        big = device_memory >= 70 * GIB
        defaults = {
            "vllm": dict(max_num_batched_tokens=8192 if big else 2048, max_num_seqs=1024 if big else 256,
                         block_size=16, chunked_prefill=True, prefix_caching=True),
            "sglang": dict(max_num_batched_tokens=2048 if device_memory < 35 * GIB else
                           (8192 if device_memory < 160 * GIB else 16384),
                           max_num_seqs=4096, block_size=1, chunked_prefill=True, prefix_caching=True),
            "trtllm": dict(max_num_batched_tokens=8192, max_num_seqs=2048, block_size=32, chunked_prefill=False,
                           prefix_caching=False),
            "static": STATIC_LIMITS,
            "compiled": STATIC_LIMITS,  # the compiled batch, where stated, caps the sequences (simulate.py)
        }[self.engine]
        filled = replace(self, **{k: v if getattr(self, k) is None else getattr(self, k) for k, v in defaults.items()})
        require(filled.max_num_batched_tokens >= filled.max_num_seqs or self.engine in ("sglang", "static"),
                "max_num_batched_tokens", filled.max_num_batched_tokens,
                f"must be >= max_num_seqs ({filled.max_num_seqs}): every running request decodes each step")
        return filled

    @property
    def reserves_whole_requests(self) -> bool:
        """Blocks for a request's whole length are taken when it starts (no preemption)."""
        return self.engine in ("trtllm", "compiled", "static")


def plan_continuous(engine):
    """vLLM V1 and TensorRT-LLM: every running decode, the prompts in progress, then new requests,
    in one step under the token budget."""
    limits = engine.limits
    budget = limits.max_num_batched_tokens
    decode = engine.reserve_decode_blocks()
    budget -= engine.decoding
    chunks = engine.continue_prompts(budget)
    budget -= sum(n for _, n in chunks)
    chunks += engine.admit(budget)
    return decode, chunks


def plan_prefill_first(engine):
    """SGLang: a step of prompts whenever one can run; else a step of every running decode."""
    budget = engine.limits.max_num_batched_tokens
    chunks = engine.continue_prompts(budget)
    chunks += engine.admit(budget - sum(n for _, n in chunks))
    if chunks:
        return False, chunks
    return engine.reserve_decode_blocks(), []


def plan_one_prompt(engine):
    """Compiled graphs: a step of one waiting prompt whenever a slot is free; else a decode step."""
    chunks = engine.admit(None, most=1)
    if chunks:
        return False, chunks
    return engine.reserve_decode_blocks(), []


def plan_static(engine):
    """Static batching: decode the batch until it is done, then prefill the next one whole."""
    if engine.decoding or engine.prefilling:
        return engine.reserve_decode_blocks(), []
    return False, engine.admit(engine.limits.max_num_batched_tokens)


POLICIES = {"vllm": plan_continuous, "trtllm": plan_continuous, "sglang": plan_prefill_first,
            "compiled": plan_one_prompt, "static": plan_static}
