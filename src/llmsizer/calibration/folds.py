"""Cross-validation: which rows each fold holds out, and their predictions from fits without them.

A held-out fold is predicted by a fit on the other rows, started from the documented priors and
run to the same tolerance as the shipped fit (a looser stop leaves fold fits short of their
optimum and overstates the error of the method). Folds are independent, so they run in parallel
processes where the platform can fork (each process inherits the prepared rows instead of
receiving a copy); elsewhere one after another.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from ..cost.levels import Levels
from .fit import fit, profile_of
from .measurements import Rows, predicted

#: the rows the forked fold processes read (set just before they start, cleared after)
_ROWS: list[Rows] = []


def _held_out(held: np.ndarray, max_evaluations: int) -> np.ndarray:
    """Predictions of one held-out fold from a fit on every other row."""
    rows = _ROWS[0]
    mask = np.zeros(len(rows.frame), dtype=bool)
    mask[held] = True
    if mask.all():  # nothing left to fit on: the documented priors
        return predicted(rows, lambda engine, hw: profile_of(Levels(), engine, hw))
    trained = fit(rows.subset(~mask), max_evaluations)
    return predicted(rows.subset(mask), trained.profile_for)


def workers() -> int:
    """Processes to run folds in: the CPUs this process may use, where the platform can fork."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def out_of_sample(rows: Rows, folds: list[np.ndarray], max_evaluations: int = 40) -> np.ndarray:
    """Predictions of each held-out fold from a fit on the other folds (NaN where not held out)."""
    out = np.full(len(rows.frame), np.nan)
    evaluations = [max_evaluations] * len(folds)
    _ROWS[:] = [rows]
    try:
        n = min(workers(), len(folds))
        if n > 1:
            with ProcessPoolExecutor(n, mp_context=multiprocessing.get_context("fork")) as pool:
                results = list(pool.map(_held_out, folds, evaluations))
        else:
            results = list(map(_held_out, folds, evaluations))
    finally:
        _ROWS.clear()
    for held, values in zip(folds, results):
        out[held] = values
    return out


def k_folds(n: int, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]


def column_folds(rows: Rows, column: str) -> list[np.ndarray]:
    """One fold per value of a column: predicting a source (or a chip) from a fit that never saw it."""
    return [np.asarray(v) for v in rows.frame.groupby(column, sort=True).indices.values()]


def source_folds(rows: Rows) -> list[np.ndarray]:
    return column_folds(rows, "source")


def hardware_folds(rows: Rows) -> list[np.ndarray]:
    return column_folds(rows, "hardware")
