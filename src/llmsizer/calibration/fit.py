"""Fit efficiency parameters in levels to measurements, with partial pooling.

Each fitted number is an offset at one level of a chain (cost/levels.py): shared, accelerator
family, chip for what a chip's kernels achieve; shared, engine family, engine version for what an
engine adds; shared alone for compute/memory overlap. Offsets live in logit space (fractions) or
log space (seconds), so no value can reach a bound of its range. Each offset is pulled towards its
documented value (the family's or version's documented difference from its parent) with a width
that narrows down the chain, so a chip or engine with few rows stays near its family. A level is
fitted only where rows inform it: matrix efficiency of a precision class only from rows in that
class, expert efficiency only from MoE rows. The fit minimises robust (soft L1) log errors,
starting from a first pass with a near-quadratic loss (see START_SCALE).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..cost.levels import Levels, chain_of, compose, engine_keys, family_of, family_priors, from_space, to_space
from ..cost.profile import Profile, documented, engine_pooled, split_engine
from ..cost.roofline import class_of
from ..ops.base import Sizes
from ..precision import Precisions
from .measurements import Group, Rows, predicted

#: the parameters fitted; the rest keep their documented (composed) values
#: (not the device-side kernel gap: gaps between kernels replayed from a graph or launched by a C++
#: runtime are measured at a few microseconds, and a fit grows them into a stand-in for per-layer
#: work the model does not count, which then scales wrongly with depth and devices; the latency of
#: a collective is fitted, since engines differ in it: NCCL's small-message all-reduce or their own)
FITTED = ("memory_efficiency", "matmul_efficiency", "matmul_efficiency_8bit", "matmul_efficiency_fp4",
          "attention_efficiency", "overlap", "step_overhead_s", "sequence_overhead_s", "prefill_overhead_s",
          "worker_overhead_s", "collective_overhead_s", "moe_efficiency", "decode_kv_reread", "client_overhead_s",
          "host_speed")
#: parameters without a fitted shared level: every family's value is fitted from its own rows over
#: the documented shared value. Expert products are grouped GEMMs in the GPU engines but dense
#: dispatch over every expert in compiled graphs (XLA, Neuron), a difference in kind no shared value
#: pools; a host's speed is relative to the host the engines' overheads are stated for, so a shared
#: level would only trade places with those overheads
UNPOOLED = ("moe_efficiency", "host_speed")
#: precision classes whose chip and family offsets are those of 16-bit products (one fit of how
#: well a chip runs its matrix units; each class keeps its own shared value), plus, in OWN_CLASSES
#: for a chip with rows in the class, a difference of its own (its library's kernels for that precision)
MATMUL_CLASSES = ("matmul_efficiency_8bit", "matmul_efficiency_weight_only", "matmul_efficiency_fp4")
#: prior width of an offset at each level (logit or natural-log units): wide at the shared level,
#: narrower for a family, narrowest for a member, which so stays near its family on few rows
PRIOR_WIDTH = {"shared": 1.0, "family": 0.5, "member": 0.3}
#: prior width of a host's speed at each level (log units), a tenth of the other levels': only chips
#: running the same engine tell a host's speed from the engine's overheads, and a wider prior lets
#: the speed stand in for work the model does not count on one chip's rows (at widths of 0.25 and
#: 0.15 the fit put B200's and Gaudi 2's hosts at 4-5x, beyond any CPU of their servers)
HOST_SPEED_WIDTH = {"family": 0.05, "member": 0.03}
#: prior width of a precision class's shared value: how much better or worse 8-bit kernels run than
#: 16-bit ones is a property of the kernel libraries, documented within about 20%
CLASS_WIDTH = 0.2
#: prior width of a chip's own difference in a class from its 16-bit level: one library's 8-bit
#: kernels can be tuned apart from its 16-bit ones (a new format's first kernels), by some tens of percent
CHIP_CLASS_WIDTH = 0.25
#: the classes a chip fits a difference of its own in (fp4 and weight-only rows are few and from
#: one source each, whose setup would set the chip's class)
OWN_CLASSES = ("matmul_efficiency_8bit",)
#: log error at which the soft L1 loss turns from quadratic to linear
LOSS_SCALE = 0.1
#: the same for a first pass from the priors: a robust fit started there can settle with a whole
#: group of rows left far off as outliers (expert efficiency kept near its prior while the matrix
#: efficiency moves instead), so the robust fit starts where a nearly quadratic one ends
START_SCALE = 1.0


@dataclass(frozen=True)
class Slot:
    """One fitted offset: a parameter at a level ("shared", "family" or "member") for one key."""

    name: str
    level: str
    key: str | None


def informs(name: str, g: Group) -> bool:
    """Whether a group of rows says anything about a parameter."""
    if name in MATMUL_CLASSES:  # (16-bit products, such as the output head, are everywhere)
        return name == f"matmul_efficiency_{product_class(g.prepared.scenario.precisions)}"
    if name == "moe_efficiency":
        return g.prepared.scenario.model.is_moe
    if name == "client_overhead_s":
        return g.at_client
    if name == "host_speed":  # a runtime tied to one accelerator (pooled: false) cannot tell its host from itself
        return engine_pooled(split_engine(g.engine)[0])
    return True


def product_class(p: Precisions) -> str:
    """The precision class of a row's weight products, as the cost model prices them."""
    sizes = Sizes.of(p)
    return class_of(sizes.matmul_precision, sizes.dequantise)


