"""The Pareto front of two objectives, both larger-is-better: one definition for every face."""

from __future__ import annotations

import numpy as np


def pareto_mask(x, y) -> np.ndarray:
    """Mask of the points no other point beats on both x and y (ties kept once: the first of
    equal points). Sorted by x descending, a point is on the front when its y exceeds every y
    before it."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if x.size == 0:
        return np.zeros(0, dtype=bool)
    order = np.lexsort((-y, -x))  # by x descending, ties by y descending
    ys = y[order]
    best_before = np.concatenate(([-np.inf], np.maximum.accumulate(ys)[:-1]))
    mask = np.zeros(len(x), dtype=bool)
    mask[order] = ys > best_before
    return mask
