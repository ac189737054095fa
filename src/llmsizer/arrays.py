"""Float arrays that keep single precision when given it, so a sweep can run in float32."""

import numpy as np


def real(values):
    """`values` as floats: a scalar becomes a Python float (NumPy treats those as weak, so they
    never widen a float32 array), a float32 array stays float32, any other array is float64."""
    if np.ndim(values) == 0:  # NumPy scalars and 0-d arrays are "strong": keep scalars as Python floats
        return float(values)
    array = np.asarray(values)
    return array if array.dtype == np.float32 else array.astype(np.float64, copy=False)


def first(values) -> float:
    """The first value of a scalar or array, as a float: what a report of one scenario shows."""
    return float(np.asarray(values, dtype=float).reshape(-1)[0])
