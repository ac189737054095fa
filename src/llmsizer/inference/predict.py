"""`predict`: one scenario per row of a table, evaluated as arrays per distinct scenario.

Rows that share a model, hardware, split, precisions and engine differ only in batch and
lengths, so each such group is one vectorised evaluation. A row that cannot be estimated gets
its reason in `pred_error` and never stops the others.
"""

from __future__ import annotations

import numpy as np

from ..cost.profile import engine_from_text
from ..errors import LlmsizerError
from ..units import GB, MS
from .batch import evaluate
from .scenario import scenario
from .workload import Workload

INPUT_COLUMNS = ("model", "hardware", "num_devices", "tp", "pp", "ep", "weight_precision", "kv_precision",
                 "batch_size", "input_len", "output_len")
_BANDED = (("ttft", "pred_ttft_ms", MS), ("tpot", "pred_tpot_ms", MS), ("e2e_latency", "pred_e2e_latency_ms", MS),
           ("throughput", "pred_throughput_tokens_per_s", 1.0))
OUTPUT_COLUMNS = ("pred_ttft_ms", "pred_tpot_ms", "pred_e2e_latency_ms", "pred_throughput_tokens_per_s",
                  *(f"{column}_{end}" for _, column, _ in _BANDED for end in ("low", "high")),
                  "pred_memory_per_device_gb", "pred_fits", "pred_max_batch", "pred_engine", "pred_error")
_SCENARIO_KEYS = ("model", "hardware", "num_devices", "tp", "pp", "ep", "weight_precision", "kv_precision",
                  "pred_engine")


def engine_label(framework) -> str:
    """The profile a free-text framework names, or `default` with why (none given, not recognised)."""
    engine = engine_from_text(framework)
    if engine is not None:
        return engine
    if framework is None or (isinstance(framework, float) and np.isnan(framework)) or not str(framework).strip():
        return "default (no framework given)"
    return "default (framework not recognised)"


def predict(frame, profile: str | None = None):
    """Add prediction columns to a DataFrame of scenarios (the columns of INPUT_COLUMNS, plus an
    optional `framework`); `profile` forces one profile for every row."""
    import pandas as pd

    missing = [c for c in INPUT_COLUMNS if c not in frame.columns]
    if missing:
        raise LlmsizerError(f"input is missing column(s) {', '.join(missing)}; required: {', '.join(INPUT_COLUMNS)}")
    out = frame.copy()
    frameworks = out["framework"] if "framework" in out.columns else pd.Series([None] * len(out), index=out.index)
    out["pred_engine"] = profile or frameworks.map(engine_label)
    n = len(out)
    results = {col: np.full(n, np.nan) for col in OUTPUT_COLUMNS if col not in ("pred_engine", "pred_error", "pred_fits")}
    fits = np.full(n, None, dtype=object)
    errors = np.full(n, "", dtype=object)
    for positions in out.groupby(list(_SCENARIO_KEYS), sort=False, dropna=False).indices.values():
        rows = out.iloc[positions]
        first = rows.iloc[0]
        try:
            engine = first["pred_engine"]
            sc = scenario(
                first["model"], first["hardware"], devices=int(first["num_devices"]), tp=int(first["tp"]),
                pp=int(first["pp"]), ep=int(first["ep"]), weight_precision=str(first["weight_precision"]),
                kv_precision=str(first["kv_precision"]),
                profile=profile or (engine if not engine.startswith("default") else None),
            )
            workload = Workload(rows["batch_size"].to_numpy(float), rows["input_len"].to_numpy(float),
                                rows["output_len"].to_numpy(float))
            est = evaluate(sc, workload)
        except (LlmsizerError, ValueError, KeyError, TypeError) as exc:
            errors[positions] = str(exc)
            continue
        for metric, column, scale in _BANDED:
            low, high = est.band(metric)
            results[f"{column}_low"][positions] = low / scale
            results[f"{column}_high"][positions] = high / scale
        results["pred_ttft_ms"][positions] = est.ttft / MS
        results["pred_tpot_ms"][positions] = est.tpot / MS
        results["pred_e2e_latency_ms"][positions] = est.e2e / MS
        results["pred_throughput_tokens_per_s"][positions] = est.throughput
        results["pred_memory_per_device_gb"][positions] = est.memory.total / GB
        results["pred_max_batch"][positions] = est.memory.max_batch
        fits[positions] = est.memory.fits
    for col, values in results.items():
        out[col] = values
    out["pred_fits"] = fits
    out["pred_error"] = errors
    return out[[c for c in out.columns if c not in OUTPUT_COLUMNS] + list(OUTPUT_COLUMNS)]
