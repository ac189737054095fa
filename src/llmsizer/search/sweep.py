"""Sweeps: the product of any axes, evaluated as arrays in chunks.

Structural axes (model, hardware or system, plan degrees, precisions, engine) change the operator
graph, so each combination is prepared once. Numeric axes (batch, prompt and output lengths, and
hardware figures scaled or set: peak FLOPS, memory bandwidth and capacity, link bandwidth and
latency) become flat numpy arrays of one length, and each chunk of them is one vectorised
evaluation of the same cost formulas `estimate` uses, in single precision (half the memory
traffic; results agree with `estimate` to about 1e-7). Chunks run on a local thread pool (numpy
releases the GIL) or, for sweeps too large for one machine, on a Dask cluster with the same
spec and the same results.

A spec (YAML or dict); every value may be a scalar or a list:
    model: llama-3.1-70b              hardware: h100  (or system: dgx-h100)   devices: 8
    plan: {tp: [1, 2, 4, 8], pp: 1}   weight_precision: [bf16, fp8]   kv_precision: fp8
    engine: default                   batch: [1, 8, 64]   input: [128, 2048]   output: 256
    scale: {peak_flops: [0.5, 1, 2], memory_bandwidth: [...], memory_capacity: [...],
            link_bandwidth: [...], link_latency: [...]}           (multipliers of the datasheet)
    set: {peak_tflops: [...], memory_tb_s: [...], memory_gib: [...], link_gb_s: [...],
          link_latency_us: [...]}                                  (absolute values)
    samples: [1, 4]   cached_prefix: [0, 512]   offload: weights      (serving options)
    prefill_chunk: 2048   background: 32   draft: heads   draft_tokens: 2   acceptance: [0.6, 0.8]
    chunk: 65536                      decode_points: 8
"""

from __future__ import annotations

import itertools
from collections import deque
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from ..datafile import check_fields, load_document
from ..errors import LlmsizerError, require
from ..hardware.spec import NetworkDim, System
from ..cost.roofline import BOUNDS
from ..inference.batch import DECODE_POINTS, cost, prepare
from ..inference.estimate import draft_deployment
from ..inference.memory import scenario_memory
from ..inference.fields import WORKLOAD_OPTIONS, checked
from ..inference.options import Deployment, Serving
from ..inference.workload import Workload
from ..units import GB, GIB, MS, TB, TERA, US

#: hardware figures a sweep can scale (multiplier) or set (absolute, in the unit in the name)
SCALE_KEYS = ("peak_flops", "memory_bandwidth", "memory_capacity", "link_bandwidth", "link_latency")
SET_KEYS = {"peak_tflops": TERA, "memory_tb_s": TB, "memory_gib": GIB, "link_gb_s": GB, "link_latency_us": US}
WORKLOAD_KEYS = ("batch", "input", "output")
PLAN_KEYS = ("tp", "pp", "ep", "dp", "cp")
#: serving options: structural ones change the step's graph, numeric ones are arrays like batch
SERVING_KEYS = ("samples", "offload", "prefill_chunk", "background", "draft", "draft_tokens", "draft_layers")
SERVING_NUMERIC = {"cached_prefix": 0, "acceptance": None}
#: load axes: a spec with a rate or concurrency runs the request simulator (serving/capacity.py)
LOAD_KEYS = ("rate", "concurrency", "requests", "lengths", "spread", "seed", "scheduler")
SPEC_KEYS = {"model", "hardware", "system", "devices", "plan", "weight_precision", "kv_precision", "quant", "engine",
             *WORKLOAD_KEYS, *SERVING_KEYS, *SERVING_NUMERIC, "scale", "set", "chunk", "decode_points", *LOAD_KEYS}
DEFAULT_CHUNK = 65536
#: configurations a sweep may have unless forced (each row holds about 400 bytes of results)
MAX_SWEEP_POINTS = 2_000_000
#: structural combinations (models x targets x plans x ...), each resolved on its own
MAX_COMBINATIONS = 10_000
#: bounds of the spec's evaluation settings
CHUNK_FIELD = {"kind": int, "min": 1, "max": 10_000_000, "choices": None}
DECODE_POINTS_FIELD = {"kind": int, "min": 1, "max": 64, "choices": None}


def _list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


@dataclass
class SweepSpec:
    structural: list[dict]
    numeric: dict[str, np.ndarray]
    chunk: int = DEFAULT_CHUNK
    decode_points: int = DECODE_POINTS
    skipped: list[tuple[dict, str]] = field(default_factory=list)

    @property
    def numeric_size(self) -> int:
        return int(np.prod([len(v) for v in self.numeric.values()])) if self.numeric else 1

    @property
    def size(self) -> int:
        return len(self.structural) * self.numeric_size


