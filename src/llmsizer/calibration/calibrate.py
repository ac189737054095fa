"""A whole calibration: fit on every row, cross-validate, derive error bands, write profile files.

The figure to quote is out-of-sample: k-fold (each row predicted by a fit that did not see it)
and leave-one-source-out (each publication predicted from the others: its engine and hardware
then keep their documented priors unless another source covers them). Error bands are the 80th
percentile of each engine's k-fold absolute log errors per metric; engines the data does not
cover, or covers with fewer than MIN_BAND_ROWS rows of a metric, get the leave-one-source-out band.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .fit import Fit, fit, k_folds, out_of_sample, source_folds
from .measurements import KINDS, Rows, predicted

BAND_QUANTILE = 80
#: fewest rows of one engine and metric to take their own band rather than the pooled one
MIN_BAND_ROWS = 5


@dataclass
class Calibration:
    rows: Rows
    fit: Fit
    prior: np.ndarray
    in_sample: np.ndarray
    k_fold: np.ndarray
    leave_source_out: np.ndarray
    folds: int

    def band(self, engine: str | None) -> dict[str, float]:
        """Log half-width of the ~80% band per metric for an engine (None: one not in the data)."""
        frame = self.rows.frame
        measured = frame["value"].to_numpy(float)
        out = {}
        everything = np.ones(len(frame), dtype=bool)
        for kind in KINDS:
            of_kind = frame["kind"].to_numpy() == kind
            own = of_kind & (frame["engine"].to_numpy() == engine)
            if engine is not None and np.count_nonzero(own) >= MIN_BAND_ROWS:
                width = _quantile(self.k_fold, measured, own)
            else:  # too few rows of this engine and metric: the band of an engine the fit never saw
                width = _quantile(self.leave_source_out, measured, of_kind if of_kind.any() else everything)
            out[kind] = round(float(width), 4)
        return out

    def profile_documents(self, source: str) -> dict[str, dict]:
        """One profile file per engine in the data, plus `default` for engines outside it."""
        shared = {s.parameter.name: self.fit.values[(s.parameter.name, None)]
                  for s in self.fit.slots if s.parameter.level == "global"}
        hardware: dict[str, dict] = {}
        for s in self.fit.slots:
            if s.parameter.level == "hardware":
                hardware.setdefault(s.key, {})[s.parameter.name] = self.fit.values[(s.parameter.name, s.key)]
        basis = (f"80th percentile of |ln(predicted/measured)| over {source}: the engine's own {self.folds}-fold "
                 f"cross-validation errors where it has {MIN_BAND_ROWS} or more rows of a metric, else the errors of "
                 "predicting each source from a fit on the others")
        docs = {}
        for engine in self.rows.engines:
            params = {s.parameter.name: self.fit.values[(s.parameter.name, s.key)]
                      for s in self.fit.slots if s.parameter.level == "engine" and s.key == engine}
            docs[engine] = {"name": engine, "fitted": True,
                            "source": f"Fitted by `llmsizer calibrate` on {self.fit.rows} measured rows of {source}.",
                            "shared": shared, "hardware": hardware, "parameters": params,
                            "uncertainty": self.band(engine), "uncertainty_basis": basis}
        docs["default"] = {"name": "default", "fitted": True,
                           "source": f"Shared and per-hardware values fitted by `llmsizer calibrate` on {source}.",
                           "shared": shared, "hardware": hardware, "parameters": {},
                           "uncertainty": self.band(None),
                           "uncertainty_basis": "80th percentile of |ln(predicted/measured)| predicting each source "
                                                "from a fit on the others (an engine the fit never saw)"}
        return docs


def _quantile(pred: np.ndarray, measured: np.ndarray, mask: np.ndarray) -> float:
    ok = mask & np.isfinite(pred) & (pred > 0) & (measured > 0)
    if not ok.any():
        return float("nan")
    return float(np.percentile(np.abs(np.log(pred[ok] / measured[ok])), BAND_QUANTILE))


def calibrate(rows: Rows, folds: int = 5, progress=None) -> Calibration:
    """Fit on every row and cross-validate (`folds`-fold and leave-one-source-out)."""
    step = progress or (lambda message: None)
    step("predicting with the documented priors")
    prior = predicted(rows, lambda engine, hw: _prior_profile(engine, hw))
    step("fitting on every row")
    full = fit(rows)
    in_sample = predicted(rows, full.profile_for)
    step(f"{folds}-fold cross-validation")
    k = out_of_sample(rows, k_folds(len(rows.frame), folds))
    step("leave-one-source-out cross-validation")
    loso = out_of_sample(rows, source_folds(rows))
    return Calibration(rows, full, prior, in_sample, k, loso, folds)


def _prior_profile(engine: str, hardware: str):
    from ..cost.profile import load_profile

    return load_profile(engine, hardware, fitted=False)


def write_profiles(calibration: Calibration, folder: Path, source: str) -> list[Path]:
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, doc in calibration.profile_documents(source).items():
        path = folder / f"{name}.yaml"
        path.write_text(yaml.safe_dump(_rounded(doc), sort_keys=False, width=100))
        paths.append(path)
    return paths


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value
