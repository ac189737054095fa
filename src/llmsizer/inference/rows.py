"""Tables of scenarios, one per row: the columns `predict`, the measurement set and the
request simulator share, checked cell by cell and grouped into deployments.

A cell that is not a valid value fails its own row only, with the column, the value and what is
allowed; rows that share a deployment are grouped so that each group is one vectorised
evaluation over its batches and lengths.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from ..cost.profile import engine_from_text
from ..errors import LlmsizerError
from .options import Deployment

DEPLOYMENT_COLUMNS = ("model", "hardware", "num_devices", "tp", "pp", "ep", "weight_precision", "kv_precision")
#: optional plan columns: data-parallel replicas [default: num_devices / (tp x pp)], attention
#: data parallelism (true/false) [default: false], the batch and the sequence length the
#: engine's graphs were compiled for [default: none], and eager decode (true/false) [default: false]
PLAN_COLUMNS = ("dp", "attention_dp", "compiled_batch", "compiled_sequence", "eager")
#: optional true/false columns
SWITCH_COLUMNS = ("attention_dp", "eager")
TRUE, FALSE = ("true", "1", "yes"), ("false", "0", "no", "")
WORKLOAD_COLUMNS = ("batch_size", "input_len", "output_len")
REQUIRED_COLUMNS = DEPLOYMENT_COLUMNS + WORKLOAD_COLUMNS
#: whole numbers >= 1 (`dp` is optional: data-parallel replicas, when num_devices is absent or wider)
WHOLE_COLUMNS = ("num_devices", "tp", "pp", "ep", "batch_size", "input_len", "output_len")
TEXT_COLUMNS = ("model", "hardware", "weight_precision", "kv_precision")
#: the largest whole number a cell may hold (a longer prompt or a wider plan is a typing error)
LARGEST_WHOLE = 2**31


@lru_cache(maxsize=1024)
def engine_label(framework) -> str:
    """The profile a free-text framework names, or `default` with why (none given, not recognised);
    kept per text, as a table repeats a few engines over many rows."""
    engine = engine_from_text(framework)
    if engine is not None:
        return engine
    if framework is None or (isinstance(framework, float) and np.isnan(framework)) or not str(framework).strip():
        return "default (no framework given)"
    return "default (framework not recognised)"


def profile_of_label(label: str) -> str | None:
    """The profile a label names; None for `default ...`, leaving the choice to the accelerator."""
    return None if label.startswith("default") else label


def deployment_from_row(row, profile: str | None = None) -> Deployment:
    """The deployment one row describes (the row's cells already checked)."""
    dp = int(row.get("dp", 0))  # 0: not given
    return Deployment(model=str(row["model"]), hardware=str(row["hardware"]), devices=int(row["num_devices"]),
                      tp=int(row["tp"]), pp=int(row["pp"]), ep=int(row["ep"]), dp=dp or None,
                      attention_dp=bool(row.get("attention_dp", False)),
                      compiled_batch=int(row.get("compiled_batch", 0)) or None,
                      compiled_sequence=int(row.get("compiled_sequence", 0)) or None,
                      eager=bool(row.get("eager", False)),
                      weight_precision=str(row["weight_precision"]), kv_precision=str(row["kv_precision"]),
                      profile=profile)


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def switch_cells(column: str, values) -> tuple[np.ndarray, np.ndarray]:
    """A true/false column (empty cells false), and each cell's error."""
    text = ["" if _blank(v) else str(int(v) if isinstance(v, float) and v.is_integer() else v).strip().lower()
            for v in values]
    errors = np.array(["" if t in TRUE + FALSE else f"{column} = {v!r}: must be true or false"
                       for t, v in zip(text, values)], dtype=object)
    return np.array([t in TRUE for t in text], dtype=bool), errors


def whole_cells(column: str, values) -> tuple[np.ndarray, np.ndarray]:
    """A column as floats, and each cell's error ('' when it is a whole number in range)."""
    import pandas as pd

    numbers = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float)
    with np.errstate(invalid="ignore"):
        good = np.isfinite(numbers) & (numbers >= 1) & (numbers <= LARGEST_WHOLE) & (numbers == np.round(numbers))
    errors = np.where(good, "", np.array([f"{column} = {value!r}: must be a whole number from 1 to {LARGEST_WHOLE}"
                                          for value in values], dtype=object) if not good.all() else "")
    return np.where(good, numbers, np.nan), errors