def read_spec(spec) -> dict:
    data = load_document(spec) if isinstance(spec, (str, Path)) else spec
    check_fields(data, SPEC_KEYS, "sweep spec", required=("model",))
    require(("hardware" in data) != ("system" in data), "sweep spec", sorted(data), "give exactly one of hardware or system")
    return data


def _numbers(name: str, value) -> np.ndarray:
    """An axis of finite numbers (a value or a list), named in the error when it is not."""
    values = _list(value)
    require(all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values) and
            bool(np.all(np.isfinite(np.asarray(values, dtype=float)))), f"sweep spec {name}", value,
            "must be a finite number or a list of them")
    return np.asarray(values, dtype=float)


def parse_spec(spec, force: bool = False) -> SweepSpec:
    """The spec's axes, checked; more than MAX_SWEEP_POINTS configurations only with `force`."""
    data = read_spec(spec)
    plan = check_fields(data.get("plan") or {}, PLAN_KEYS, "sweep spec plan")
    target_key = "hardware" if "hardware" in data else "system"
    axes = {
        "model": _list(data["model"]), target_key: _list(data[target_key]),
        "devices": _list(data.get("devices")), "weight_precision": _list(data.get("weight_precision", "bf16")),
        "kv_precision": _list(data.get("kv_precision")), "quant": _list(data.get("quant")),
        "engine": _list(data.get("engine")), **{k: _list(plan.get(k, 1)) for k in PLAN_KEYS},
        **{k: _list(data.get(k)) for k in SERVING_KEYS},
    }
    combinations = math.prod(len(values) for values in axes.values())
    require(combinations <= MAX_COMBINATIONS, "sweep spec", f"{combinations:,} structural combinations",
            f"must be at most {MAX_COMBINATIONS:,}")
    structural = [dict(zip(axes, combo)) for combo in itertools.product(*axes.values())]
    numeric = {k: _numbers(k, data.get(k, default)) for k, default in zip(WORKLOAD_KEYS, (1, 1024, 256))}
    numeric.update({k: _numbers(k, data[k]) for k in SERVING_NUMERIC if k in data})
    require(("draft" in data) == ("acceptance" in data) == ("draft_tokens" in data), "sweep spec",
            sorted(k for k in ("draft", "draft_tokens", "acceptance") if k in data),
            "speculative decoding needs draft, draft_tokens and acceptance together (acceptance has no default)")
    for group, allowed in (("scale", SCALE_KEYS), ("set", tuple(SET_KEYS))):
        values = check_fields(data.get(group) or {}, allowed, f"sweep spec {group}")
        numeric.update({f"{group}_{k}": _numbers(f"{group}.{k}", v) for k, v in values.items()})
    for name, values in numeric.items():
        low = 0 if name in SERVING_NUMERIC else 1e-300
        require(bool(np.all(values >= low)), f"sweep spec {name}", values.tolist(), "values must be positive")
    Workload(*(numeric[k] for k in WORKLOAD_KEYS))  # whole numbers in range, named when not
    parsed = SweepSpec(structural, numeric, checked("chunk", data.get("chunk", DEFAULT_CHUNK), CHUNK_FIELD),
                       checked("decode_points", data.get("decode_points", DECODE_POINTS), DECODE_POINTS_FIELD))
    require(force or parsed.size <= MAX_SWEEP_POINTS, "sweep spec", f"{parsed.size:,} configurations",
            f"more than {MAX_SWEEP_POINTS:,}: narrow the axes, or force it (--force) and write the rows to a file")
    return parsed


