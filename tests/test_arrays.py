"""`real` and `nonzero` give the same answers on their short paths (plain numbers, float arrays)
as on NumPy's general one."""

import numpy as np

from llmsizer.arrays import nonzero, real


def test_real_keeps_scalars_weak_and_float32_single():
    for value in (3, 3.0, np.float64(3.0), np.float32(3.0), np.int64(3), np.array(3.0)):
        assert type(real(value)) is float and real(value) == 3.0
    single = np.ones(3, dtype=np.float32)
    assert real(single) is single
    assert (real(single) * real(np.float64(2.0))).dtype == np.float32  # a scalar never widens a sweep
    double = np.ones((2, 3))
    assert real(double) is double
    assert real(np.arange(3)).dtype == np.float64 and real([1, 2]).dtype == np.float64


def test_nonzero_on_numbers_and_arrays():
    assert not nonzero(0.0) and not nonzero(0) and not nonzero(np.float64(0.0)) and not nonzero(np.zeros(3))
    assert nonzero(2.0) and nonzero(np.int64(1)) and nonzero(np.array([0.0, 1.0])) and nonzero(float("nan"))
