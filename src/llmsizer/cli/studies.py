"""Platform studies: `plans`, `sweep`, `requirements`, `search` and `compare`."""

from __future__ import annotations

import click

from ..inference.fields import MAX_SEARCH_DEVICES
from .common import PLOT_FILE, FiniteRange, OutputFile, console, echo_json, table
from .flags import named_flags


@click.command()
@named_flags("model")
@click.option("--system", "-s", required=True, help="Built-in system or a YAML system file.")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1), help="Concurrent requests on the whole system, split across replicas.")
@named_flags("input", "output", "weight_precision", "kv_precision", "engine")
@click.option("--max-cp", default=1, show_default=True, type=click.IntRange(min=1), help="Largest context-parallel degree to try.")
@click.option("--objective", default="throughput-per-device", show_default=True,
              type=click.Choice(["ttft", "tpot", "throughput-per-device"]), help="What ranks the plans.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1), help="Plans to show.")
@click.option("--json", "as_json", is_flag=True, help="Print every valid plan as JSON.")
def plans(model, system, batch, input, output, weight_precision, kv_precision, engine, max_cp, objective, top, as_json):
    """Every valid parallel plan of a model on a system, best first; plans that do not fit say why."""
    from ..search.plans import ranked, search_plans

    results = search_plans(model, system, batch=batch, input=input, output=output, max_cp=max_cp,
                           weight_precision=weight_precision, kv_precision=kv_precision, engine=engine)
    frame = ranked(results, objective)
    if as_json:
        click.echo(frame.to_json(orient="records", indent=2))
        return
    invalid = sum(r.estimate is None for r in results)
    out = console()
    out.print(f"{len(frame)} valid plans ({invalid} candidates break a rule of the model or network); "
              f"{int(frame['fits'].sum())} fit; ranked by {objective}, batch {batch} on the whole system")
    out.print(table("plans", ["tp", "pp", "ep", "dp", "cp", "TTFT ms", "TPOT ms", "tok/s/device", "GB/device", "fits"],
                    [[r.tp, r.pp, r.ep, r.dp, r.cp, f"{r.ttft_ms:.1f}", f"{r.tpot_ms:.2f}",
                      f"{r.throughput_per_device:.1f}", f"{r.memory_per_device_gb:.1f}", "yes" if r.fits else f"no: {r.why}"]
                     for r in frame.head(top).itertuples()]))


@click.command()
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "output_file", type=OutputFile((".parquet", ".csv", ".json")),
              help="Write the results: .parquet, .csv or .json [default: print a summary only].")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Local threads evaluating chunks.")
