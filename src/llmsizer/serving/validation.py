"""The simulator against serving measurements: every run of `serving_measurements.csv` replayed.

Each measured run (one row per statistic in the file) becomes a row of `table.row_options`: its
model, hardware, split and precisions, its engine's scheduler, its load and its mean lengths, drawn
as its length_distribution says (dataset prompts: log-normal with a coefficient of variation of
1, stated, not fitted). Runs without a published mean prompt length are skipped. The error of a metric is |ln(simulated / measured)|; `python -m llmsizer.serving.validation`
prints its mean per metric. Each run is simulated with SEEDS seeds and the statistics averaged.
"""

from __future__ import annotations

import math
from importlib import resources

import numpy as np

from ..errors import LlmsizerError
from .table import number, row_options

#: measured metric -> the simulator's summary key; TPOT stands in for ITL when a run gives it
COMPARED = {"ttft_mean_ms": "ttft_ms_mean", "itl_mean_ms": "itl_ms_mean", "ttft_p95_ms": "ttft_ms_p95",
            "output_throughput_tokens_per_s": "output_throughput_tokens_per_s"}
RUN_COLUMNS = ["source", "framework", "hardware", "num_devices", "tp", "pp", "ep", "dp", "compiled_batch",
               "compiled_sequence", "model", "weight_precision", "kv_precision", "input_len", "output_len",
               "length_distribution", "concurrency", "request_rate", "num_requests"]
#: simulations of each run, with different seeds, averaged (one run's Poisson draw alone moves
#: its duration, and so its throughput, by about 1 / sqrt(requests))
SEEDS = 3


def measured_runs(path=None):
    """One row per measured run with a column per statistic."""
    import pandas as pd

    path = path or resources.files("llmsizer") / "data" / "validation" / "serving_measurements.csv"
    frame = pd.read_csv(path, keep_default_na=False, na_values={"value": [""]})
    wide = frame.pivot_table(index=RUN_COLUMNS, columns="metric", values="value", aggfunc="first").reset_index()
    if "tpot_mean_ms" in wide:  # per-request TPOT is the simulator's ITL definition
        wide["itl_mean_ms"] = wide["tpot_mean_ms"].fillna(wide.get("itl_mean_ms"))
    return wide


def simulate_run(run) -> dict:
    """The simulator's summary for one measured run, averaged over SEEDS seeds."""
    from .simulate import simulate

    options = row_options(run)
    summaries = [simulate(**{**options, "seed": seed}).summary for seed in range(SEEDS)]
    return {key: float(np.mean([s[key] for s in summaries])) for key in COMPARED.values()}


def compare(runs) -> "object":
    """Per run: the measured and simulated statistics and their log errors (NaN where not simulated)."""
    rows = []
    for _, run in runs.iterrows():
        run = run.to_dict()
        row = {k: run[k] for k in ("source", "hardware", "model", "tp", "concurrency", "request_rate")}
        try:
            summary = simulate_run(run)
            row["sim_error"] = ""
        except LlmsizerError as exc:
            summary, row["sim_error"] = {}, str(exc)
        for measured, simulated in COMPARED.items():
            value = number(run.get(measured))
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
    print(f"  mean over the four metrics: {np.nanmean(errors):.3f} (x{math.exp(np.nanmean(errors)):.2f})")
    for by in ("source", "hardware"):
        for name, part in simulated.groupby(by):
            per_group = [part[f"log_error_{m}"].mean() for m in COMPARED]
            print(f"  {name[:50]:50s} runs {len(part):4d}  mean |ln error| {np.nanmean(per_group):.3f}  ("
                  + ", ".join(f"{m.split('_')[0]} {m.split('_')[1]} {e:.2f}" for m, e in zip(COMPARED, per_group)) + ")")


if __name__ == "__main__":
    main()