def swept_system(system: System, values: dict[str, np.ndarray]) -> System:
    """The system with its figures scaled or set to arrays of swept values."""
    acc = system.accelerator
    peak_scale = values.get("scale_peak_flops", 1.0)
    if "set_peak_tflops" in values:
        peak_scale = peak_scale * values["set_peak_tflops"] * TERA / acc.peak("bf16")
    bandwidth = values["set_memory_tb_s"] * TB if "set_memory_tb_s" in values else acc.memory_bandwidth
    capacity = values["set_memory_gib"] * GIB if "set_memory_gib" in values else acc.memory_capacity
    acc = replace(acc, peak_flops={k: v * peak_scale for k, v in acc.peak_flops.items()},
                  vector_flops=acc.vector_flops * peak_scale,
                  memory_bandwidth=bandwidth * values.get("scale_memory_bandwidth", 1.0),
                  memory_capacity=capacity * values.get("scale_memory_capacity", 1.0))
    network = []
    for i, dim in enumerate(system.network):
        link = values["set_link_gb_s"] * GB if "set_link_gb_s" in values and i == 0 else dim.bandwidth
        latency = values["set_link_latency_us"] * US if "set_link_latency_us" in values else dim.latency
        network.append(NetworkDim(dim.name, dim.size, link * values.get("scale_link_bandwidth", 1.0),
                                  latency * values.get("scale_link_latency", 1.0), dim.topology))
    return System(system.name, acc, tuple(network), system.aliases, system.source, system.notes)


@dataclass
class Combination:
    """One structural combination: its scenario, its serving options, and a draft scenario."""

    scenario: object
    serving: dict
    draft: object = None


def _scenario(combo: dict) -> Combination:
    skip = ("model", "hardware", "system", "dp", *SERVING_KEYS)
    options = {k: v for k, v in combo.items() if v is not None and k not in skip}
    if combo.get("dp", 1) != 1:
        options["dp"] = combo["dp"]
    serving = {k: combo.get(k) for k in SERVING_KEYS}
    options_checked = Serving(chunk=serving["prefill_chunk"], background=serving["background"] or 0,
                              draft=serving["draft"], draft_tokens=serving["draft_tokens"],
                              acceptance=1.0 if serving["draft"] else None,  # a numeric axis, checked per point
                              draft_layers=1.0 if serving["draft_layers"] is None else serving["draft_layers"])
    if serving["samples"] is not None:
        checked("samples", serving["samples"], WORKLOAD_OPTIONS["samples"].metadata)
    deployment = Deployment(model=combo["model"], hardware=combo.get("hardware"), system=combo.get("system"),
                            offload=serving["offload"], **options)
    draft = draft_deployment(deployment, options_checked)
    return Combination(deployment.resolve(), serving, draft.resolve() if draft is not None else None)


def _evaluate(prepared: Combination, values: dict[str, np.ndarray], decode_points: int):
    """Metrics of one chunk: a dict of flat arrays."""
    from ..inference.chunked import chunked_prefill
    from ..inference.speculative import Speculation, speculate

    sc, serving = prepared.scenario, prepared.serving
    n = len(next(iter(values.values())))
    hardware = {k: v for k, v in values.items() if k.startswith(("scale_", "set_"))}
    swept = replace(sc, system=swept_system(sc.system, hardware)) if hardware else sc
    draft = replace(prepared.draft, system=swept.system) if prepared.draft is not None else None
    workload = Workload(*(np.broadcast_to(values[k], n) for k in WORKLOAD_KEYS), samples=serving["samples"] or 1,
                        cached_prefix=np.broadcast_to(values.get("cached_prefix", 0.0), n))
    memory = scenario_memory(swept, workload, prefill_tokens=serving["prefill_chunk"], draft=draft)
    est = cost(prepare(swept, workload, decode_points=decode_points, memory=memory))
    if serving["prefill_chunk"]:
        est = chunked_prefill(est, serving["prefill_chunk"], serving["background"] or 0)
    if serving["draft"]:
        spec = Speculation(serving["draft_tokens"], np.broadcast_to(values["acceptance"], n), draft,
                           serving["draft_layers"] if serving["draft_layers"] is not None else 1.0)
        est = speculate(est, spec)
    devices = sc.plan.devices
    return {
        "ttft_ms": est.ttft / MS, "tpot_ms": est.tpot / MS, "e2e_latency_ms": est.e2e / MS,
        "throughput_tokens_per_s": est.throughput, "throughput_per_device": est.throughput / devices,
        "memory_per_device_gb": est.memory.total / GB, "fits": est.memory.fits, "max_batch": est.memory.max_batch,
        "prefill_bound": _bounds(est.prefill.bound_code_at(None)), "decode_bound": _bounds(est.decode_bound_code),
    }


def _bounds(codes):
    import pandas as pd

    return pd.Categorical.from_codes(np.asarray(codes).ravel(), categories=BOUNDS)


def _numeric_chunks(spec: SweepSpec):
    """Flat arrays of the numeric product, `spec.chunk` points at a time (never the whole grid)."""
    names = list(spec.numeric)
    shape = [len(spec.numeric[k]) for k in names]
    total = spec.numeric_size
    for start in range(0, total, spec.chunk):
        index = np.unravel_index(np.arange(start, min(start + spec.chunk, total)), shape)
        yield {k: spec.numeric[k][i].astype(np.float32) for k, i in zip(names, index)}


