"""Error statistics of predictions against measurements.

The headline figure is the mean absolute log error as a percentage, exp(mean |ln(pred/measured)|)
- 1: symmetric in over- and under-prediction, and what a fit on log error minimises. Beside it:
median and 90th-percentile absolute percentage error, the share within 20%, and the bias
exp(mean ln(pred/measured)) - 1 (positive: predictions too high).
"""

from __future__ import annotations

import numpy as np


def statistics(predicted, measured) -> dict:
    predicted, measured = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    ok = np.isfinite(predicted) & (predicted > 0) & (measured > 0)
    log_ratio = np.log(predicted[ok] / measured[ok])
    ape = np.abs(predicted[ok] / measured[ok] - 1)
    if not ok.any():
        return {"rows": 0}
    return {
        "rows": int(ok.sum()),
        "male_pct": 100 * (np.exp(np.mean(np.abs(log_ratio))) - 1),
        "median_ape_pct": 100 * float(np.median(ape)),
        "p90_ape_pct": 100 * float(np.percentile(ape, 90)),
        "within_20_pct": 100 * float(np.mean(ape <= 0.2)),
        "bias_pct": 100 * (np.exp(np.mean(log_ratio)) - 1),
    }


def score_table(frame, predicted, by: str = "kind"):
    """One row of statistics per value of `by` (a column of the measurements) with scored rows, then `all`."""
    import pandas as pd

    predicted = np.asarray(predicted, dtype=float)
    rows = []
    for value, index in frame.groupby(by, sort=True).indices.items():
        stats = statistics(predicted[index], frame["value"].to_numpy(float)[index])
        if stats["rows"]:
            rows.append({by: value, **stats})
    rows.append({by: "all", **statistics(predicted, frame["value"].to_numpy(float))})
    return pd.DataFrame(rows)