def optional_whole_cells(column: str, values) -> tuple[np.ndarray, np.ndarray]:
    """An optional whole-number column (`whole_cells`), 0 where a cell is blank."""
    cells = np.asarray(values, dtype=object)
    given = ~np.array([_blank(v) for v in cells], dtype=bool)
    numbers, errors = whole_cells(column, np.where(given, cells, 1))
    return np.where(given, numbers, 0.0), errors


@dataclass(frozen=True)
class ScenarioRows:
    """Checked rows: each valid row's deployment group, workload arrays and engine label; `errors`
    holds each invalid row's reason ('' for valid rows)."""

    groups: tuple[tuple[Deployment, np.ndarray], ...]
    batch: np.ndarray
    input: np.ndarray
    output: np.ndarray
    engines: np.ndarray
    errors: np.ndarray


def scenario_rows(frame, profile: str | None = None) -> ScenarioRows:
    """Check every cell of a table of scenarios and group its valid rows by deployment and engine;
    `profile` forces one profile for every row."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise LlmsizerError(f"input is missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED_COLUMNS)}")
    n = len(frame)
    errors = np.full(n, "", dtype=object)
    numbers = {}
    for column in WHOLE_COLUMNS:
        numbers[column], bad = whole_cells(column, frame[column].to_numpy())
        errors = np.where(errors == "", bad, errors)
    for column in ("dp", "compiled_batch", "compiled_sequence"):  # optional: 0 where not given
        numbers[column], bad = np.zeros(n), ""  # a column not given: every cell blank
        if column in frame.columns:
            numbers[column], bad = optional_whole_cells(column, frame[column].to_numpy(dtype=object))
        errors = np.where(errors == "", bad, errors)
    for limit, what, size in (("compiled_batch", "batch_size", numbers["batch_size"]),
                              ("compiled_sequence", "input_len + output_len", numbers["input_len"] + numbers["output_len"])):
        compiled = numbers[limit]
        over = (errors == "") & (compiled > 0) & (size > compiled)  # fails its own row, not its deployment's
        errors[over] = [f"{what} = {v:.0f}: must not exceed {limit} = {c:.0f}" for v, c in zip(size[over], compiled[over])]
    for column in SWITCH_COLUMNS:
        numbers[column], bad = np.zeros(n, dtype=bool), ""
        if column in frame.columns:
            numbers[column], bad = switch_cells(column, frame[column].to_numpy(dtype=object))
        errors = np.where(errors == "", bad, errors)
    texts = {}
    for column in TEXT_COLUMNS:
        values = frame[column].to_numpy(dtype=object)
        empty = np.array([not isinstance(v, str) or not v.strip() for v in values], dtype=bool)
        errors = np.where((errors == "") & empty, f"{column}: must be a name (the cell is empty)", errors)
        texts[column] = np.array([v.strip() if isinstance(v, str) else "" for v in values], dtype=object)
    frameworks = frame["framework"].to_numpy(dtype=object) if "framework" in frame.columns else [None] * n
    engines = np.array([profile or engine_label(f) for f in frameworks], dtype=object)
    valid = np.flatnonzero(errors == "")
    plan = ("num_devices", "tp", "pp", "ep", *PLAN_COLUMNS)
    keys = list(zip(*(texts[c][valid] for c in TEXT_COLUMNS), *(numbers[c][valid] for c in plan), engines[valid]))
    positions: dict[tuple, list[int]] = {}
    for key, position in zip(keys, valid):
        positions.setdefault(key, []).append(position)
    groups = []
    names = (*TEXT_COLUMNS, *plan)
    for key, where in positions.items():
        try:  # a deployment its options refuse fails its own rows
            deployment = deployment_from_row(dict(zip(names, key)), profile or profile_of_label(key[-1]))
        except LlmsizerError as exc:
            errors[where] = str(exc)
            continue
        groups.append((deployment, np.asarray(where)))
    return ScenarioRows(tuple(groups), numbers["batch_size"], numbers["input_len"], numbers["output_len"], engines,
                        errors)
