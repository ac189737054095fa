"""The simulator against serving measurements: every run of `serving_measurements.csv` replayed.

Each measured run (one row per statistic in the file) becomes one simulation: its model, hardware,
split and precisions, its engine's scheduler (vLLM, SGLang or TensorRT-LLM as the framework column
names it; vLLM otherwise), its load (closed loop at the concurrency, Poisson at the rate, offline
at an infinite rate) and its mean lengths. Lengths are drawn fixed for fixed runs, uniform over
(0, 2 x mean] for uniform draws, and log-normal with a coefficient of variation of 1 for dataset
prompts (ShareGPT-like: stated, not fitted). Runs without a published mean prompt length are
skipped. The error of a metric is |ln(simulated / measured)|; `python -m llmsizer.serving.validation`
prints its mean per metric.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np

from ..cost.profile import engine_from_text
from ..errors import LlmsizerError

#: measured metric -> the simulator's summary key; TPOT stands in for ITL when a run gives it
COMPARED = {"ttft_mean_ms": "ttft_ms_mean", "itl_mean_ms": "itl_ms_mean", "ttft_p95_ms": "ttft_ms_p95",
            "output_throughput_tokens_per_s": "output_throughput_tokens_per_s"}
RUN_COLUMNS = ["source", "framework", "hardware", "num_devices", "tp", "pp", "ep", "dp", "model", "weight_precision",
               "kv_precision", "input_len", "output_len", "length_distribution", "concurrency", "request_rate",
               "num_requests"]
#: requests simulated when a run does not say how many it sent
DEFAULT_REQUESTS = 500


def measured_runs(path=None):
    """One row per measured run with a column per statistic."""
    import pandas as pd

    path = path or resources.files("llmsizer") / "data" / "validation" / "serving_measurements.csv"
    frame = pd.read_csv(path, keep_default_na=False, na_values={"value": [""]})
    wide = frame.pivot_table(index=RUN_COLUMNS, columns="metric", values="value", aggfunc="first").reset_index()
    if "tpot_mean_ms" in wide:  # per-request TPOT is the simulator's ITL definition
        wide["itl_mean_ms"] = wide["tpot_mean_ms"].fillna(wide.get("itl_mean_ms"))
    return wide


def _lengths(distribution: str) -> tuple[str, float]:
    text = distribution.lower()
    if text.startswith("fixed"):
        return "fixed", 0.0
    if text.startswith("uniform"):
        return "uniform", 1 / math.sqrt(3)
    return "lognormal", 1.0


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def simulate_run(run) -> dict:
    """The simulator's summary for one measured run."""
    from .simulate import simulate

    prompt, output = _number(run["input_len"]), _number(run["output_len"])
    if not prompt or not output:
        raise LlmsizerError("no published mean prompt or output length")
    kind, spread = _lengths(run["length_distribution"])
    load = {"requests": int(_number(run["num_requests"]) or DEFAULT_REQUESTS)}
    concurrency, rate = _number(run["concurrency"]), _number(run["request_rate"])
    if concurrency:
        load["concurrency"] = int(concurrency)
    elif rate and math.isfinite(rate):
        load["rate"] = rate
    else:
        load["offline"] = True
    engine = engine_from_text(run["framework"])
    replicas = int(_number(run["dp"]) or 1)
    return simulate(run["model"], run["hardware"], devices=int(run["num_devices"]) * replicas, tp=int(run["tp"]),
                    pp=int(run["pp"]), ep=int(run["ep"]), weight_precision=run["weight_precision"] or "bf16",
                    kv_precision=run["kv_precision"] or None, engine=engine,
                    scheduler=engine if engine in ("vllm", "sglang", "trtllm") else "vllm",
                    input=int(round(prompt)), output=int(round(output)), lengths=kind, spread=spread, record=False,
                    **load).summary


def compare(runs) -> "object":
    """Per run: the measured and simulated statistics and their log errors (NaN where not simulated)."""
    rows = []
    for _, run in runs.iterrows():
        row = {k: run[k] for k in ("source", "hardware", "model", "concurrency", "request_rate")}
        try:
            summary = simulate_run(run)
            row["sim_error"] = ""
        except LlmsizerError as exc:
            summary, row["sim_error"] = {}, str(exc)
        for measured, simulated in COMPARED.items():
            value = _number(run.get(measured))
            predicted = summary.get(simulated)
            row[measured] = value
            row[f"sim_{measured}"] = predicted
            row[f"log_error_{measured}"] = (abs(math.log(predicted / value)) if value and predicted else np.nan)
        rows.append(row)
    import pandas as pd

    return pd.DataFrame(rows)


def main():
    table = compare(measured_runs())
    simulated = table[table["sim_error"] == ""]
    print(f"{len(table)} measured runs, {len(simulated)} simulated "
          f"({len(table) - len(simulated)} skipped: no mean prompt length, or the scenario cannot run)")
    errors = []
    for metric in COMPARED:
        column = simulated[f"log_error_{metric}"].dropna()
        errors.append(column.mean())
        print(f"  {metric:34s} runs {len(column):4d}  mean |ln error| {column.mean():.3f}  "
              f"(x{math.exp(column.mean()):.2f})  median {column.median():.3f}")
    print(f"  mean over the four metrics: {np.nanmean(errors):.3f}")
    for source, part in simulated.groupby("source"):
        per_source = np.nanmean([part[f"log_error_{m}"].mean() for m in COMPARED])
        print(f"  {source[:60]:60s} runs {len(part):4d}  mean |ln error| {per_source:.3f}")


if __name__ == "__main__":
    main()
