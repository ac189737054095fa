"""Write docs/accuracy.md and its predicted-versus-measured plot: `python -m llmsizer.calibration.report`.

Every figure in the report is computed here from the shipped measurements: the documented priors,
the fit on every row (in-sample), 5-fold and leave-one-source-out cross-validation.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import numpy as np

from .calibrate import SCHEMES, Calibration, calibrate, write_levels
from .fit import product_class
from .measurements import Rows, prepare_rows, read_measurements
from .scoring import score_table

COLUMNS = ["rows", "male_pct", "median_ape_pct", "p90_ape_pct", "within_20_pct", "bias_pct"]
HEADERS = ["rows", "mean abs log error", "median abs error", "p90 abs error", "within 20%", "bias"]


def markdown_table(table, by: str) -> str:
    lines = ["| " + " | ".join([by] + HEADERS) + " |", "|" + "---|" * (len(HEADERS) + 1)]
    for _, row in table.iterrows():
        cells = [str(row[by]), str(int(row["rows"]))] + [f"{row[c]:.1f}%" if c != "bias_pct" else f"{row[c]:+.1f}%"
                                                        for c in COLUMNS[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def scatter(cal: Calibration, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frame = cal.rows.frame
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.5))
    panels = ((axes[0], frame["kind"] != "throughput", "latency metrics (TTFT, TPOT, e2e)", "ms"),
              (axes[1], frame["kind"] == "throughput", "throughput", "output tokens/s"))
    hardware = sorted(frame["hardware"].unique())
    palette = plt.get_cmap("tab20").colors
    colours = {hw: palette[i % len(palette)] for i, hw in enumerate(hardware)}
    for ax, mask, title, unit in panels:
        mask = mask.to_numpy()
        measured = frame["value"].to_numpy(float)
        for hw in hardware:
            pick = mask & (frame["hardware"].to_numpy() == hw) & np.isfinite(cal.k_fold)
            ax.scatter(measured[pick], cal.k_fold[pick], s=22, color=colours[hw], label=hw, alpha=0.85)
        lo, hi = np.nanmin(measured[mask]) / 1.5, np.nanmax(measured[mask]) * 1.5
        ax.plot([lo, hi], [lo, hi], color="black", lw=1)
        ax.fill_between([lo, hi], [lo / 1.2, hi / 1.2], [lo * 1.2, hi * 1.2], color="grey", alpha=0.15, label="within 20%")
        ax.set(xscale="log", yscale="log", xlim=(lo, hi), ylim=(lo, hi), title=title,
               xlabel=f"measured ({unit})", ylabel=f"predicted, out of sample ({unit})")
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("llmsizer: predicted (5-fold out-of-sample) vs measured, one colour per accelerator")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


#: fitted fractions this close to 0 or 1 count as at a bound of their range
NEAR_BOUND = 0.03


def _at_bounds(fitted) -> list[str]:
    """Fitted fractions within NEAR_BOUND of 0 or 1 (seconds have no bound in their log space)."""
    out = []
    for r in fitted.itertuples():
        if not r.parameter.endswith("_s") and (r.fitted < NEAR_BOUND or r.fitted > 1 - NEAR_BOUND):
            documented = r.prior < NEAR_BOUND or r.prior > 1 - NEAR_BOUND
            why = (" (documented there: the engine version's source states it, and the fit keeps it)" if documented
                   else " (no physical reason: a sign of what the model misses)")
            out.append(f"`{r.parameter}` at {r.level} level ({r.key}): {r.fitted:.3g}{why}")
    return out


def _scheme_section(cal: Calibration, title: str, predictions, coverage: float | None) -> list[str]:
    frame = cal.rows.frame
    lines = [f"## {title}", "", markdown_table(score_table(frame, predictions, "kind"), "kind"), ""]
    if coverage is not None:
        lines += [f"Rows inside their 80% band (cross-fitted): {coverage:.0f}%.", ""]
    for by, name in (("family", "accelerator family"), ("hardware", "accelerator"), ("engine_family", "engine family"),
                     ("engine", "engine version"), ("source", "source")):
        lines += [f"By {name}:", "", markdown_table(score_table(frame, predictions, by), by), ""]
    return lines


def source_disagreement(frame, predictions: dict):
    """For each accelerator measured by more than one source, each source's predicted time over
    its measured time (geometric mean; a throughput row counts as its inverse) under each set of
    `predictions` (title -> array over the frame's rows). Where sources disagree on a chip, one
    fitted level cannot serve both: the chip's level is a compromise, and the source far from it
    says what a user's setup may differ by."""
    import pandas as pd

    scored = (frame["error"] == "").to_numpy()
    measured = frame["value"].to_numpy(float)
    sign = np.where(frame["kind"].to_numpy() == "throughput", -1.0, 1.0)
    several = frame[scored].groupby("hardware")["source"].nunique()
    out = []
    for (hardware, source), index in frame[scored].groupby(["hardware", "source"], sort=True).indices.items():
        if several[hardware] < 2:
            continue
        rows = np.flatnonzero(scored)[index]
        entry = {"hardware": hardware, "source": source, "rows": len(rows)}
        for title, predicted in predictions.items():
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = sign[rows] * np.log(np.asarray(predicted, dtype=float)[rows] / measured[rows])
            entry[title] = float(np.exp(np.mean(ratio[np.isfinite(ratio)]))) if np.isfinite(ratio).any() else np.nan
        out.append(entry)
    return pd.DataFrame(out, columns=["hardware", "source", "rows", *predictions])


def _disagreement_section(cal: Calibration) -> list[str]:
    table = source_disagreement(cal.rows.frame, {"in sample": cal.in_sample, "5-fold": cal.k_fold})
    return [
        "## Where sources disagree on a chip",
        "",
        "Each source's predicted time over its measured time (geometric mean over its rows; a throughput row "
        "counts as its inverse; above 1: predicted slower than measured), on every accelerator that more than one "
        "source measured. One fitted level per chip cannot serve sources that disagree; the spread says how far "
        "a setup (testbed, driver, engine build) can move a chip's figures.",
        "",
        "| accelerator | source | rows | in sample | 5-fold |", "|---|---|---|---|---|",
        *[f"| {r.hardware} | {r.source[:70]} | {r.rows} | {r[3]:.2f} | {r[4]:.2f} |"
          for r in table.itertuples(index=False)],
        "",
    ]


def _limits(rows: Rows) -> list[str]:
    """What the data cannot tell apart, counted from the rows themselves."""
    frame = rows.frame
    classes = Counter()
    for g in rows.groups:
        classes[product_class(g.prepared.scenario.precisions)] += len(g.positions)
    counts = frame["source"].value_counts()
    scored = frame[frame["error"] == ""]  # a row that could not be estimated names no family
    single = sorted(family for family, sources in scored.groupby("family")["source"].nunique().items() if sources == 1)
    engines = scored.groupby("engine")["source"].nunique()
    return [
        f"- Few, uneven sources: {counts.iloc[0]} of {len(frame)} rows come from one source ({counts.index[0]}); "
        f"{len(counts)} sources in all.",
        "- Accelerator families measured by one source only (leaving that source out predicts them from the shared "
        "level): " + (", ".join(single) or "none") + ".",
        "- Engine versions measured by one source only: " + ", ".join(sorted(engines[engines == 1].index)) + ".",
        f"- The fp4 class (fp4 weights and activations) is fitted on {classes['fp4']} rows of one chip; weight-only "
        f"products ({classes['weight_only']} rows) are not fitted and keep their documented shared value; both move "
        "with each chip's fitted matrix offset.",
        "- Accelerator families without rows take the level of the family whose kernels they run (`nearest`), else "
        "the shared level; engine families without rows the shared level; both moved by their documented "
        "difference, with the widest band.",
    ]


def report(cal: Calibration, image: str) -> str:
    frame = cal.rows.frame
    headline = {attribute: score_table(frame, getattr(cal, attribute), "kind").iloc[-1] for _, attribute, _ in SCHEMES}
    prior_all = score_table(frame, cal.prior, "kind").iloc[-1]
    fitted = cal.fit.table()
    bounded = _at_bounds(fitted)
    bands = cal.bands()
    smaller = frame[(frame["error"] == "") & (frame["batch_run"] < frame["batch_size"])]
    failed = frame[frame["error"] != ""]
    sections = [
        "# Accuracy",
        "",
        "Generated by `make accuracy` (`python -m llmsizer.calibration.report`) from the shipped measurement set "
        f"({len(frame)} rows, `src/llmsizer/data/validation/`); every number below is recomputed by that command, "
        "and `llmsizer validate` prints the same out-of-sample figures.",
        "",
        "**Out of sample, mean absolute log error: "
        + "; ".join(f"{title} {headline[attribute]['male_pct']:.1f}% ({cal.coverage(attribute):.0f}% of rows inside "
                    "their 80% band)" for title, attribute, _ in SCHEMES)
        + f".** With the documented priors and no fit at all: {prior_all['male_pct']:.1f}%.",
        "",
        "Mean absolute log error = exp(mean |ln(predicted / measured)|) - 1; bias = exp(mean ln(predicted / "
        "measured)) - 1 (positive: predictions too high). TTFT includes prefill-latency rows, TPOT decode-step rows. "
        "5-fold: each row predicted by a fit that did not see it. Leave one source out: each publication "
        "predicted from the others (its engine version is then usually unmeasured). Leave one accelerator out: "
        "each chip predicted from its family's and the shared levels.",
        "",
        f"![predicted vs measured]({image})",
        "",
        *_scheme_section(cal, "Out of sample, 5-fold", cal.k_fold, cal.coverage("k_fold")),
        *_scheme_section(cal, "Out of sample, leave one source out", cal.leave_source_out,
                         cal.coverage("leave_source_out")),
        *_scheme_section(cal, "Out of sample, leave one accelerator out", cal.leave_hardware_out,
                         cal.coverage("leave_hardware_out")),
        "## In sample (the shipped fitted levels, fitted on every row)",
        "", markdown_table(score_table(frame, cal.in_sample, "kind"), "kind"), "",
        "## Documented priors, before any calibration",
        "", markdown_table(score_table(frame, cal.prior, "kind"), "kind"), "",
        "## Error bands",
        "",
        "Log half-width of the 80% band per metric (a band of x/÷ exp(width)); e2e latency and throughput share "
        "one, as a static batch's throughput is batch x output / e2e.",
        "",
        "| case | ttft | tpot | e2e_latency | throughput | basis |", "|---|---|---|---|---|---|",
        *[f"| {case} | " + " | ".join(f"{entry['width'][k]:.3f}" for k in ("ttft", "tpot", "e2e_latency", "throughput"))
          + f" | {entry['basis']} |" for case, entry in bands.items()],
        "",
        "## Fitted parameters by level",
        "",
        "Shared -> accelerator family -> chip for efficiencies, shared -> engine family -> engine version for "
        "overheads. A chip or engine version without rows takes its nearest fitted level, moved by its documented "
        "difference from it.",
        "",
        "| parameter | level | for | prior | fitted |", "|---|---|---|---|---|",
        *[f"| {r.parameter} | {r.level} | {r.key} | {r.prior:.4g} | {r.fitted:.4g} |" for r in fitted.itertuples()],
        "",
        "Fitted values within 3% of a bound of their range: "
        + ("; ".join(bounded) if bounded else "none") + ".",
        "",
        "## Rows scored at a smaller batch",
        "",
        f"{len(smaller)} rows state a batch whose KV cache does not fit the device by llmsizer's memory accounting; "
        "they are scored at the largest batch that fits (the engine must have run fewer requests at once), an "
        "end-to-end latency as that of the waves of it the stated batch takes one after another: "
        + ", ".join(f"`{r['id']}` ({r['batch_size']:g} -> {r['batch_run']:g})" for _, r in smaller.iterrows()) + ".",
        "",
        f"Rows that could not be estimated: {len(failed)}.",
        "",
        *_disagreement_section(cal),
        "## What limits the figures",
        "",
        *_limits(cal.rows),
    ]
    return "\n".join(sections) + "\n"


def main(out: str = "docs", levels: str | None = None) -> None:
    """Write the accuracy report to `out`; with `levels`, also the fitted levels to that folder
    from the same calibration (what `make calibrate` writes), so one run serves both."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rows = prepare_rows(read_measurements())
    cal = calibrate(rows, folds=5, progress=lambda message: print(f"{message} ...", file=sys.stderr))
    scatter(cal, folder / "accuracy.png")
    (folder / "accuracy.md").write_text(report(cal, "accuracy.png"))
    print(f"wrote {folder / 'accuracy.md'} and {folder / 'accuracy.png'}")
    if levels is not None:
        print(f"wrote {write_levels(cal, Path(levels), 'the shipped measurement set')}")


if __name__ == "__main__":
    main(*sys.argv[1:])
