"""The front door: a deployment, a workload and a way of serving them, to one `Estimate`.

Each serving mode builds on the plain static batch and returns its own phases (chunked prefill
its mixed steps, speculative decoding its verify and draft step, disaggregation the prefill
pool's step and the KV transfer), so metrics, bounds, breakdown and energy describe the same run.
Memory is the one account of `memory.scenario_memory`, with the chunk's step size and the draft's
weights and cache.
"""

from __future__ import annotations

from dataclasses import replace

from ..errors import require
from .batch import Estimate, cost, prepare
from .chunked import chunked_prefill
from .disaggregated import disaggregated
from .memory import MemoryBreakdown, scenario_memory
from .options import Deployment, Serving, check_together, split_options
from .scenario import Scenario
from .speculative import Speculation, speculate
from .workload import Workload


def draft_deployment(deployment: Deployment, serving: Serving) -> Deployment | None:
    """A draft model's deployment: the target's machine and precisions on `draft_tp` devices."""
    if serving.draft is None or serving.draft == "heads":
        return None
    return replace(deployment, model=serving.draft, tp=serving.draft_tp, devices=serving.draft_tp, pp=1, ep=1,
                   dp=None, cp=1, microbatches=None)


def prefill_deployment(deployment: Deployment, serving: Serving) -> Deployment | None:
    """The prefill pool's deployment under disaggregated serving."""
    if serving.prefill_devices is None:
        return None
    return replace(deployment, devices=serving.prefill_devices, tp=serving.prefill_tp, pp=1, ep=1, dp=None, cp=1,
                   microbatches=None)


def draft_scenario(deployment: Deployment, serving: Serving) -> Scenario | None:
    """The draft model's scenario; it must propose tokens of the target's vocabulary."""
    draft = draft_deployment(deployment, serving)
    if draft is None:
        return None
    sc, target = draft.resolve(), deployment.resolve().model
    require(sc.model.vocab == target.vocab, "draft", serving.draft,
            f"must share the target's vocabulary ({target.vocab:,} tokens; the draft has {sc.model.vocab:,})")
    return sc


def serving_memory(deployment: Deployment, workload: Workload, serving: Serving = Serving()) -> MemoryBreakdown:
    """Memory per device of the deployment served this way (the decode pool's when disaggregated)."""
    check_together(deployment, workload)
    return scenario_memory(deployment.resolve(), workload, prefill_tokens=serving.chunk,
                           draft=draft_scenario(deployment, serving))


def serve(deployment: Deployment, workload: Workload, serving: Serving = Serving()) -> Estimate:
    """Every metric of the workload on the deployment, served as `serving` says."""
    sc: Scenario = deployment.resolve()
    est = cost(prepare(sc, workload, memory=serving_memory(deployment, workload, serving)))
    if serving.chunk is not None:
        est = chunked_prefill(est, serving.chunk, serving.background)
    if serving.draft is not None:
        require(sc.compiled_batch is None, "compiled_batch", sc.compiled_batch,
                "is not modelled with speculative decoding (its verify steps run the batch as given)")
        serving.require_speculation()
        spec = Speculation(serving.draft_tokens, serving.acceptance, draft_scenario(deployment, serving),
                           serving.draft_layers)
        est = speculate(est, spec)
    pool = prefill_deployment(deployment, serving)
    if pool is not None:
        plain = Serving(chunk=serving.chunk, background=serving.background)
        est = disaggregated(serve(pool, workload, plain), est)
    return est


def estimate(model, hardware=None, **options) -> Estimate:
    """Estimate one scenario: `llmsizer.estimate("llama-3.1-8b", "h100", batch=8)`.

    Options are the fields of `Deployment` (system, devices, tp, pp, ep, dp, cp, weight_precision,
    kv_precision, quant, engine, profile, offload, ...), of `Workload` (batch, input, output,
    samples, cached_prefix) and of `Serving` (chunk, background, draft, draft_tokens, acceptance,
    draft_tp, draft_layers, prefill_devices, prefill_tp)."""
    deployment, workload, serving = split_options({"model": model, "hardware": hardware, **options})
    return serve(deployment, workload, serving)
