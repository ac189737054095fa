"""The front door of the simulator: a deployment, a load and an engine's limits, to a run's result.

`simulate("llama-3.1-8b", "h100", rate=12, requests=2000)` builds the scenario once, tabulates its
step cost, sizes the paged cache from the memory account, starts one engine per data-parallel
replica (and a prefill pool with `prefill_devices`), replays the requests and returns every
request, every step and the summary.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import lru_cache

import numpy as np

from ..cost.profile import engine_from_text
from ..errors import require
from ..inference.estimate import prefill_deployment
from ..inference.disaggregated import pool_link
from ..inference.memory import cache_bytes_per_sequence
from ..inference.options import Deployment, Serving, split_options
from ..ops.base import Sizes
from ..parallel import Plan
from .cluster import Cluster, Link
from .engine import Engine
from .kvcache import cache_size, compiled_cache_size
from .metrics import per_request, summarise
from .requests import Requests
from .schedulers import Limits, default_scheduler
from .stepmodel import CompiledStepModel, StepModel, build_compiled_step_model, build_step_model
from .trace import read_trace
from .workload import Load, make_requests

LOAD_FIELDS = {f.name for f in fields(Load)}
LIMIT_FIELDS = {f.name for f in fields(Limits)} - {"engine"}


@dataclass
class SimulationResult:
    requests: Requests
    timelines: list            # one dict of step columns per engine
    cache_blocks: list         # KV blocks of each engine
    summary: dict
    limits: Limits
    step_model: StepModel | CompiledStepModel
    devices: int               # every device serving (both pools when disaggregated)

    def requests_frame(self):
        import pandas as pd

        frame = pd.DataFrame(self.requests.columns())
        for name, values in per_request(self.requests).items():
            frame[f"{name}_s"] = values
        return frame

    def steps_frame(self):
        import pandas as pd

        frames = [pd.DataFrame(t).assign(replica=i, kv_share=lambda f, b=blocks: f["kv_blocks_used"] / b)
                  for i, (t, blocks) in enumerate(zip(self.timelines, self.cache_blocks))]
        return pd.concat(frames, ignore_index=True).sort_values("start", kind="stable").reset_index(drop=True)

    def to_dict(self) -> dict:
        limits = {f.name: getattr(self.limits, f.name) for f in fields(Limits)}
        return {"summary": self.summary, "scheduler": limits}

    def plot(self, path=None):
        from .plot import timeline_plot

        return timeline_plot(self, path)


@lru_cache(maxsize=64)
def _engine_setup(deployment: Deployment, limits: Limits, max_context: int):
    """Step model and cache size of one deployment under `limits`, cached across runs."""
    sc = deployment.resolve()
    shapes = (sc.compiled_batch, sc.compiled_sequence)
    compiled = shapes != (None, None)
    if compiled:
        require(None not in shapes, "compiled_batch/compiled_sequence", shapes,
                "the simulator runs compiled graphs when both are stated")
        require(limits.engine == "compiled", "scheduler", limits.engine,
                "must be compiled on a deployment with compiled graphs")
        limits = replace(limits, max_num_seqs=min(limits.max_num_seqs or sc.compiled_batch, sc.compiled_batch))
    limits = limits.resolve(sc.system.accelerator.memory_capacity)
    tokens = max(limits.max_num_batched_tokens, limits.max_num_seqs)
    if compiled:
        return sc, limits, build_compiled_step_model(sc), compiled_cache_size(sc, limits.block_size)
    model = build_step_model(sc, tokens, limits.max_num_seqs, max_context)
    return sc, limits, model, cache_size(sc, limits.block_size, tokens, limits.max_num_seqs)


def _pool(requests, deployment, limits, role, max_context, record, first_index=0):
    sc, resolved, model, cache = _engine_setup(deployment, limits, max_context)
    host = sc.system.accelerator.host_link_bandwidth
    require(resolved.preemption != "swap" or host > 0, "preemption", "swap",
            f"{sc.system.accelerator.name} lists no host link to swap caches over")
    engines = [Engine(requests, model, cache, resolved, role=role, replica=first_index + i, record=record,
                      host_bandwidth=host) for i in range(sc.plan.dp)]
    return sc, resolved, model, engines


def kv_link(prefill_sc, decode_sc) -> Link:
    """The link a prompt's cache crosses between the pools, as llmsizer's disaggregated estimate prices it."""
    (out_bw, out_lat), (in_bw, in_lat) = pool_link(prefill_sc), pool_link(decode_sc)
    per_token = float(cache_bytes_per_sequence(decode_sc.model, Plan(), Sizes.of(decode_sc.precisions), 4096.0)) / 4096
    return Link(min(out_bw, in_bw) * decode_sc.profile.link_efficiency, max(out_lat, in_lat), per_token)


def run(deployment: Deployment, requests: Requests, limits: Limits, serving: Serving = Serving(),
        router: str = "round_robin", slo: dict | None = None, progress=None, record: bool = True,
        check: bool = False) -> SimulationResult:
    """Replay `requests` on the deployment's replicas (after a prefill pool when `serving` has one)."""
    require(serving.chunk is None and serving.draft is None, "serving", serving,
            "the simulator chunks prompts by the engine's token budget (max_num_batched_tokens) and does not "
            "simulate speculative decoding")
    max_context = int(max(np.add(requests.prompt, requests.output)))
    context_bucket = 1 << max(max_context - 1, 1).bit_length()  # tables reused across similar runs
    decode_sc, resolved, model, decode_pool = _pool(requests, deployment, limits, "both", context_bucket, record)
    require(decode_sc.compiled_sequence is None or max_context <= decode_sc.compiled_sequence, "input + output",
            max_context, f"must not exceed compiled_sequence = {decode_sc.compiled_sequence}: the engine's graphs "
            "hold at most that many tokens of a sequence")
    pools, link, devices = [decode_pool], None, decode_sc.plan.devices
    delay = decode_sc.profile.on_host(decode_sc.profile.prefill_overhead_s)
    front = prefill_deployment(deployment, serving)
    if front is not None:
        prefill_sc, _, _, prefill_pool = _pool(requests, front, limits, "prefill", context_bucket, record,
                                               first_index=len(decode_pool))
        for e in decode_pool:
            e.role = "decode"
        pools, link = [prefill_pool, decode_pool], kv_link(prefill_sc, decode_sc)
        devices += prefill_sc.plan.devices
        delay = prefill_sc.profile.on_host(prefill_sc.profile.prefill_overhead_s)
    cluster = Cluster(requests, pools, router, link, progress, admission_delay=delay)
    cluster.run()
    if check:
        for e in cluster.engines:
            e.check()
    engines = cluster.engines
    return SimulationResult(requests, [e.timeline for e in engines], [e.kv.size.blocks for e in engines],
                            summarise(requests, slo), resolved, model, devices)