def _chain_keys(name: str, g: Group) -> list[tuple[str, str | None]]:
    """(level, key) of each level of a parameter's chain that a group's rows reach."""
    if name in MATMUL_CLASSES:  # the class's shared value, and the chip's difference from its 16-bit level
        return [("shared", None)] + ([("member", g.hardware)] if name in OWN_CLASSES else [])
    if chain_of(name) == "hardware":
        family = family_of(g.hardware)
        shared = [("shared", None)] if _pooled(Slot(name, "family", family)) else []
        return shared + [("family", family), ("member", g.hardware)]
    if chain_of(name) == "engine":
        family, version = engine_keys(*split_engine(g.engine))
        shared = [("shared", None)] if _pooled(Slot(name, "family", family)) else []
        return shared + [("family", family)] + ([("member", version)] if version else [])
    return [("shared", None)]


def _pooled(slot: Slot) -> bool:
    """Whether a family-level offset sits on the fitted shared level (else on the documented one):
    not for unpooled parameters, nor for engine families marked `pooled: false` (compiled-graph
    runtimes tied to one accelerator, whose overheads say nothing of an engine without rows)."""
    if slot.name in UNPOOLED:
        return False
    return chain_of(slot.name) != "engine" or engine_pooled(slot.key)


def slots_of(rows: Rows) -> list[Slot]:
    seen = []
    for name in FITTED:
        for g in rows.groups:
            if informs(name, g):
                seen += [Slot(name, level, key) for level, key in _chain_keys(name, g) if key is not None or level == "shared"]
    return list(dict.fromkeys(seen))


def _documented_at(slot: Slot) -> float:
    """The documented value at a slot's level (offsets are pulled towards differences of these)."""
    values = documented("default", None, None)
    if chain_of(slot.name) == "hardware" and slot.level != "shared":
        values.update(family_priors().get(slot.key if slot.level == "family" else family_of(slot.key), {}))
    elif chain_of(slot.name) == "engine" and slot.level != "shared":
        family, version = split_engine(slot.key)
        values = documented(family, version if slot.level == "member" else None, None)
    return values[slot.name]


def _parent(slot: Slot) -> Slot | None:
    if slot.level == "shared":
        return None
    if slot.level == "family":
        return Slot(slot.name, "shared", None)
    family = family_of(slot.key) if chain_of(slot.name) == "hardware" else split_engine(slot.key)[0]
    return Slot(slot.name, "family", family)


@dataclass
class Fit:
    slots: list[Slot]
    x: np.ndarray
    prior_x: np.ndarray
    rows: int
    cost: float

    @property
    def levels(self) -> Levels:
        return levels_of(self.slots, self.x)

    def profile_for(self, engine: str, hardware: str) -> Profile:
        """The engine's documented profile on this hardware with the fitted levels composed over it."""
        return profile_of(self.levels, engine, hardware)

    def table(self):
        """One row per fitted level: its documented and fitted value (plain, not offsets)."""
        import pandas as pd

        fitted, prior = levels_of(self.slots, self.x), levels_of(self.slots, self.prior_x)
        out = []
        for s in self.slots:
            value, before = _level_value(fitted, s), _level_value(prior, s)
            out.append({"parameter": s.name, "level": s.level, "key": s.key or "all", "prior": before, "fitted": value})
        return pd.DataFrame(out)


def _level_value(levels: Levels, s: Slot) -> float:
    if s.level == "shared":
        return levels.shared[s.name]
    return _tables(levels, s)[s.key][s.name]


def _tables(levels: Levels, s: Slot) -> dict:
    """The family or member tables of a slot's chain (keyed by family, chip or engine version)."""
    hardware = chain_of(s.name) == "hardware"
    return {"family": levels.hardware_families if hardware else levels.engine_families,
            "member": levels.hardware if hardware else levels.engines}[s.level]


