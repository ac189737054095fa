"""What the pages show, as plain pandas frames: no Streamlit here, so it is testable on its own."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from ..errors import ConfigError, LlmsizerError
from ..hardware.spec import Accelerator, System
from ..hardware.zoo import load_accelerator
from ..inference.batch import Estimate, evaluate
from ..inference.estimate import estimate
from ..inference.scenario import scenario
from ..inference.workload import Workload
from ..models.spec import Model
from ..search.pareto import pareto_mask
from ..units import MS

#: the command line's precisions, the usual ones first
PRECISIONS = ["bf16", "fp16", "fp8", "int8", "int4", "fp4", "fp32"]
ENGINES = ["default", "trtllm", "vllm", "sglang", "lmdeploy", "hf"]


@dataclass(frozen=True)
class Choice:
    """One scenario as the sidebar sets it: a model and either an accelerator (with a device count)
    or a system, a plan, precisions, an engine profile and a static batch."""

    model: str | Model = "Llama-3.1-8B"
    hardware: str | Accelerator | None = "H100-SXM5-80GB"
    system: str | None = None
    devices: int | None = None
    tp: int = 1
    pp: int = 1
    ep: int = 1
    dp: int | None = None
    cp: int = 1
    weight_precision: str = "bf16"
    kv_precision: str | None = None
    engine: str = "default"
    batch: int = 8
    input: int = 1024
    output: int = 256

    @property
    def model_name(self) -> str:
        return self.model.name if isinstance(self.model, Model) else str(self.model)

    @property
    def target_name(self) -> str:
        if self.system is not None:
            return str(self.system)
        return self.hardware.name if isinstance(self.hardware, Accelerator) else str(self.hardware)

    def options(self) -> dict:
        """Keyword arguments of `scenario` and `estimate` (hardware or system, never both)."""
        target = {"system": self.system} if self.system is not None else {"hardware": self.hardware}
        return {**target, "devices": self.devices, "tp": self.tp, "pp": self.pp, "ep": self.ep, "dp": self.dp,
                "cp": self.cp, "weight_precision": self.weight_precision, "kv_precision": self.kv_precision,
                "engine": None if self.engine == "default" else self.engine}

    def estimate(self) -> Estimate:
        return estimate(self.model, batch=self.batch, input=self.input, output=self.output, **self.options())

    def plan_system(self, devices: int) -> System | str:
        """The system a plan search splits: the chosen one, or `devices` of the chosen accelerator."""
        if self.system is not None:
            return self.system
        return System.single_node(load_accelerator(self.hardware), devices)


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


def _metrics_row(est: Estimate) -> dict:
    d = est.to_dict()
    return {"ttft_ms": d["ttft_ms"], "tpot_ms": d["tpot_ms"], "e2e_latency_ms": d["e2e_latency_ms"],
            "throughput_tokens_per_s": d["throughput_tokens_per_s"], "memory_per_device_gb": d["memory_per_device_gb"],
            "devices": d["devices"], "fits": d["fits"], "max_batch": d["max_batch"]}


def compare(choices: list[Choice], label: str) -> pd.DataFrame:
    """One row per scenario with its headline metrics; a scenario that breaks a rule keeps the
    reason in `error` instead of stopping the others. `label` is "model" or "hardware"."""
    rows = []
    for choice in choices:
        name = choice.model_name if label == "model" else choice.target_name
        try:
            rows.append({label: name, **_metrics_row(choice.estimate()), "error": ""})
        except LlmsizerError as exc:
            rows.append({label: name, "error": str(exc)})
    return pd.DataFrame(rows)


def study_grid(choice: Choice, batches, inputs) -> pd.DataFrame:
    """TTFT, TPOT, throughput and fit over every (batch, input) pair in one vectorised evaluation;
    a long frame with one row per pair."""
    sc = scenario(choice.model, **choice.options())
    grid_batch, grid_input = np.meshgrid(np.asarray(batches, dtype=float), np.asarray(inputs, dtype=float))
    est = evaluate(sc, Workload(grid_batch, grid_input, choice.output))
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
    from ..search.plans import ranked, search_plans

    frames = []
    for batch in batches:
        results = search_plans(choice.model, system, batch=int(batch), input=choice.input, output=choice.output,
                               weight_precision=choice.weight_precision, kv_precision=choice.kv_precision,
                               engine=choice.options()["engine"])
        if all(r.estimate is None for r in results):
            raise ConfigError(f"no parallel plan of {choice.model_name} is valid on this system; "
                              f"for example tp={results[0].tp}: {results[0].error}")
        frames.append(ranked(results, "throughput-per-device").assign(batch=int(batch)))
    points = pd.concat(frames, ignore_index=True)
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


def with_model(choice: Choice, name: str) -> Choice:
    return replace(choice, model=name)


def with_target(choice: Choice, kind: str, name: str) -> Choice:
    """`choice` on another accelerator (kind "accelerator") or system (kind "system")."""
    if kind == "system":
        return replace(choice, hardware=None, system=name)
    return replace(choice, hardware=name, system=None)