def _frame(prepared: Combination, values: dict, metrics: dict):
    import pandas as pd

    sc = prepared.scenario
    n = len(metrics["ttft_ms"])
    columns = {"model": sc.model.name, "hardware": sc.system.accelerator.name, "system": sc.system.name,
               "tp": sc.plan.tp, "pp": sc.plan.pp, "ep": sc.plan.ep, "dp": sc.plan.dp, "cp": sc.plan.cp,
               "weight_precision": sc.precisions.weights, "kv_precision": sc.precisions.kv_cache,
               "engine": sc.profile.name, **{k: v for k, v in prepared.serving.items() if v is not None}}
    frame = pd.DataFrame({**{k: np.broadcast_to(np.asarray(v), n) for k, v in values.items()},
                          **{k: v if isinstance(v, pd.Categorical) else np.broadcast_to(np.asarray(v), n)
                             for k, v in metrics.items()}})
    for position, (name, value) in enumerate(columns.items()):
        frame.insert(position, name, value)
    return frame


def run_sweep(spec, progress: bool = False, workers: int = 2, dask_client=None):
    """Evaluate a sweep spec; returns a DataFrame with one row per configuration and the list of
    structural combinations that were skipped with the rule they break."""
    import pandas as pd

    spec = spec if isinstance(spec, SweepSpec) else parse_spec(spec)
    if dask_client is not None:
        tasks = [(ready, chunk) for ready in _prepare(spec) for chunk in _numeric_chunks(spec)]
        frames = dask_client.gather(dask_client.map(_task, tasks, [spec.decode_points] * len(tasks), pure=False))
    else:
        frames = list(sweep_frames(spec, progress, workers))
    result = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return result, spec.skipped


def sweep_frames(spec: SweepSpec, progress: bool = False, workers: int = 2):
    """The sweep's rows one chunk (a DataFrame) at a time, in order, with at most two chunks per
    worker in flight: memory stays bounded whatever the sweep's size, so a caller that writes each
    chunk (`llmsizer sweep -o`) never holds the whole result. Skipped combinations land in
    `spec.skipped`."""
    prepared = _prepare(spec)
    tasks = ((ready, chunk) for ready in prepared for chunk in _numeric_chunks(spec))
    with ThreadPoolExecutor(max_workers=workers) as pool, _progress(progress, spec.numeric_size * len(prepared)) as bar:
        pending = deque()
        for task in tasks:
            pending.append(pool.submit(_task, task, spec.decode_points))
            if len(pending) >= 2 * workers:
                frame = pending.popleft().result()
                bar(len(frame))
                yield frame
        while pending:
            frame = pending.popleft().result()
            bar(len(frame))
            yield frame


def _prepare(spec: SweepSpec) -> list[Combination]:
    """Each structural combination resolved once; those that break a rule go to `spec.skipped`."""
    prepared = []
    for combo in spec.structural:
        try:
            prepared.append(_scenario(combo))
        except LlmsizerError as exc:
            spec.skipped.append((combo, str(exc)))
    return prepared


def _task(task, decode_points: int):
    prepared, values = task
    return _frame(prepared, values, _evaluate(prepared, values, decode_points))


class _progress:
    """A rich progress bar over configurations, or nothing."""

    def __init__(self, show: bool, total: int):
        self.show, self.total = show, total

    def __enter__(self):
        if not self.show:
            return lambda n: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                            TimeRemainingColumn())
        self.bar.start()
        task = self.bar.add_task("configurations", total=self.total)
        return lambda n: self.bar.advance(task, n)

    def __exit__(self, *exc):
        if self.show:
            self.bar.stop()
        return False


def sweep(spec, progress: bool = False, workers: int = 2, dask_client=None):
    """`llmsizer.sweep(spec)`: a DataFrame of every configuration of a spec (dict or YAML path);
    combinations that break a rule are listed in `frame.attrs["skipped"]`. A spec with a `rate` or
    `concurrency` axis is simulated under that load instead (`serving.capacity.spec_sweep`)."""
    data = read_spec(spec)
    if "rate" in data or "concurrency" in data:
        from ..serving.capacity import spec_sweep

        return spec_sweep(data)
    frame, skipped = run_sweep(spec, progress, workers, dask_client)
    frame.attrs["skipped"] = [(combo, why) for combo, why in skipped]
    return frame
