"""What the pages show, as plain pandas frames: no Streamlit here, so it is testable on its own.

pandas loads on the first table, not with the module: the first metrics need only numpy."""

from __future__ import annotations

from dataclasses import dataclass, replace

from typing import TYPE_CHECKING

import numpy as np

from ..arrays import first
from ..errors import ConfigError, LlmsizerError
from ..hardware.spec import Accelerator, System
from ..hardware.zoo import load_accelerator, load_system
from ..inference.batch import Estimate
from ..inference.estimate import serve, serving_memory
from ..inference.options import Deployment, Serving
from ..inference.workload import Workload
from ..models.spec import Model
from ..models.zoo import load_model
from ..search.pareto import pareto_mask
from ..search.plans import candidate_degrees, ranked, search_plans
from ..units import GB, GIB, MS
from ..usecases import UseCase

if TYPE_CHECKING:
    import pandas as pd

#: the command line's precisions, the usual ones first
PRECISIONS = ["bf16", "fp16", "fp8", "int8", "int4", "fp4", "fp32"]
ENGINES = ["default", "trtllm", "vllm", "sglang", "lmdeploy", "hf"]
#: device counts tried for "devices needed" when a scenario does not fit
MAX_DEVICES_NEEDED = 1024


@dataclass(frozen=True)
class Choice:
    """One scenario as the sidebar sets it: the deployment, workload and serving objects of the
    command line (built once, handed down whole), and the use case whose targets it is held to."""

    deployment: Deployment = Deployment(model="Llama-3.1-8B", hardware="H100-SXM5-80GB")
    workload: Workload = Workload(batch=8, input=1024, output=256)
    serving: Serving = Serving()
    usecase: UseCase | None = None

    @property
    def model_name(self) -> str:
        model = self.deployment.model
        return model.name if isinstance(model, Model) else str(model)

    @property
    def target_name(self) -> str:
        d = self.deployment
        if d.system is not None:
            return str(d.system)
        return d.hardware.name if isinstance(d.hardware, Accelerator) else str(d.hardware)

    def estimate(self) -> Estimate:
        return serve(self.deployment, self.workload, self.serving)

    def with_deployment(self, **changes) -> "Choice":
        return replace(self, deployment=replace(self.deployment, **changes))

    def accelerator(self) -> Accelerator:
        d = self.deployment
        return load_system(d.system).accelerator if d.system is not None else load_accelerator(d.hardware)

    def plan_system(self, devices: int) -> System | str:
        """The system a plan search splits: the chosen one, or `devices` of the chosen accelerator."""
        if self.deployment.system is not None:
            return self.deployment.system
        return System.single_node(self.accelerator(), devices)

    def scenario_options(self) -> dict:
        """Precisions and engine, as the plan and goodput searches take them."""
        d = self.deployment
        return {"weight_precision": d.weight_precision, "kv_precision": d.kv_precision, "engine": d.engine}


def memory_gib(est: Estimate) -> dict:
    """One device's memory by part and its capacity, in GiB (the unit of the hardware files)."""
    mem = est.memory
    return {"weights": float(mem.weights) / GIB, "kv_cache": first(mem.kv_cache) / GIB,
            "activations": first(mem.activations) / GIB, "runtime_reserve": float(mem.reserve) / GIB,
            "total": first(mem.total) / GIB, "capacity": float(mem.capacity) / GIB}


def devices_needed(choice: Choice, limit: int = MAX_DEVICES_NEEDED) -> tuple[int, str] | None:
    """The fewest devices (powers of two) of the chosen accelerator on which one replica of the
    scenario fits in memory, with the first plan that does; None when none up to `limit` does."""
    acc, model = choice.accelerator(), load_model(choice.deployment.model)
    n = 1
    while n <= limit:
        try:
            system = System.single_node(acc, n)
        except LlmsizerError:
            return None
        for tp, pp, cp, dp, ep in candidate_degrees(n, model):
            if dp != 1:
                continue
            deployment = replace(choice.deployment, hardware=None, system=system, devices=None, tp=tp, pp=pp, ep=ep,
                                 cp=cp, dp=None, microbatches=None)
            try:
                fits = first(serving_memory(deployment, choice.workload, choice.serving).fits)
            except LlmsizerError:
                continue
            if fits:
                return n, f"tp={tp} pp={pp}" + (f" ep={ep}" if ep > 1 else "")
        n *= 2
    return None


def estimate_json(est: Estimate, frame: pd.DataFrame) -> dict:
    """The CLI's `estimate --json --breakdown` document."""
    return {**est.to_dict(), "breakdown": frame.to_dict(orient="records")}


def roofline_points(frame: pd.DataFrame) -> pd.DataFrame:
    """Operators that do arithmetic on data from memory, with their operational intensity
    (FLOP per byte moved) and achieved rate (TFLOP/s): the points of a roofline chart."""
    work = frame[(frame["gflop"] > 0) & (frame["mbytes"] > 0) & (frame["time_ms"] > 0)].copy()
    work["flop_per_byte"] = work["gflop"] * 1e3 / work["mbytes"]
    work["achieved_tflops"] = work["gflop"] / work["time_ms"]  # GFLOP per ms is TFLOP per s
    return work


