"""Fit the physical parameters of efficiency profiles to measurements, and cross-validate the fit.

Each fitted parameter lives at one level: shared by everything (how well fused attention and
compute/memory overlap work), per accelerator (achievable memory bandwidth and matrix-unit
efficiency), or per serving engine (step, prefill and kernel overheads, the quality of its expert
kernels, whether its decode attention re-reads grouped KV heads). The fit minimises robust
(soft L1) log errors of every measured row plus a pull of each parameter towards its documented
prior, so a parameter the data says little about stays where the documentation puts it. Bounds
keep every value physical (efficiencies in (0, 1], overheads non-negative and below 0.1 s).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..cost.profile import Profile, load_profile
from .measurements import Rows, predicted


@dataclass(frozen=True)
class Parameter:
    name: str
    level: str  # "global", "hardware" or "engine"
    low: float
    high: float
    log: bool = False  # fit log10 of the value (overheads span decades)
    scale: float = 0.25  # one unit of prior pull, for values fitted as they are

    def encode(self, value: float) -> float:
        value = min(max(value, self.low), self.high)
        return float(np.log10(value)) if self.log else float(value)

    def decode(self, x: float) -> float:
        return float(10**x) if self.log else float(x)

    @property
    def bounds(self) -> tuple[float, float]:
        return (self.encode(self.low), self.encode(self.high))

    @property
    def prior_scale(self) -> float:
        """One unit of prior pull: a decade for log-fitted overheads, else `scale`."""
        return 1.0 if self.log else self.scale


PARAMETERS = (
    Parameter("memory_efficiency", "hardware", 0.4, 1.0),
    Parameter("matmul_efficiency", "hardware", 0.2, 1.0),
    Parameter("attention_efficiency", "global", 0.1, 1.0),
    Parameter("overlap", "global", 0.0, 1.0),
    Parameter("step_overhead_s", "engine", 1e-6, 0.05, log=True),
    Parameter("prefill_overhead_s", "engine", 0.0, 0.1, scale=0.01),  # its prior is 0: fitted linearly
    Parameter("kernel_overhead_s", "engine", 1e-7, 5e-5, log=True),
    Parameter("moe_efficiency", "engine", 0.05, 1.0),
    Parameter("decode_kv_reread", "engine", 0.0, 1.0),
)

#: weight of the pull towards the prior, against one row's log error
PRIOR_WEIGHT = 0.3
#: log error at which the soft L1 loss turns from quadratic to linear
LOSS_SCALE = 0.1


@dataclass(frozen=True)
class Slot:
    """One fitted number: a parameter at a level, for one key (an accelerator or an engine)."""

    parameter: Parameter
    key: str | None


@dataclass
class Fit:
    slots: list[Slot]
    values: dict[tuple[str, str | None], float]
    priors: dict[tuple[str, str | None], float]
    rows: int
    cost: float

    def profile_for(self, engine: str, hardware: str) -> Profile:
        """The engine's prior profile on this hardware with every fitted value that applies."""
        return _apply(load_profile(engine, hardware, fitted=False), self.values, engine, hardware)

    def table(self):
        import pandas as pd

        return pd.DataFrame([{"parameter": s.parameter.name, "level": s.parameter.level, "key": s.key or "all",
                              "prior": self.priors[(s.parameter.name, s.key)],
                              "fitted": self.values[(s.parameter.name, s.key)]} for s in self.slots])


def _apply(profile: Profile, values: dict, engine: str, hardware: str) -> Profile:
    changes = {}
    for p in PARAMETERS:
        key = {"global": None, "hardware": hardware, "engine": engine}[p.level]
        if (p.name, key) in values:
            changes[p.name] = values[(p.name, key)]
    return replace(profile, **changes)


def _slots(rows: Rows) -> list[Slot]:
    keys = {"global": [None], "hardware": rows.hardware, "engine": rows.engines}
    return [Slot(p, k) for p in PARAMETERS for k in keys[p.level]]


def _prior(slot: Slot, rows: Rows) -> float:
    """The documented value: the engine's profile, or for per-hardware and shared parameters the
    default profile (the same for every engine)."""
    engine = slot.key if slot.parameter.level == "engine" else "default"
    hardware = slot.key if slot.parameter.level == "hardware" else None
    return getattr(load_profile(engine, hardware, fitted=False), slot.parameter.name)


def _sparsity(rows: Rows, slots: list[Slot], usable: np.ndarray):
    from scipy.sparse import lil_matrix

    n_rows = int(usable.sum())
    index = -np.ones(len(rows.frame), dtype=int)
    index[usable] = np.arange(n_rows)
    pattern = lil_matrix((n_rows + len(slots), len(slots)), dtype=int)
    for j, slot in enumerate(slots):
        for g in rows.groups:
            level = slot.parameter.level
            if level == "global" or (level == "hardware" and g.hardware == slot.key) or (
                    level == "engine" and g.engine == slot.key):
                for i in index[g.positions]:
                    if i >= 0:
                        pattern[i, j] = 1
        pattern[n_rows + j, j] = 1
    return pattern


def fit(rows: Rows, max_evaluations: int = 60) -> Fit:
    """Fit every slot the rows inform; returns the fitted values and their priors."""
    from scipy.optimize import least_squares

    slots = _slots(rows)
    priors = {(s.parameter.name, s.key): _prior(s, rows) for s in slots}
    x0 = np.array([s.parameter.encode(priors[(s.parameter.name, s.key)]) for s in slots])
    prior_x = x0.copy()
    scales = np.array([s.parameter.prior_scale for s in slots])
    measured = rows.frame["value"].to_numpy(float)
    usable = (rows.frame["error"].to_numpy() == "") & (measured > 0)

    def values_of(x):
        return {(s.parameter.name, s.key): s.parameter.decode(v) for s, v in zip(slots, x)}

    def residuals(x):
        values = values_of(x)
        pred = predicted(rows, lambda engine, hw: _apply(load_profile(engine, hw, fitted=False), values, engine, hw))
        return np.concatenate([np.log(pred[usable] / measured[usable]), PRIOR_WEIGHT * (x - prior_x) / scales])

    lower, upper = np.array([s.parameter.bounds for s in slots]).T
    result = least_squares(residuals, np.clip(x0, lower, upper), bounds=(lower, upper), loss="soft_l1",
                           f_scale=LOSS_SCALE, jac_sparsity=_sparsity(rows, slots, usable), method="trf",
                           max_nfev=max_evaluations, diff_step=1e-3)
    return Fit(slots, values_of(result.x), priors, int(usable.sum()), float(result.cost))


def out_of_sample(rows: Rows, folds: list[np.ndarray], max_evaluations: int = 60) -> np.ndarray:
    """Predictions of each held-out fold from a fit on the other folds (NaN where not held out)."""
    out = np.full(len(rows.frame), np.nan)
    for held in folds:
        mask = np.zeros(len(rows.frame), dtype=bool)
        mask[held] = True
        trained = fit(rows.subset(~mask), max_evaluations)
        out[held] = predicted(rows.subset(mask), trained.profile_for)
    return out


def k_folds(n: int, k: int = 5, seed: int = 0) -> list[np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    return [np.sort(order[i::k]) for i in range(k)]


def source_folds(rows: Rows) -> list[np.ndarray]:
    """One fold per source: predicting a source from a fit that never saw it."""
    return [np.asarray(v) for v in rows.frame.groupby("source", sort=True).indices.values()]