def simulate(model=None, hardware=None, *, trace=None, scheduler: str | None = None, router: str = "round_robin",
             slo: dict | None = None, progress=None, record: bool = True, check: bool = False,
             **options) -> SimulationResult:
    """Simulate serving under load. Options: the fields of `Deployment` and of `Serving`'s prefill
    pool (prefill_devices, prefill_tp), of `Load` (rate | concurrency | offline, requests, arrival,
    burstiness, input, output, lengths, spread, prefix_tokens, prefix_groups, seed) and of `Limits`
    (max_num_batched_tokens, max_num_seqs, block_size, chunked_prefill, prefix_caching, preemption).
    `scheduler` is vllm, sglang, trtllm, compiled or static [default: compiled where the deployment
    states compiled shapes, else the --engine's, else vllm]; `trace` a
    CSV/JSONL file of requests replacing the drawn load."""
    load_options = {k: options.pop(k) for k in list(options) if k in LOAD_FIELDS}
    limit_options = {k: options.pop(k) for k in list(options) if k in LIMIT_FIELDS}
    deployment, _, serving = split_options({"model": model, "hardware": hardware, **options})
    if scheduler is None:
        scheduler = default_scheduler(engine_from_text(deployment.engine) if deployment.engine else None,
                                      bool(deployment.compiled_batch or deployment.compiled_sequence))
    limits = Limits(scheduler, **limit_options)
    if trace is not None:
        requests = read_trace(trace)
    else:
        if not any(load_options.get(k) for k in ("rate", "concurrency", "offline")):
            load_options["offline"] = True
        requests = make_requests(Load(**load_options))
    return run(deployment, requests, limits, serving, router, slo, progress, record, check)


def find_saturation(model=None, hardware=None, *, tolerance: float = 0.02, **options):
    """The largest sustained request rate of a deployment for a load's requests (see saturation.py);
    `options` as for `simulate`, without a rate, concurrency or offline."""
    from .saturation import saturation_rate

    options = {k: v for k, v in options.items() if k not in ("rate", "concurrency", "offline")}
    return saturation_rate(lambda rate: simulate(model, hardware, rate=rate, **options),
                           lambda: simulate(model, hardware, offline=True, **options), tolerance)
