"""Float arrays that keep single precision when given it, so a sweep can run in float32.

The cost model calls these once per operator, so plain Python numbers take a short path that
skips NumPy's per-call overhead (microseconds each, most of the time of a small estimate)."""

import numpy as np

_FLOATS = (np.dtype(np.float64), np.dtype(np.float32))


def real(values):
    """`values` as floats: a scalar becomes a Python float (NumPy treats those as weak, so they
    never widen a float32 array), a float32 array stays float32, any other array is float64."""
    if type(values) is float:
        return values
    if type(values) is np.ndarray and values.ndim and values.dtype in _FLOATS:
        return values
    if np.ndim(values) == 0:  # NumPy scalars and 0-d arrays are "strong": keep scalars as Python floats
        return float(values)
    array = np.asarray(values)
    return array if array.dtype == np.float32 else array.astype(np.float64, copy=False)


def nonzero(values) -> bool:
    """Whether any element of a scalar or array is non-zero (an absent part, no dequantisation)."""
    if isinstance(values, (float, int)):
        return values != 0
    return bool(np.any(values))


def first(values) -> float:
    """The first value of a scalar or array, as a float: what a report of one scenario shows."""
    return float(np.asarray(values, dtype=float).reshape(-1)[0])
