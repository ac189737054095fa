"""`predict`: one scenario per row of a table, evaluated as arrays per distinct deployment.

Rows that share a model, hardware, split, precisions and engine differ only in batch and
lengths, so each such group is one vectorised evaluation; groups that differ only in hardware or
engine share one operator graph, priced on all of them at once (cost/priced.py). A row that
cannot be estimated gets its reason in `pred_error` and never stops the others: a bad cell fails
its own row, a deployment that cannot be built fails the rows that share it. Large files stream
in chunks.
"""

from __future__ import annotations

import warnings
from dataclasses import replace

import numpy as np

from ..errors import LlmsizerError
from ..units import GB, MS
from .batch import cost, evaluate, prepare, step_costs
from .memory import scenario_demand, scenario_memory
from .rows import REQUIRED_COLUMNS, engine_label, scenario_rows
from .workload import Workload

INPUT_COLUMNS = REQUIRED_COLUMNS
_BANDED = (("ttft", "pred_ttft_ms", MS), ("tpot", "pred_tpot_ms", MS), ("e2e_latency", "pred_e2e_latency_ms", MS),
           ("throughput", "pred_throughput_tokens_per_s", 1.0))
OUTPUT_COLUMNS = ("pred_ttft_ms", "pred_tpot_ms", "pred_e2e_latency_ms", "pred_throughput_tokens_per_s",
                  *(f"{column}_{end}" for _, column, _ in _BANDED for end in ("low", "high")),
                  "pred_memory_per_device_gb", "pred_fits", "pred_max_batch", "pred_engine", "pred_error")
#: rows read and predicted at a time from a file: bounded memory for files of any length
CHUNK_ROWS = 200_000
#: the column that catches one cell too many on a line
OVERFLOW = "__cell_beyond_the_header__"

__all__ = ["predict", "predict_file", "engine_label", "INPUT_COLUMNS", "OUTPUT_COLUMNS"]


def predict(frame, profile: str | None = None):
    """Add prediction columns to a DataFrame of scenarios (the columns of INPUT_COLUMNS, plus an
    optional `framework`); `profile` forces one profile for every row."""
    rows = scenario_rows(frame, profile)
    n = len(frame)
    results = {col: np.full(n, np.nan) for col in OUTPUT_COLUMNS if col not in ("pred_engine", "pred_error", "pred_fits")}
    fits = np.full(n, None, dtype=object)
    errors = rows.errors.copy()
    estimated, parts = [], {}
    for positions, outcome in _estimates(rows):
        if isinstance(outcome, LlmsizerError):
            errors[positions] = str(outcome)
            continue
        estimated.append(positions)
        for column, value in outcome.items():
            parts.setdefault(column, []).append(value)
    if estimated:  # every estimated row's columns written at once
        positions = np.concatenate(estimated)
        values = {column: np.concatenate(part) for column, part in parts.items()}
        fit = values.pop("fits")
        finite = np.all([np.isfinite(v) for v in values.values()], axis=0)
        for column, value in values.items():
            results[column][positions] = np.where(finite, value, np.nan)
        fits[positions] = np.where(finite, fit, None)
        errors[positions] = np.where(finite, "", "the estimate is not a finite number (a length or batch too large)")
    out = frame.copy()
    for col, values in results.items():
        out[col] = values
    out["pred_fits"] = fits
    out["pred_engine"] = rows.engines
    out["pred_error"] = errors
    return out[[c for c in out.columns if c not in OUTPUT_COLUMNS] + list(OUTPUT_COLUMNS)]


#: deployment groups whose operators are the same share one graph while their rows together are
#: at most this many (beyond it, each group's own arrays amortise building its graph)
SHARED_GRAPH_ROWS = 4096