@click.option("--dask", "dask_address", help="Run the chunks on a Dask cluster at this scheduler address instead.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@click.option("--force", is_flag=True, help="Run a sweep larger than the stated bound (see docs/reliability.md).")
def sweep(spec_file, output_file, workers, dask_address, quiet, force):
    """Evaluate the product of a sweep spec's axes (YAML), one row per configuration."""
    import time

    from ..search.sweep import parse_spec, read_spec, run_sweep, sweep_frames

    out = console()
    if {"rate", "concurrency"} & set(read_spec(spec_file)):  # load axes: the request simulator, a run per row
        from ..serving.capacity import spec_sweep

        frame = spec_sweep(read_spec(spec_file), force=force)
        write_frames([frame], output_file)
        out.print(f"{len(frame):,} load points simulated" + (f"; wrote {output_file}" if output_file else ""))
        return
    spec = parse_spec(spec_file, force=force)
    out.print(f"{spec.size:,} configurations: {len(spec.structural)} structural combinations x "
              f"{spec.numeric_size:,} numeric points")
    start = time.perf_counter()
    if dask_address:
        try:
            from dask.distributed import Client
        except ImportError:
            raise click.UsageError("--dask needs dask: pip install 'llmsizer[distributed]'") from None
        frames = [run_sweep(spec, progress=not quiet, dask_client=Client(dask_address))[0]]
    else:
        frames = sweep_frames(spec, progress=not quiet, workers=workers)
    rows, fitting = write_frames(frames, output_file)
    elapsed = time.perf_counter() - start
    for combo, why in spec.skipped:
        out.print(f"[yellow]skipped[/] {', '.join(f'{k}={v}' for k, v in combo.items() if v is not None)}: {why}")
    out.print(f"{rows:,} configurations in {elapsed:.2f} s ({rows / max(elapsed, 1e-9):,.0f}/s); {fitting:,} fit")
    if output_file:
        out.print(f"wrote {output_file}")


def write_frames(frames, path: str | None) -> tuple[int, int]:
    """Write the sweep's chunks as they come, as the file's extension says (.parquet row groups,
    .csv appended, .json one array gathered at the end), and count the rows and those that fit;
    with no file, only count. Only a .json file holds the whole sweep in memory."""
    import pandas as pd

    suffix = path.lower().rsplit(".", 1)[-1] if path else None
    rows = fitting = 0
    writer, gathered = None, []
    for frame in frames:
        if suffix == "parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.Table.from_pandas(frame, preserve_index=False)
            writer = writer or pq.ParquetWriter(path, table.schema)
            writer.write_table(table)
        elif suffix == "csv":
            frame.to_csv(path, index=False, mode="a" if rows else "w", header=not rows)
        elif suffix == "json":
            gathered.append(frame)
        rows += len(frame)
        fitting += int(frame["fits"].sum()) if len(frame) else 0
    if writer is not None:
        writer.close()
    elif suffix == "json":
        (pd.concat(gathered, ignore_index=True) if gathered else pd.DataFrame()).to_json(path, orient="records")
    elif suffix and not rows:  # nothing evaluated: an empty file of the format asked for
        getattr(pd.DataFrame(), "to_parquet" if suffix == "parquet" else "to_csv")(path, index=False)
    return rows, fitting


def study_flags(command):
    """The model, use case, precisions, engine and plot file every study takes."""
    command = click.option("--plot", type=PLOT_FILE,
                           help="Also draw the study's plot to this PNG or SVG file.")(command)
    command = named_flags("weight_precision", "kv_precision", "engine")(command)
    command = click.option("--usecase", "-u", required=True,
                           help="Built-in use case (see `llmsizer usecases`) or a YAML file.")(command)
    return named_flags("model")(command)


@click.command()
@study_flags
@named_flags("hardware", "system", "devices", "tp", "pp")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1), help="Requests per replica.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def requirements(model, usecase, weight_precision, kv_precision, engine, plot, hardware, system, devices, tp, pp, batch,
                 as_json):
    """The least compute, memory bandwidth and capacity, link bandwidth (and the largest link latency)
    per device that meet a use case's TTFT and TPOT targets; sensitivities and the bottleneck."""
    if (hardware is None) == (system is None):
        raise click.UsageError("give exactly one of --hardware or --system")
    import numpy as np

    from ..inference.options import Deployment
    from ..inference.workload import Workload
    from ..search.requirements import operating_point, requirements as find, ttft_tpot_grid
    from ..usecases import load_usecase

    case = load_usecase(usecase)
    sc = Deployment(model, hardware, system=system, devices=devices, tp=tp, pp=pp, weight_precision=weight_precision,
                    kv_precision=kv_precision, engine=engine).resolve()
    work = Workload(batch, case.input_tokens, case.output_tokens)
    found = find(sc, work, case.ttft_slo_s, case.tpot_slo_s)
    point = operating_point(sc, work)
    data = {"model": sc.model.name, "system": sc.system.name, "usecase": case.name,
            "slo": {"ttft_ms": case.ttft_slo_s * 1e3, "tpot_ms": case.tpot_slo_s * 1e3},
            "workload": {"batch": batch, "input": case.input_tokens, "output": case.output_tokens},
            "operating_point": point,
            "requirements": [{"resource": r.resource, "unit": r.unit, "datasheet": r.datasheet, "required": r.required,
                              "binding": r.binding, "ttft_pct_per_pct": r.ttft_sensitivity,
                              "tpot_pct_per_pct": r.tpot_sensitivity} for r in found]}
    if plot:
        from ..search.plots import heat_map

        scales = np.geomspace(1 / 8, 8, 41)
        _, tpot = ttft_tpot_grid(sc, work, scales, scales)
        acc = sc.system.accelerator
        heat_map(scales, scales, tpot, case.tpot_slo_s * 1e3, plot,
                 f"{sc.model.name}, {case.name} on {sc.system.name}: TPOT",
                 (acc.peak("bf16") / 1e12, acc.memory_bandwidth / 1e12))
        data["plot"] = plot
    if as_json:
        echo_json(data)
        return
    out = console()
    out.print(f"[bold]{sc.model.name}[/] on {sc.system.name} for [bold]{case.name}[/] ({case.input_tokens} in, "
              f"{case.output_tokens} out, batch {batch}): TTFT <= {case.ttft_slo_s * 1e3:g} ms, TPOT <= "
              f"{case.tpot_slo_s * 1e3:g} ms")
    out.print(f"at the datasheet: TTFT {point['ttft_ms']:.1f} ms ({point['prefill_bound']}-bound), TPOT "
              f"{point['tpot_ms']:.2f} ms ({point['decode_bound']}-bound), {point['memory_per_device_gb']:.1f} GB "
              f"per device, {'fits' if point['fits'] else 'does not fit'}")

    def shown(r):
        if r.required is None:
            return "not reachable by this resource alone"
        if not r.binding:
            return f"not binding (met from {r.required:.3g})" if r.resource != "link_latency" else f">= {r.required:.3g}"
        return f"{r.required:.3g}"

    out.print(table("requirements per device (the other resources at the datasheet)",
                    ["resource", "unit", "datasheet", "required", "TTFT %/%", "TPOT %/%"],
                    [[r.resource, r.unit, f"{r.datasheet:.3g}", shown(r), f"{r.ttft_sensitivity:+.2f}",
                      f"{r.tpot_sensitivity:+.2f}"] for r in found]))
    if plot:
        out.print(f"plot: {plot}")