def metrics_row(est: Estimate) -> dict:
    """Headline metrics of one estimate; throughput also per device, so that an 8-device node and
    a 576-device system compare; memory in GiB."""
    d = est.to_dict()
    devices = int(d["devices"])
    return {"ttft_ms": d["ttft_ms"], "tpot_ms": d["tpot_ms"], "e2e_latency_ms": d["e2e_latency_ms"],
            "throughput_tokens_per_s": d["throughput_tokens_per_s"],
            "throughput_per_device": d["throughput_tokens_per_s"] / devices,
            "memory_per_device_gib": memory_gib(est)["total"], "devices": devices, "fits": d["fits"],
            "max_batch": int(d["max_batch"])}


def compare(choices: list[Choice], label: str, names: list[str] | None = None) -> pd.DataFrame:
    """One row per scenario with its headline metrics; a scenario that breaks a rule keeps the
    reason in `error` instead of stopping the others. `label` is "model" or "hardware"; `names`
    (default: the model or hardware names) label the rows."""
    import pandas as pd

    rows = []
    for i, choice in enumerate(choices):
        name = names[i] if names else (choice.model_name if label == "model" else choice.target_name)
        try:
            rows.append({label: name, **metrics_row(choice.estimate()), "error": ""})
        except LlmsizerError as exc:
            rows.append({label: name, "error": str(exc)})
    frame = pd.DataFrame(rows)
    for column in ("devices", "max_batch"):
        if column in frame:
            frame[column] = frame[column].astype("Int64")  # whole numbers, also beside error rows
    return frame


def study_grid(choice: Choice, batches, inputs) -> pd.DataFrame:
    """TTFT, TPOT, throughput and fit over every (batch, input) pair in one vectorised evaluation
    (served as the sidebar says); a long frame with one row per pair."""
    import pandas as pd

    grid_batch, grid_input = np.meshgrid(np.asarray(batches, dtype=float), np.asarray(inputs, dtype=float))
    est = serve(choice.deployment, replace(choice.workload, batch=grid_batch, input=grid_input), choice.serving)
    shape = grid_batch.shape
    return pd.DataFrame({
        "batch": grid_batch.ravel().astype(int),
        "input": grid_input.ravel().astype(int),
        "ttft_ms": np.broadcast_to(est.ttft / MS, shape).ravel(),
        "tpot_ms": np.broadcast_to(est.tpot / MS, shape).ravel(),
        "throughput_tokens_per_s": np.broadcast_to(est.throughput, shape).ravel(),
        "fits": np.broadcast_to(est.fits, shape).ravel(),
    })


def plan_points(choice: Choice, system, batches) -> pd.DataFrame:
    """Every valid plan of `system` at each total batch, with tokens/s per user and whether it is on
    the Pareto front of throughput per device against tokens/s per user (among plans that fit)."""
    import pandas as pd

    frames = []
    for batch in batches:
        results = search_plans(choice.deployment.model, system, batch=int(batch), input=int(choice.workload.input),
                               output=int(choice.workload.output), **choice.scenario_options())
        if all(r.estimate is None for r in results):
            raise ConfigError(f"no parallel plan of {choice.model_name} is valid on this system; "
                              f"for example tp={results[0].tp}: {results[0].error}")
        frames.append(ranked(results, "throughput-per-device").assign(batch=int(batch)))
    points = pd.concat(frames, ignore_index=True)
    points["memory_per_device_gib"] = points.pop("memory_per_device_gb") * (GB / GIB)
    points["tokens_per_s_per_user"] = 1000.0 / points["tpot_ms"]
    points["plan"] = [f"tp{r.tp} pp{r.pp} ep{r.ep} dp{r.dp} cp{r.cp}" for r in points.itertuples()]
    points["pareto"] = False
    fits = points["fits"].to_numpy(bool)
    points.loc[fits, "pareto"] = pareto_mask(points.loc[fits, "tokens_per_s_per_user"],
                                              points.loc[fits, "throughput_per_device"])
    return points


def validation_rows() -> pd.DataFrame:
    """The shipped measurements with each row's prediction under the built-in profiles."""
    from ..calibration.measurements import predicted, prepare_rows, read_measurements

    rows = prepare_rows(read_measurements())
    return rows.frame.assign(predicted=predicted(rows))


def validation_scores(frame: pd.DataFrame, by: str) -> pd.DataFrame:
    from ..calibration.scoring import score_table

    return score_table(frame, frame["predicted"].to_numpy(float), by)


def with_model(choice: Choice, model) -> Choice:
    return choice.with_deployment(model=model)


def with_target(choice: Choice, kind: str, name) -> Choice:
    """`choice` on another accelerator (kind "accelerator") or system (kind "system")."""
    if kind == "system":
        return choice.with_deployment(hardware=None, system=name)
    return choice.with_deployment(hardware=name, system=None)