def _estimates(rows):
    """(positions, prediction columns or the error) per deployment group. Groups with the same
    operators (one model, split and precisions on different hardware or engines) share one graph
    over all their rows, costed on every group's own hardware and profile at once, and the
    memory their rows ask for, fitted to each group's device."""
    resolved = {}
    for deployment, positions in rows.groups:
        try:
            sc = deployment.resolve()
        except LlmsizerError as exc:
            yield positions, exc
            continue
        shapes = (sc.compiled_batch, sc.compiled_sequence, sc.profile.token_buckets, sc.profile.batch_buckets,
                  sc.profile.prefill_step_tokens)
        resolved.setdefault((sc.context, shapes) if sc.offload is None else id(sc), []).append((sc, positions))
    for members in resolved.values():
        everything = np.concatenate([positions for _, positions in members])
        workload = Workload(rows.batch[everything], rows.input[everything], rows.output[everything])
        if len(members) == 1 or len(everything) > SHARED_GRAPH_ROWS:
            for sc, positions in members:
                yield positions, _columns(sc, positions, rows, None)
            continue
        first = members[0][0]
        demand = scenario_demand(first, workload)
        shared = prepare(first, workload, memory=scenario_memory(first, workload, demand=demand))
        try:  # every member's steps at once
            steps = step_costs(shared, [(sc, sc.profile) for sc, _ in members])
        except LlmsizerError:  # a member that cannot be priced fails its own rows only, costed on its own
            steps = [None] * len(members)
        start = 0
        for (sc, positions), member_steps in zip(members, steps):
            where = slice(start, start + len(positions))
            start += len(positions)
            alike = sc.model is first.model and sc.plan == first.plan and sc.precisions == first.precisions
            yield positions, _columns(sc, positions, rows, (shared, workload, where, member_steps,
                                                            demand if alike else None))


def _columns(sc, positions, rows, shared):
    """The prediction columns of one deployment group's rows, or the error that stops them."""
    try:
        if shared is None:
            est, where = evaluate(sc, Workload(rows.batch[positions], rows.input[positions], rows.output[positions])), ...
        else:
            prepared, workload, where, steps, demand = shared
            est = cost(replace(prepared, scenario=sc, memory=scenario_memory(sc, workload, demand=demand)), steps=steps)
        values = {"pred_ttft_ms": est.ttft / MS, "pred_tpot_ms": est.tpot / MS, "pred_e2e_latency_ms": est.e2e / MS,
                  "pred_throughput_tokens_per_s": est.throughput}
        for metric, column, scale in _BANDED:
            low, high = est.band(metric)
            values[f"{column}_low"], values[f"{column}_high"] = low / scale, high / scale
        values["pred_memory_per_device_gb"] = est.memory.total / GB
        values["pred_max_batch"] = est.memory.max_batch
        values["fits"] = est.memory.fits
    except LlmsizerError as exc:
        return exc
    shape = np.shape(est.ttft)
    return {k: (v if np.shape(v) == shape else np.broadcast_to(v, shape))[where] for k, v in values.items()}


def predict_file(input_csv, output_csv, profile: str | None = None, progress=None) -> dict:
    """Predict a CSV file into another, `CHUNK_ROWS` rows at a time; `progress(rows_done)` is
    called after each chunk. A line with one cell more than the header fails its own row (named
    by its line number); a line with more stops the file. Returns counts: rows, rows with an
    error, rows on the default profile."""
    import pandas as pd

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # pandas would drop a wide line's cells
            return _predict_chunks(input_csv, output_csv, profile, progress)
    except pd.errors.EmptyDataError:
        raise LlmsizerError(f"{input_csv}: the file is empty; expected a header with {', '.join(INPUT_COLUMNS)}")
    except (pd.errors.ParserError, pd.errors.ParserWarning) as exc:
        raise LlmsizerError(f"{input_csv}: a line has more than one cell beyond the header's columns "
                            f"({str(exc).strip()})")
    except UnicodeDecodeError as exc:
        raise LlmsizerError(f"{input_csv}: not a UTF-8 CSV file ({exc.reason} at byte {exc.start})")


def _predict_chunks(input_csv, output_csv, profile, progress) -> dict:
    import pandas as pd

    counts = {"rows": 0, "errors": 0, "default_profile": 0}
    header = pd.read_csv(input_csv, nrows=0).columns.tolist()
    reader = pd.read_csv(input_csv, chunksize=CHUNK_ROWS, dtype=str, keep_default_na=False, header=None, skiprows=1,
                         names=[*header, OVERFLOW], index_col=False, on_bad_lines="error")
    for index, chunk in enumerate(reader):
        overflow = chunk.pop(OVERFLOW).to_numpy() != ""
        out = predict(chunk, profile)
        if overflow.any():
            lines = counts["rows"] + np.flatnonzero(overflow) + 2  # the header is line 1
            out.loc[overflow, [c for c in OUTPUT_COLUMNS if c not in ("pred_engine", "pred_error")]] = np.nan
            out.loc[overflow, "pred_error"] = [f"line {line} has more cells than the header's {len(header)} columns"
                                               for line in lines]
        out.to_csv(output_csv, index=False, mode="w" if index == 0 else "a", header=index == 0)
        counts["rows"] += len(out)
        counts["errors"] += int((out["pred_error"] != "").sum())
        counts["default_profile"] += int(out["pred_engine"].str.startswith("default").sum())
        if progress is not None:
            progress(counts["rows"])
    return counts
