"""Commands over CSV tables of scenarios and measurements: `predict`, `validate`, `calibrate`."""

from __future__ import annotations

import sys

import click

from .common import OutputFile, console, table


@click.command()
@click.argument("input_csv", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "output_csv", required=True, type=OutputFile((".csv",)),
              help="Where to write the predictions.")
@click.option("--profile", help="Use this profile for every row instead of the one its framework names.")
def predict(input_csv, output_csv, profile):
    """Predict every row of a CSV (the columns of the measurement set); never stops on a bad row.
    The file streams through in chunks, so its length is bounded by disk, not memory."""
    import time

    from ..inference.predict import predict_file

    start = time.perf_counter()
    with click.progressbar(length=0, label="rows", show_pos=True, file=sys.stderr) as bar:
        counts = predict_file(input_csv, output_csv, profile=profile, progress=lambda done: bar.update(done - bar.pos))
    elapsed = time.perf_counter() - start
    rows = counts["rows"]
    click.echo(f"{rows} rows in {elapsed:.2f} s ({rows / max(elapsed, 1e-9):,.0f} rows/s); "
               f"{counts['errors']} could not be estimated (see pred_error); {counts['default_profile']} used the "
               f"default profile (see pred_engine) -> {output_csv}")


def score_tables(out, title: str, frame, predicted, by: str):
    """The error table of predictions against the measured rows, grouped by `by`."""
    from ..calibration.scoring import score_table

    scores = score_table(frame, predicted, by)
    out.print(table(title, [by, "rows", "mean abs log err", "median abs err", "p90 abs err", "within 20%", "bias"],
                    [[r[by], r["rows"], f"{r['male_pct']:.1f}%", f"{r['median_ape_pct']:.1f}%",
                      f"{r['p90_ape_pct']:.1f}%", f"{r['within_20_pct']:.0f}%", f"{r['bias_pct']:+.1f}%"]
                     for _, r in scores.iterrows()]))


def read_rows(data):
    """The measured rows of `data` (a CSV path, or the shipped set), prepared for prediction."""
    from ..calibration.measurements import prepare_rows, read_measurements

    return prepare_rows(read_measurements(data))


def report_skipped(out, rows):
    """Rows that could not be estimated, and rows scored at a smaller batch than they state."""
    frame = rows.frame
    failed = frame[frame["error"] != ""]
    if len(failed):
        out.print(f"[red]{len(failed)} rows could not be estimated[/] (not scored):")
        for _, r in failed.iterrows():
            out.print(f"  {r.get('id', '')}: {r['error']}")
    smaller = frame[(frame["error"] == "") & (frame["batch_run"] < frame["batch_size"])]
    if len(smaller):
        out.print(f"{len(smaller)} rows state a batch that does not fit; scored at the largest that fits (an e2e latency "
                  "over the waves of it the batch takes): "
                  + ", ".join(f"{r.get('id', '')} ({r['batch_size']:g} -> {r['batch_run']:g})"
                              for _, r in smaller.iterrows()))


data_flag = click.option("--data", type=click.Path(exists=True, dir_okay=False),
                         help="Measurements CSV [default: the shipped set].")


@click.command()
@data_flag
@click.option("--by", type=click.Choice(["kind", "metric", "family", "hardware", "engine_family", "engine", "source",
                                         "model"]), default="kind", show_default=True,
              help="Group the error tables by this column (kind: ttft, tpot, e2e_latency, throughput).")
@click.option("--uncalibrated", is_flag=True, help="Use the documented prior profiles instead of the fitted ones.")
@click.option("--quick", is_flag=True, help="In-sample table only: skip the out-of-sample fits (minutes).")
def validate(data, by, uncalibrated, quick):
    """Predict every measured row; print in-sample and out-of-sample (5-fold, leave one source out,
    leave one accelerator out) error per metric, with the coverage of the 80% bands."""
    from ..calibration import validation

    out = console()
    rows = read_rows(data)
    predictions, cal = [validation.in_sample(rows, uncalibrated)], None
    if not quick:
        cal, more = validation.out_of_sample(rows, progress=lambda m: out.print(f"[dim]{m} ...[/]"))
        predictions += more
    for title, pred in predictions:
        score_tables(out, f"{len(rows.frame)} rows, {title}", rows.frame, pred, by)
    out.print(table("mean absolute log error", validation.SUMMARY_COLUMNS, validation.summary(rows, predictions, cal)))
    report_skipped(out, rows)


@click.command()
@data_flag
@click.option("--hardware", "hardware_name", help="Fit only rows on this accelerator.")
@click.option("--engine", help="Fit only rows of this engine profile (trtllm, vllm, ...).")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(min=2), help="Folds of the k-fold cross-validation.")
@click.option("-o", "--output", "folder", default="profiles", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the fitted profile files (one per engine, plus default).")
def calibrate(data, hardware_name, engine, folds, folder):
    """Fit efficiency profiles to measurements; report in-sample and out-of-sample error."""
    from pathlib import Path

    import numpy as np

    from ..calibration.calibrate import calibrate as run
    from ..calibration.calibrate import write_profiles
    from ..hardware.zoo import load_accelerator

    out = console()
    rows = read_rows(data)
    mask = np.ones(len(rows.frame), dtype=bool)
    if hardware_name:
        mask &= rows.frame["hardware"].map(lambda h: load_accelerator(h).name).to_numpy() == load_accelerator(hardware_name).name
    if engine:
        mask &= ((rows.frame["engine"] == engine) | (rows.frame["engine_family"] == engine)).to_numpy()
    if not mask.any():
        raise click.UsageError("no measured rows match --hardware/--engine")
    rows = rows.subset(mask)
    result = run(rows, folds, progress=lambda message: out.print(f"[dim]{message} ...[/]"))
    fitted = result.fit.table()
    out.print(table("fitted parameters", ["parameter", "level", "for", "prior", "fitted"],
                    [[r.parameter, r.level, r.key, f"{r.prior:.4g}", f"{r.fitted:.4g}"] for r in fitted.itertuples()]))
    frame = rows.frame
    for title, pred in (("documented priors", result.prior), ("in-sample (fit on every row)", result.in_sample),
                        (f"out-of-sample: {folds}-fold", result.k_fold),
                        ("out-of-sample: leave one source out", result.leave_source_out),
                        ("out-of-sample: leave one accelerator out", result.leave_hardware_out)):
        score_tables(out, title, frame, pred, "kind")
    report_skipped(out, rows)
    source = f"{data or 'the shipped measurement set'}" + (f" ({hardware_name})" if hardware_name else "") + \
        (f" ({engine})" if engine else "")
    paths = write_profiles(result, Path(folder), source)
    out.print(f"wrote {', '.join(str(p) for p in paths)}; use one with --profile")
