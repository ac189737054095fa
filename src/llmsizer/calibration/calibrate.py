"""A whole calibration: fit on every row, cross-validate three ways, derive error bands, write levels.

The figures to quote are out of sample: k-fold (each row predicted by a fit that did not see it),
leave one source out (each publication predicted from the others: usually a new engine version
too) and leave one accelerator out (each chip predicted from its family and the shared levels).
Bands are the 80th percentile of those absolute log errors: k-fold for what the fit measured,
leave-one-accelerator-out for unmeasured chips, leave-one-source-out for unmeasured engines.
A static batch's throughput is batch x output / e2e, so the two share one band. Coverage is
measured cross-fitted: each fold's rows against the band drawn from the other folds' errors.

`python -m llmsizer.calibration.calibrate FOLDER` writes the fitted levels (FOLDER/levels.yaml).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..cost.levels import HARDWARE_CHAIN, chain_of, compose
from ..cost.profile import documented, split_engine
from .fit import Fit, fit
from .folds import hardware_folds, k_folds, out_of_sample, source_folds
from .measurements import Rows, predicted

BAND_QUANTILE = 80
#: fewest rows of a metric to take its own band; below, the band of every metric's rows together
MIN_BAND_ROWS = 10
#: band groups: a static batch's e2e latency and throughput have the same relative error
BAND_GROUPS = {"ttft": ("ttft",), "tpot": ("tpot",), "e2e_latency": ("e2e_latency", "throughput"),
               "throughput": ("e2e_latency", "throughput")}
#: the out-of-sample schemes, the attribute holding their predictions, and the band case they give
SCHEMES = (("5-fold", "k_fold", "measured"), ("leave one source out", "leave_source_out", "unmeasured_engine"),
           ("leave one accelerator out", "leave_hardware_out", "unmeasured_hardware"))


@dataclass
class Calibration:
    rows: Rows
    fit: Fit
    prior: np.ndarray
    in_sample: np.ndarray
    k_fold: np.ndarray
    leave_source_out: np.ndarray
    leave_hardware_out: np.ndarray
    fold_of: dict  # scheme attribute -> list of folds (row index arrays)
    folds: int

    def _errors(self, predictions: np.ndarray) -> np.ndarray:
        measured = self.rows.frame["value"].to_numpy(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.abs(np.log(predictions / measured))

    def widths(self, predictions: np.ndarray, mask=None) -> dict[str, float]:
        """80th percentile of absolute log errors per metric (its band group; every metric's rows
        together where a group has fewer than MIN_BAND_ROWS)."""
        errors = self._errors(predictions)
        kinds = self.rows.frame["kind"].to_numpy()
        ok = np.isfinite(errors) & (np.ones(len(errors), bool) if mask is None else mask)
        out = {}
        for kind, group in BAND_GROUPS.items():
            pick = ok & np.isin(kinds, group)
            pick = pick if pick.sum() >= MIN_BAND_ROWS else ok
            out[kind] = round(float(np.percentile(errors[pick], BAND_QUANTILE)), 4) if pick.any() else 0.693
        return out

    def bands(self) -> dict:
        """Band widths and their basis for each case of what the fit saw (cost/levels.py)."""
        out = {}
        for title, attribute, case in SCHEMES:
            out[case] = {"width": self.widths(getattr(self, attribute)),
                         "basis": f"80th percentile of |ln(predicted/measured)| out of sample ({title})"}
        measured = out["measured"]["width"]
        for case in ("unmeasured_engine", "unmeasured_hardware"):  # never narrower than what was measured
            out[case]["width"] = {k: max(v, measured[k]) for k, v in out[case]["width"].items()}
        engine, hardware = out["unmeasured_engine"]["width"], out["unmeasured_hardware"]["width"]
        both = {k: round(float(np.sqrt(max(engine[k] ** 2 + hardware[k] ** 2 - measured[k] ** 2, 0.0))), 4)
                for k in measured}
        out["unmeasured_both"] = {"width": both, "basis": "the unmeasured-engine and unmeasured-accelerator bands "
                                                          "combined in quadrature"}
        return out

    def coverage(self, attribute: str) -> float:
        """Share of rows inside the 80% band, each fold's band drawn from the other folds' errors."""
        predictions = getattr(self, attribute)
        errors, kinds = self._errors(predictions), self.rows.frame["kind"].to_numpy()
        inside = []
        for held in self.fold_of[attribute]:
            others = np.ones(len(errors), dtype=bool)
            others[held] = False
            width = self.widths(predictions, others)
            limit = np.array([width[k] for k in kinds[held]])
            ok = np.isfinite(errors[held])
            inside += list(errors[held][ok] <= limit[ok])
        return 100.0 * float(np.mean(inside))

    def levels(self, source: str):
        levels = self.fit.levels
        levels.bands = self.bands()
        levels.source = f"Fitted in levels by `llmsizer calibrate` on {self.fit.rows} measured rows of {source}."
        return levels

    def profile_documents(self, source: str) -> dict[str, dict]:
        """One plain profile file per engine in the data, for `--profile`: the fitted values for
        each accelerator in the data and the bands of measured and unmeasured accelerators."""
        levels, bands = self.levels(source), self.bands()
        docs = {}
        for engine in self.rows.engines:
            values = compose(levels, *split_engine(engine), None, documented)
            shared = {k: v for k, v in values.items() if chain_of(k) != "hardware"}
            hardware = {hw: {k: v for k, v in compose(levels, *split_engine(engine), hw, documented).items() if k in HARDWARE_CHAIN}
                        for hw in self.rows.hardware}
            shared.update({k: v for k, v in values.items() if chain_of(k) == "hardware"})
            docs[engine.replace("/", "_")] = {
                "name": engine, "source": levels.source, "parameters": shared, "hardware": hardware,
                "uncertainty": bands["measured"]["width"], "uncertainty_basis": bands["measured"]["basis"],
                "uncertainty_unseen_hardware": bands["unmeasured_hardware"]["width"]}
        return docs


def calibrate(rows: Rows, folds: int = 5, progress=None) -> Calibration:
    """Fit on every row and cross-validate (`folds`-fold, leave one source out, leave one accelerator out)."""
    from ..cost.profile import load_profile

    step = progress or (lambda message: None)
    step("predicting with the documented priors")
    prior = predicted(rows, lambda engine, hw: load_profile(engine, hw, fitted=False))
    step("fitting on every row")
    full = fit(rows)
    in_sample = predicted(rows, full.profile_for)
    fold_of = {"k_fold": k_folds(len(rows.frame), folds), "leave_source_out": source_folds(rows),
               "leave_hardware_out": hardware_folds(rows)}
    out = {}
    for title, attribute, _ in SCHEMES:
        step(f"cross-validation: {title}")
        out[attribute] = out_of_sample(rows, fold_of[attribute])
    return Calibration(rows, full, prior, in_sample, out["k_fold"], out["leave_source_out"],
                       out["leave_hardware_out"], fold_of, folds)


def _dump(document: dict, path: Path) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(_rounded(document), sort_keys=False, width=100))
    return path


def write_levels(calibration: Calibration, folder: Path, source: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return _dump(calibration.levels(source).to_dict(), folder / "levels.yaml")


def write_profiles(calibration: Calibration, folder: Path, source: str) -> list[Path]:
    """The fitted levels and one plain profile file per engine in the data."""
    paths = [write_levels(calibration, folder, source)]
    for name, doc in calibration.profile_documents(source).items():
        paths.append(_dump(doc, folder / f"{name}.yaml"))
    return paths


def _rounded(value):
    if isinstance(value, float):
        return float(f"{value:.4g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def main(folder: str) -> None:
    from .measurements import prepare_rows, read_measurements

    cal = calibrate(prepare_rows(read_measurements()), progress=lambda m: print(f"{m} ...", file=sys.stderr))
    print(f"wrote {write_levels(cal, Path(folder), 'the shipped measurement set')}")


if __name__ == "__main__":
    main(*sys.argv[1:])