def levels_of(slots: list[Slot], x: np.ndarray) -> Levels:
    """Plain values at every fitted level: the sum of offsets down the chain, transformed back.
    A chip's or family's matrix offset applies to every precision class, each from its own shared
    value (fitted where rows inform it, else documented)."""
    offsets = {s: v for s, v in zip(slots, x)}
    levels = Levels()

    def total(s: Slot) -> float:
        if s.level == "shared":
            return offsets[s] if s in offsets else float(to_space(s.name, _documented_at(s)))
        parent = _parent(s)
        if s.level == "family" and not _pooled(s):
            return offsets[s] + float(to_space(s.name, _documented_at(parent)))
        return offsets[s] + total(parent)

    def put(name: str, s: Slot, value: float) -> None:
        if s.level == "shared":
            levels.shared[name] = value
            return
        _tables(levels, Slot(name, s.level, s.key)).setdefault(s.key, {})[name] = value

    def class_base(name: str) -> float:
        shared = Slot(name, "shared", None)
        return offsets[shared] if shared in offsets else float(to_space(name, documented("default", None, None)[name]))

    for s in offsets:
        if s.name in MATMUL_CLASSES and s.level == "member":
            continue  # composed over the chip's 16-bit level below
        put(s.name, s, from_space(s.name, total(s)))
        if s.name == "matmul_efficiency" and s.level != "shared":
            chip = total(s) - total(Slot(s.name, "shared", None))
            for other in MATMUL_CLASSES:
                own = offsets.get(Slot(other, s.level, s.key), 0.0)
                put(other, s, from_space(other, class_base(other) + chip + own))
    return levels


def profile_of(levels: Levels, engine: str, hardware: str) -> Profile:
    """The engine's documented profile on this hardware with `levels` composed over it."""
    from ..cost.profile import load_profile

    prior = load_profile(engine, hardware, fitted=False)
    return prior.with_values(compose(levels, *split_engine(engine), hardware, documented), "fit")


def prior_offsets(slots: list[Slot]) -> np.ndarray:
    """Documented offsets: each level's documented value less its parent's, in the fitted space."""
    out = []
    for s in slots:
        here = float(to_space(s.name, _documented_at(s)))
        parent = _parent(s)
        out.append(here - (float(to_space(s.name, _documented_at(parent))) if parent is not None else 0.0))
    return np.array(out)


def _prior_width(slot: Slot) -> float:
    """How far a slot's offset may stray from its documented value at one row's cost."""
    if slot.name in MATMUL_CLASSES:
        return CLASS_WIDTH if slot.level == "shared" else CHIP_CLASS_WIDTH
    if slot.name == "host_speed":
        return HOST_SPEED_WIDTH[slot.level]
    return PRIOR_WIDTH[slot.level]


def _sparsity(rows: Rows, slots: list[Slot], usable: np.ndarray):
    from scipy.sparse import lil_matrix

    n_rows = int(usable.sum())
    index = -np.ones(len(rows.frame), dtype=int)
    index[usable] = np.arange(n_rows)
    pattern = lil_matrix((n_rows + len(slots), len(slots)), dtype=int)
    for j, slot in enumerate(slots):
        for g in rows.groups:
            if informs(slot.name, g) and (slot.level, slot.key) in _chain_keys(slot.name, g):
                for i in index[g.positions]:
                    if i >= 0:
                        pattern[i, j] = 1
        pattern[n_rows + j, j] = 1
    return pattern


def fit(rows: Rows, max_evaluations: int = 40, tolerance: float = 1e-3) -> Fit:
    """Fit every level the rows inform; returns the fitted offsets and their documented values."""
    from scipy.optimize import least_squares

    slots = slots_of(rows)
    prior_x = prior_offsets(slots)
    widths = np.array([_prior_width(s) for s in slots])
    measured = rows.frame["value"].to_numpy(float)
    usable = (rows.frame["error"].to_numpy() == "") & (measured > 0)

    def residuals(x):
        levels = levels_of(slots, x)
        pred = predicted(rows, lambda engine, hw: profile_of(levels, engine, hw))
        return np.concatenate([np.log(pred[usable] / measured[usable]), (x - prior_x) / widths * LOSS_SCALE])

    options = dict(loss="soft_l1", jac_sparsity=_sparsity(rows, slots, usable), method="trf",
                   max_nfev=max_evaluations, diff_step=1e-3)
    start = least_squares(residuals, prior_x, f_scale=START_SCALE, ftol=10 * tolerance, **options)
    result = least_squares(residuals, start.x, f_scale=LOSS_SCALE, ftol=tolerance, **options)
    return Fit(slots, result.x, prior_x, int(usable.sum()), float(result.cost))
