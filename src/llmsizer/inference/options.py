"""What a user asks for, as three frozen objects built once at the edge and handed down whole.

- `Deployment`: the model, the machine, the split over devices, precisions and engine (names as
  typed; `resolve()` turns them into a `Scenario`, cached).
- `Workload` (in workload.py): the requests of a static batch.
- `Serving`: how the engine serves them (chunked prefill, speculative decoding, offload,
  disaggregated prefill and decode pools).

A flag set (cli), a CSV row (`from_row`: predict, calibration, the simulator), a sweep point and
a web form all build these, and every field's help text lives here once: the command line reads
its flags from the fields' metadata, so a new option is declared in this file and implemented in
the module of its serving mode.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache
from typing import TYPE_CHECKING

from ..errors import require
from .fields import (LARGEST_WHOLE, MAX_DEVICES, MAX_DRAFT_TOKENS, MAX_RATIO, WORKLOAD_OPTIONS, check_fields,
                     option)

if TYPE_CHECKING:
    from .workload import Workload


@dataclass(frozen=True)
class Deployment:
    """Model, hardware, split and precisions, as names (or objects): everything but the workload."""

    model: object = option(None, "Zoo name, Hugging Face id, or path to a config.json.", short="-m", required=True)
    hardware: object = option(None, "Accelerator name or alias (see `llmsizer hardware`), or a YAML file.", short="-H")
    system: object = option(None, "Built-in system (see `llmsizer hardware --systems`) or a YAML file, instead of --hardware.",
                            short="-s")
    devices: int | None = option(None, "Devices in use [default: tp x pp x cp x dp, or the whole --system]; extra ones "
                                       "run data-parallel replicas.", short="-n", kind=int, minimum=1,
                                 maximum=MAX_DEVICES)
    tp: int = option(1, "Tensor-parallel degree.", kind=int, minimum=1, maximum=MAX_DEVICES)
    pp: int = option(1, "Pipeline-parallel degree.", kind=int, minimum=1, maximum=MAX_DEVICES)
    ep: int = option(1, "Expert-parallel degree: experts placed on exactly ep devices; dividing tp, inside the TP "
                        "group; a multiple of tp, spanning ep / tp replicas (all-to-all).", kind=int, minimum=1,
                     maximum=MAX_DEVICES)
    dp: int | None = option(None, "Data-parallel replicas [default: devices / (tp x pp x cp)].", kind=int, minimum=1,
                            maximum=MAX_DEVICES)
    cp: int = option(1, "Context-parallel degree (ring attention over a prompt's tokens).", kind=int, minimum=1,
                     maximum=MAX_DEVICES)
    microbatches: int | None = option(None, "Pipeline micro-batches [default: pp].", kind=int, minimum=1,
                                      maximum=LARGEST_WHOLE)
    order: tuple | None = option(None, "Network order of the groups, innermost first [default: tp,cp,pp,dp].",
                                 kind="order")
    redundant_experts: int = option(0, "Redundant copies of hot experts spread over the ep devices (expert load "
                                       "balancing); ep need not divide the expert count.", kind=int, minimum=0,
                                   maximum=LARGEST_WHOLE)
    attention_dp: bool = option(False, "Attention data parallelism: the tp devices of a replica run attention unsplit, "
                                       "each on 1/tp of the batch, with experts spread over ep devices.", kind=bool)
    two_batch_overlap: bool = option(False, "Run each step as two half batches, one's expert all-to-all hidden behind "
                                            "the other's work (weights read twice).", kind=bool)
    moe_imbalance: float | None = option(None, "Busiest expert device's tokens over the average [default: 1, uniform "
                                         "routing].", kind=float, minimum=1.0,
                                         maximum=MAX_RATIO)
    weight_precision: str = option("bf16", "Weight precision or quantisation preset (fp8/int8 run W8A8; int4/fp4 "
                                           "weight-only; a format the chip cannot compute runs weight-only).",
                                   choices="weight_precisions")
    kv_precision: str | None = option(None, "KV-cache precision [default: the weights' for fp8/16-bit, else bf16].",
                                      choices="precisions")
    activation_precision: str | None = option(None, "Activation precision [default: as the weights imply].",
                                              choices="precisions")
    quant: str | None = option(None, "Named quantisation scheme setting weights, activations, KV and scales "
                                     "(overrides --weight-precision).", choices="quant")
    engine: str | None = option(None, "Serving engine profile: trtllm, vllm, sglang, lmdeploy, hf [default: default].",
                                short="-e")
    profile: object = option(None, "Efficiency profile YAML file (overrides --engine).")
    offload: str | None = option(None, "Keep what does not fit in host memory and stream it over the host link.",
                                 choices=("weights", "kv"))
    compiled_batch: int | None = option(None, "Batch the engine's decode graphs were compiled for (AWS Neuron "
                                              "export batch_size, TGI-neuron MAX_BATCH_SIZE): a smaller batch "
                                              "decodes at its cost, the KV cache holds that many sequences; a larger "
                                              "batch is an error.", kind=int, minimum=1, maximum=LARGEST_WHOLE)
    compiled_sequence: int | None = option(None, "Sequence length the engine's graphs were compiled for (optimum-neuron "
                                                 "export sequence_length without a prefill chunk): prompts are "
                                                 "prefilled padded to it, one per step, decode steps read the cache "
                                                 "over all of it, "
                                                 "the KV cache holds it; a longer sequence is an error.", kind=int,
                                           minimum=1, maximum=LARGEST_WHOLE)
    eager: bool = option(False, "Run every step eagerly, decode too (vLLM --enforce-eager, SGLang "
                                "--disable-cuda-graph): each kernel pays its host launch.", kind=bool)

    def __post_init__(self):
        check_fields(self)
        if isinstance(self.order, str):
            object.__setattr__(self, "order", tuple(part.strip() for part in self.order.split(",")))
        elif self.order is not None:
            object.__setattr__(self, "order", tuple(self.order))

    def resolve(self):
        """The Scenario these names describe (resolved once per distinct deployment)."""
        try:
            return _resolve(self)
        except TypeError as exc:  # an unhashable object among the names: resolve it uncached
            if "unhashable" not in str(exc):
                raise
            return _resolve.__wrapped__(self)

    def with_plan(self, **changes) -> "Deployment":
        return replace(self, **changes)


@lru_cache(maxsize=4096)
def _resolve(deployment: Deployment):
    from .scenario import scenario

    values = {f.name: getattr(deployment, f.name) for f in fields(Deployment)}
    resolved = scenario(values.pop("model"), values.pop("hardware"), **values)
    require(resolved.plan.devices <= MAX_DEVICES, "devices", resolved.plan.devices,
            f"must be at most {MAX_DEVICES:,} (a system that large is a typing error)")
    return resolved


@dataclass(frozen=True)
class Serving:
    """How the engine serves the batch, beyond a plain prefill then decode."""

    chunk: int | None = option(None, "Chunked prefill: prompt tokens per step, mixed with --background decodes "
                               "[default: prefill timed as one pass; memory holds one step of the engine's "
                               "prefill_step_tokens].",
                               kind=int, minimum=1, maximum=LARGEST_WHOLE, memory=True)
    background: int = option(0, "Requests already decoding while a chunked prefill runs (needs --chunk).",
                             kind=int, minimum=0, maximum=LARGEST_WHOLE)
    draft: object = option(None, "Speculative decoding: a draft model, or 'heads' for self-drafting heads (MTP, Medusa).",
                           memory=True)
    draft_tokens: int | None = option(None, "Tokens the draft proposes per step.", kind=int, minimum=1,
                                        maximum=MAX_DRAFT_TOKENS)
    acceptance: object = option(None, "Per-token acceptance rate of the draft (required with --draft; no default).",
                                kind=float, minimum=0.0, maximum=1.0)
    draft_tp: int = option(1, "Tensor-parallel degree of a draft model.", kind=int, minimum=1, maximum=MAX_DEVICES,
                           memory=True)
    draft_layers: float = option(1.0, "Cost of one self-drafting proposal, in target layers.", kind=float,
                                 minimum=0.0, maximum=MAX_RATIO)
    prefill_devices: int | None = option(None, "Disaggregated serving: devices of a separate prefill pool (the other "
                                               "options describe the decode pool).", kind=int, minimum=1,
                                         maximum=MAX_DEVICES)
    prefill_tp: int = option(1, "Tensor-parallel degree of the prefill pool.", kind=int, minimum=1,
                             maximum=MAX_DEVICES)

    def __post_init__(self):
        check_fields(self)
        require(self.background == 0 or self.chunk is not None, "background", self.background,
                "only applies with chunked prefill (give --chunk)")
        speculating = self.draft is not None
        require(speculating or self.acceptance is None, "acceptance", self.acceptance,
                "only applies with speculative decoding (give --draft)")
        require(speculating or self.draft_tokens is None, "draft_tokens", self.draft_tokens,
                "only applies with speculative decoding (give --draft)")

    def require_speculation(self) -> None:
        """Timing speculative decoding needs what memory does not: the proposals and their acceptance."""
        require(self.acceptance is not None, "acceptance", self.acceptance,
                "speculative decoding needs an acceptance rate: it depends on the draft and the task")
        require(self.draft_tokens is not None, "draft_tokens", self.draft_tokens, "give the number of proposed tokens")

    @property
    def plain(self) -> bool:
        return self.chunk is None and self.draft is None and self.prefill_devices is None


def check_together(deployment: Deployment, workload: Workload) -> None:
    """What no single object can check: the split against the requests it serves."""
    import numpy as np

    require(bool(np.all(deployment.cp <= np.asarray(workload.input))), "cp", deployment.cp,
            f"must not exceed the prompt tokens it splits (input = {workload.input})")
    require(deployment.microbatches is None or bool(np.all(deployment.microbatches <= np.asarray(workload.batch))),
            "microbatches", deployment.microbatches, f"must not exceed the batch it splits (batch = {workload.batch})")


def split_options(options: dict) -> tuple[Deployment, Workload, Serving]:
    """Deployment, workload and serving from one flat dict of option names (API keyword arguments,
    a sweep point); unknown names fail with the allowed ones."""
    from .workload import Workload

    deployment_names = {f.name for f in fields(Deployment)}
    serving_names = {f.name for f in fields(Serving)}
    workload_names = set(WORKLOAD_OPTIONS)
    unknown = sorted(set(options) - deployment_names - serving_names - workload_names)
    require(not unknown, "options", ", ".join(unknown),
            f"unknown; allowed: {', '.join(sorted(deployment_names | serving_names | workload_names))}")
    pick = lambda names: {k: v for k, v in options.items() if k in names}  # noqa: E731
    return Deployment(**pick(deployment_names)), Workload(**pick(workload_names)), Serving(**pick(serving_names))
