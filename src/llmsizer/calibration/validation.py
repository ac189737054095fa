"""What `llmsizer validate` reports: the error of every way of predicting the measured rows.

In sample (the shipped fitted profiles, or the documented priors), then out of sample three ways
(calibrate.SCHEMES) with the measured coverage of each scheme's 80% band, per metric and per level
of the calibration (accelerator family and chip, engine family and version, source).
"""

from __future__ import annotations

import numpy as np

from .calibrate import SCHEMES, Calibration, calibrate
from .measurements import KINDS, Rows, predicted
from .scoring import statistics

#: the columns a validation table can be grouped by: metric, then the levels of the calibration
LEVELS = ("kind", "metric", "family", "hardware", "engine_family", "engine", "source", "model")


def in_sample(rows: Rows, uncalibrated: bool = False) -> tuple[str, np.ndarray]:
    from ..cost.profile import load_profile

    which = "documented priors (uncalibrated)" if uncalibrated else "fitted profiles (in sample on the shipped set)"
    return which, predicted(rows, lambda engine, hw: load_profile(engine, hw, fitted=not uncalibrated))


def out_of_sample(rows: Rows, progress=None) -> tuple[Calibration, list[tuple[str, np.ndarray]]]:
    cal = calibrate(rows, progress=progress)
    return cal, [(f"out of sample: {title}", getattr(cal, attribute)) for title, attribute, _ in SCHEMES]


def summary(rows: Rows, predictions: list[tuple[str, np.ndarray]], cal: Calibration | None = None) -> list[list]:
    """One line per way of predicting: mean absolute log error per metric and overall, and the
    coverage of the 80% band where the way is out of sample."""
    frame = rows.frame
    measured, kinds = frame["value"].to_numpy(float), frame["kind"].to_numpy()
    coverage = {f"out of sample: {title}": cal.coverage(attribute) for title, attribute, _ in SCHEMES} if cal else {}
    lines = []
    for title, pred in predictions:
        per_kind = [statistics(pred[kinds == k], measured[kinds == k]).get("male_pct", np.nan) for k in KINDS]
        overall = statistics(pred, measured)["male_pct"]
        covered = coverage.get(title)
        lines.append([title, *(f"{v:.1f}%" for v in per_kind), f"{overall:.1f}%",
                      f"{covered:.0f}%" if covered is not None else "-"])
    return lines


SUMMARY_COLUMNS = ["predictions", *KINDS, "all", "rows inside 80% band"]