def shown_cell(value):
    """A table cell: floats to four significant digits, NaN (no value) as a dash."""
    if isinstance(value, float):
        return "-" if value != value else f"{value:.4g}"
    return value


@click.command()
@study_flags
@click.option("--hardware", "-H", required=True, help="Accelerator to size the platform with.")
@click.option("--max-devices", default=64, show_default=True, type=click.IntRange(1, MAX_SEARCH_DEVICES),
              help="Largest device count (powers of two).")
@click.option("--price", type=FiniteRange(min=0.0), help="Price per device-hour ($) for $ per million tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def search(model, usecase, weight_precision, kv_precision, engine, plot, hardware, max_devices, price, as_json):
    """Best plan and batch per device count for a use case (goodput), the minimum platform, and
    the Pareto front of throughput per device against tokens per second per user."""
    from ..search.goodput import minimum_devices, pareto_front, search as run, summary
    from ..usecases import load_usecase

    case = load_usecase(usecase)
    frame = run(model, hardware, case, max_devices, weight_precision=weight_precision, kv_precision=kv_precision,
                engine=engine)
    best, front, least = summary(frame), pareto_front(frame), minimum_devices(frame)
    if price is not None and "throughput_per_device" in best:
        from ..economics import cost_per_million_tokens

        best = best.assign(usd_per_million_tokens=cost_per_million_tokens(best["throughput_per_device"], 1, price))
    if plot:
        from ..search.plots import pareto_plot

        pareto_plot(frame, front, plot, f"{model} for {case.name} on {hardware}: throughput per device vs per user")
    if as_json:
        echo_json({"minimum_devices": least, "best": best.to_dict(orient="records"),
                   "pareto_front": front.to_dict(orient="records"), "plot": plot}, default=str)
        return
    out = console()
    out.print(f"{len(frame)} configurations ({model}, {case.name}: TTFT <= {case.ttft_slo_s * 1e3:g} ms, TPOT <= "
              f"{case.tpot_slo_s * 1e3:g} ms); minimum platform: "
              + (f"{least} x {hardware}" if least else f"none up to {max_devices} devices meets the targets"))
    columns = ["devices", "tp", "pp", "ep", "dp", "batch_per_replica", "ttft_ms", "tpot_ms", "throughput_per_device",
               "tokens_per_s_per_user"]
    if "devices" in best:
        extra = ["usd_per_million_tokens"] if "usd_per_million_tokens" in best else []
        out.print(table("best goodput", columns + extra,
                        [[shown_cell(row[c]) for c in columns + extra] for _, row in best.iterrows()]))
    out.print(table("Pareto front (fitting configurations)", columns,
                    [[shown_cell(row[c]) for c in columns] for _, row in front.iterrows()]))
    if plot:
        out.print(f"plot: {plot}")


@click.command()
@study_flags
@click.option("--system", "-s", "systems", multiple=True, required=True, help="A system to compare (repeat the option).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare(model, usecase, weight_precision, kv_precision, engine, plot, systems, as_json):
    """One use case across several systems side by side: each system's best goodput configuration."""
    from ..search.goodput import compare as run
    from ..usecases import load_usecase

    case = load_usecase(usecase)
    frame = run(model, systems, case, weight_precision=weight_precision, kv_precision=kv_precision, engine=engine)
    if as_json:
        click.echo(frame.to_json(orient="records", indent=2))
        return
    columns = [c for c in ("system", "devices", "tp", "pp", "ep", "dp", "batch_per_replica", "ttft_ms", "tpot_ms",
                           "throughput_per_device", "meets_slo") if c in frame]
    console().print(table(f"{model} for {case.name}: best configuration per system", columns,
                          [[shown_cell(row[c]) for c in columns] for _, row in frame.iterrows()]))
