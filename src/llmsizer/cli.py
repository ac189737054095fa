"""The `llmsizer` command line. Heavy libraries (numpy, pandas, rich) load inside commands."""

from __future__ import annotations

import json
import sys

import click

from .errors import LlmsizerError

PRECISIONS = ["fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]
#: names of the quantisation presets (kept here so --help needs no import of the precision module)
QUANT_PRESETS = ["bf16", "fp8", "fp8-kv16", "int8", "w8a16", "awq-int4", "gptq-int4", "nvfp4", "mxfp4", "kv-fp8",
                 "kv-int4"]


def _console():
    """A console for tables: the terminal's width, or 160 columns when output goes to a pipe or file."""
    from rich.console import Console

    console = Console()
    return console if console.is_terminal else Console(width=160)


def _table(title: str, columns: list[str], rows: list[list], justify_right: bool = True):
    from rich.table import Table

    table = Table(title=title, title_justify="left", show_edge=False)
    for i, col in enumerate(columns):
        table.add_column(col, justify="right" if justify_right and i else "left")
    for row in rows:
        table.add_row(*[str(x) for x in row])
    return table


class _Group(click.Group):
    """Turn user-fixable errors into one clear line and exit status 2, never a traceback."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except LlmsizerError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(package_name="llmsizer")
def main():
    """Predict LLM inference latency, throughput and memory on AI platforms."""


def _workload_options(f):
    for option in reversed([
        click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1), help="Requests in the static batch (of each data-parallel replica)."),
        click.option("--input", "input_len", default=1024, show_default=True, type=click.IntRange(min=1), help="Prompt tokens per request."),
        click.option("--output", "output_len", default=256, show_default=True, type=click.IntRange(min=1), help="Generated tokens per request."),
    ]):
        f = option(f)
    return f


def _scenario_options(f):
    for option in reversed([
        click.option("--model", "-m", required=True, help="Zoo name, Hugging Face id, or path to a config.json."),
        click.option("--hardware", "-H", help="Accelerator name or alias (see `llmsizer hardware`), or a YAML file."),
        click.option("--system", "-s", help="Built-in system (see `llmsizer hardware --systems`) or a YAML file, instead of --hardware."),
        click.option("--devices", "-n", type=click.IntRange(min=1), help="Devices in use [default: tp x pp x cp x dp, or the whole --system]; extra ones run data-parallel replicas."),
        click.option("--tp", default=1, show_default=True, type=click.IntRange(min=1), help="Tensor-parallel degree."),
        click.option("--pp", default=1, show_default=True, type=click.IntRange(min=1), help="Pipeline-parallel degree."),
        click.option("--ep", default=1, show_default=True, type=click.IntRange(min=1), help="Expert-parallel degree: dividing tp, experts sit in the TP group; a multiple of tp, they span the DP replicas (all-to-all)."),
        click.option("--dp", type=click.IntRange(min=1), help="Data-parallel replicas [default: devices / (tp x pp x cp)]."),
        click.option("--cp", default=1, show_default=True, type=click.IntRange(min=1), help="Context-parallel degree (ring attention over a prompt's tokens)."),
        click.option("--microbatches", type=click.IntRange(min=1), help="Pipeline micro-batches [default: pp]."),
        click.option("--order", help="Network order of the groups, innermost first [default: tp,cp,pp,dp]."),
        click.option("--moe-imbalance", default=1.0, show_default=True, type=click.FloatRange(min=1.0), help="Busiest expert device's tokens over the average (1: uniform routing)."),
        click.option("--weight-precision", default="bf16", show_default=True, type=click.Choice(PRECISIONS + [p for p in QUANT_PRESETS if p not in PRECISIONS]), help="Weight precision or quantisation preset (fp8/int8 run W8A8; int4/fp4 weight-only; a format the chip cannot compute runs weight-only)."),
        click.option("--kv-precision", type=click.Choice(PRECISIONS), help="KV-cache precision [default: the weights' for fp8/16-bit, else bf16]."),
        click.option("--quant", type=click.Choice(list(QUANT_PRESETS)), help="Named quantisation scheme setting weights, activations, KV and scales (overrides --weight-precision)."),
    ]):
        f = option(f)
    return f


def _economics(est, price) -> dict:
    """Energy per token where the accelerator states its TDP, and $ per million tokens given a price."""
    import numpy as np

    from .economics import cost_per_million_tokens, energy_per_token

    out = {}
    if np.all(np.asarray(est.scenario.system.accelerator.tdp_w) > 0):
        energy = energy_per_token(est)
        out.update(energy_j_per_token=float(energy.joules_per_token), average_power_w=float(energy.average_power_w))
    if price is not None:
        out["usd_per_million_tokens"] = float(cost_per_million_tokens(est.throughput, est.scenario.plan.devices, price))
    return out


def _order(text):
    return tuple(part.strip() for part in text.split(",")) if text else None


def _require_target(hardware, system):
    if (hardware is None) == (system is None):
        raise click.UsageError("give exactly one of --hardware or --system")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def models(as_json):
    """List the built-in models."""
    from .models.params import parameter_count
    from .models.zoo import list_models

    rows = []
    for entry in list_models():
        count = parameter_count(entry.model())
        rows.append({"name": entry.name, "hf_id": entry.hf_id, "aliases": list(entry.aliases),
                     "parameters": count.total, "active_parameters": count.active, "source": entry.source})
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _console().print(_table(f"{len(rows)} models", ["name", "Hugging Face id", "params (B)", "active (B)"],
                            [[r["name"], r["hf_id"], f"{r['parameters'] / 1e9:.2f}", f"{r['active_parameters'] / 1e9:.2f}"]
                             for r in rows]))


@main.command()
@click.option("--systems", is_flag=True, help="List systems (accelerators plus their network) instead.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def hardware(systems, as_json):
    """List the built-in accelerators (or systems)."""
    from .hardware.zoo import list_accelerators, list_systems

    if systems:
        rows = [{"name": s.name, "aliases": list(s.aliases), "accelerator": s.accelerator.name,
                 "devices": s.num_devices, "network": [{"name": d.name, "size": d.size, "gb_s": d.bandwidth / 1e9,
                                                        "latency_us": d.latency * 1e6, "topology": d.topology}
                                                       for d in s.network], "source": s.source}
                for s in list_systems()]
        if as_json:
            click.echo(json.dumps(rows, indent=2))
            return
        _console().print(_table(f"{len(rows)} systems", ["name", "accelerator", "devices", "network (inner to outer)"],
                                [[r["name"], r["accelerator"], r["devices"],
                                  " x ".join(f"{d['size']} {d['name']} {d['gb_s']:.0f} GB/s" for d in r["network"])]
                                 for r in rows]))
        return
    rows = [{"name": a.name, "aliases": list(a.aliases), "vendor": a.vendor,
             "peak_tflops": {k: v / 1e12 for k, v in a.peak_flops.items()}, "memory_gib": a.memory_capacity / 2**30,
             "memory_tb_s": a.memory_bandwidth / 1e12, "tdp_w": a.tdp_w, "source": a.source}
            for a in list_accelerators()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _console().print(_table(f"{len(rows)} accelerators", ["name", "vendor", "bf16/fp16 TFLOP/s", "fp8 TFLOP/s", "memory GiB", "TB/s"],
                            [[r["name"], r["vendor"], f"{r['peak_tflops'].get('bf16') or r['peak_tflops'].get('fp16', 0):.0f}",
                              f"{r['peak_tflops'].get('fp8', 0):.0f}" if "fp8" in r["peak_tflops"] else "-",
                              f"{r['memory_gib']:.3g}", f"{r['memory_tb_s']:.2f}"] for r in rows]))


@main.command()
@_scenario_options
@_workload_options
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def memory(model, hardware, system, devices, tp, pp, ep, dp, cp, microbatches, order, moe_imbalance, weight_precision,
           kv_precision, quant, batch, input_len, output_len, as_json):
    """Memory per device: weights, KV cache, activations, reserve; fits or not; largest batch."""
    _require_target(hardware, system)
    from .inference.scenario import scenario
    from .inference.memory import RESERVE_FIXED_BYTES, RESERVE_FRACTION, memory_breakdown

    sc = scenario(model, hardware, system=system, devices=devices, tp=tp, pp=pp, ep=ep, dp=dp, cp=cp,
                  microbatches=microbatches, order=_order(order), moe_imbalance=moe_imbalance,
                  weight_precision=weight_precision, kv_precision=kv_precision, quant=quant)
    mem = memory_breakdown(sc.model, sc.plan, sc.precisions, sc.system.accelerator.memory_capacity,
                           batch, input_len, output_len)
    data = {
        "model": sc.model.name, "hardware": sc.system.accelerator.name,
        "plan": {"tp": sc.plan.tp, "pp": sc.plan.pp, "ep": sc.plan.ep, "dp": sc.plan.dp, "cp": sc.plan.cp},
        "precisions": {"weights": sc.precisions.weights, "kv_cache": sc.precisions.kv_cache,
                       "activations": sc.precisions.activations},
        "weights_gb": mem.weights / 1e9, "kv_cache_gb": float(mem.kv_cache) / 1e9,
        "activations_gb": float(mem.activations) / 1e9, "runtime_reserve_gb": mem.reserve / 1e9,
        "total_gb": float(mem.total) / 1e9, "capacity_gb": mem.capacity / 1e9,
        "fits": bool(mem.fits), "max_batch": int(mem.max_batch),
    }
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console = _console()
    console.print(f"[bold]{sc.model.name}[/] on {sc.system.accelerator.name}, tp={tp} pp={pp} ep={ep} "
                  f"dp={sc.plan.dp} cp={cp}, "
                  f"weights {sc.precisions.weights}, KV {sc.precisions.kv_cache}; batch {batch} x "
                  f"({input_len} + {output_len}) tokens")
    console.print(_table("memory per device", ["part", "GB"], [
        ["weights", f"{data['weights_gb']:.2f}"], ["KV cache / state", f"{data['kv_cache_gb']:.2f}"],
        ["peak activations", f"{data['activations_gb']:.2f}"],
        [f"runtime reserve ({RESERVE_FIXED_BYTES / 2**30:.0f} GiB + {RESERVE_FRACTION:.0%} of capacity)", f"{data['runtime_reserve_gb']:.2f}"],
        ["total", f"{data['total_gb']:.2f}"], ["capacity", f"{data['capacity_gb']:.2f}"]]))
    verdict = "[green]fits[/]" if data["fits"] else "[red]does not fit[/]"
    console.print(f"{verdict}; largest batch that fits: {data['max_batch']}")


def _serving_options(f):
    for option in reversed([
        click.option("--samples", default=1, show_default=True, type=click.IntRange(min=1), help="Sequences per request sharing the prompt's KV cache (parallel sampling or beams)."),
        click.option("--cached-prefix", default=0, show_default=True, type=click.IntRange(min=0), help="Prompt tokens already in the prefix cache (their prefill is skipped)."),
        click.option("--chunk", type=click.IntRange(min=1), help="Chunked prefill: prompt tokens per step, mixed with --background decodes."),
        click.option("--background", default=0, show_default=True, type=click.IntRange(min=0), help="Requests already decoding while a chunked prefill runs."),
        click.option("--draft", help="Speculative decoding: a draft model, or 'heads' for self-drafting heads (MTP, Medusa)."),
        click.option("--draft-tokens", type=click.IntRange(min=1), help="Tokens the draft proposes per step."),
        click.option("--acceptance", type=click.FloatRange(0.0, 1.0), help="Per-token acceptance rate of the draft (required with --draft; no default)."),
        click.option("--draft-tp", default=1, show_default=True, type=click.IntRange(min=1), help="Tensor-parallel degree of a draft model."),
        click.option("--draft-layers", default=1.0, show_default=True, type=click.FloatRange(min=0.0), help="Cost of one self-drafting proposal, in target layers."),
        click.option("--offload", type=click.Choice(["weights", "kv"]), help="Keep what does not fit in host memory and stream it over the host link."),
        click.option("--prefill-devices", type=click.IntRange(min=1), help="Disaggregated serving: devices of a separate prefill pool (the other options describe the decode pool)."),
        click.option("--prefill-tp", default=1, show_default=True, type=click.IntRange(min=1), help="Tensor-parallel degree of the prefill pool."),
    ]):
        f = option(f)
    return f


@main.command()
@_scenario_options
@_workload_options
@_serving_options
@click.option("--engine", "-e", help="Serving engine profile: trtllm, vllm, sglang, lmdeploy, hf [default: default].")
@click.option("--profile", help="Efficiency profile YAML file (overrides --engine).")
@click.option("--price", type=click.FloatRange(min=0.0), help="Price per device-hour ($): adds $ per million output tokens.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw time per block and the operators' roofline to this PNG or SVG.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--breakdown", is_flag=True, help="Also print the per-operator table.")
def estimate(model, hardware, system, devices, tp, pp, ep, dp, cp, microbatches, order, moe_imbalance,
             weight_precision, kv_precision, quant, batch, input_len, output_len, samples, cached_prefix, chunk,
             background, draft, draft_tokens, acceptance, draft_tp, draft_layers, offload, prefill_devices,
             prefill_tp, engine, profile, price, plot, as_json, breakdown):
    """TTFT, TPOT, end-to-end latency, throughput and memory of one static batch."""
    _require_target(hardware, system)
    from .inference.estimate import estimate as run
    from .inference.report import block_summary

    est = run(model, hardware, system=system, devices=devices, tp=tp, pp=pp, ep=ep, dp=dp, cp=cp,
              microbatches=microbatches, order=_order(order), moe_imbalance=moe_imbalance,
              weight_precision=weight_precision, kv_precision=kv_precision, quant=quant, engine=engine, profile=profile,
              batch=batch, input=input_len, output=output_len, samples=samples, cached_prefix=cached_prefix,
              chunk=chunk, background=background, draft=draft, draft_tokens=draft_tokens, acceptance=acceptance,
              draft_tp=draft_tp, draft_layers=draft_layers, offload=offload, prefill_devices=prefill_devices,
              prefill_tp=prefill_tp)
    data = est.to_dict()
    frame = est.breakdown()
    data.update(_economics(est, price))
    if plot:
        from .search.plots import estimate_plot

        acc = est.scenario.system.accelerator
        estimate_plot(frame, acc.peak(est.scenario.precisions.activations), acc.memory_bandwidth, plot,
                      f"{data['model']} on {data['system']}, batch {batch}, {input_len} in / {output_len} out")
        data["plot"] = plot
    if as_json:
        if breakdown:
            data["breakdown"] = frame.to_dict(orient="records")
        click.echo(json.dumps(data, indent=2))
        return
    console = _console()
    plan = data["plan"]
    console.print(f"[bold]{data['model']}[/] on {data['system']} ({data['devices']} devices: tp={plan['tp']} "
                  f"pp={plan['pp']} ep={plan['ep']} dp={plan['dp']} cp={plan['cp']}), weights {data['precisions']['weights']}, "
                  f"activations {data['precisions']['activations']}, KV {data['precisions']['kv_cache']}, "
                  f"profile {data['profile']}")
    if "note" in data["precisions"]:
        console.print(f"[yellow]{data['precisions']['note']}[/]")
    console.print(f"batch {batch}, {input_len} prompt tokens, {output_len} output tokens")
    mem = data["memory_breakdown_gb"]
    bands = data["bands"]

    def band(key, digits):
        low, high = bands[key]
        return f"{low:.{digits}f} - {high:.{digits}f}"

    console.print(_table("metrics", ["metric", "value", "~80% band", "bound by"], [
        ["time to first token", f"{data['ttft_ms']:.2f} ms", band("ttft_ms", 2), data["prefill_bound"]],
        ["time per output token", f"{data['tpot_ms']:.2f} ms", band("tpot_ms", 2), data["decode_bound"]],
        ["end-to-end latency", f"{data['e2e_latency_ms']:.1f} ms", band("e2e_latency_ms", 1), ""],
        ["throughput", f"{data['throughput_tokens_per_s']:.1f} tokens/s", band("throughput_tokens_per_s", 1), ""],
        ["memory per device", f"{data['memory_per_device_gb']:.1f} of {mem['capacity']:.1f} GB "
                              f"(weights {mem['weights']:.1f}, KV {mem['kv_cache']:.1f}, "
                              f"activations {mem['activations']:.1f}, reserve {mem['runtime_reserve']:.1f})", "", ""],
        ["fits", "yes" if data["fits"] else f"NO: largest batch that fits is {data['max_batch']}", "", ""],
        *([["energy", f"{data['energy_j_per_token']:.3g} J per output token "
                      f"({data['average_power_w']:.0f} W per device)", "", ""]] if "energy_j_per_token" in data else []),
        *([["cost", f"${data['usd_per_million_tokens']:.3g} per million output tokens", "", ""]]
          if "usd_per_million_tokens" in data else []),
    ]))
    console.print(f"[dim]band: {data['band_basis']}[/]")
    for name, values in data["serving"].items():
        console.print(_table(name.replace("_", " "), ["", "value"],
                             [[key.replace("_", " "), f"{value:.4g}" if isinstance(value, float) else value]
                              for key, value in values.items()]))
    summary = block_summary(frame)
    console.print(_table("time by block (ms per step)", ["phase", "block", "ms"],
                         [[r.phase, r.block, f"{r.time_ms:.3f}"] for r in summary.itertuples()]))
    if breakdown:
        console.print(_table("operators", ["phase", "operator", "count", "GFLOP", "MB", "message MB", "ms", "share",
                                           "bound", "algorithm"],
                             [[r.phase, r.operator, f"{r.count:g}", f"{r.gflop:.2f}", f"{r.mbytes:.1f}",
                               f"{r.message_mb:.2f}" if r.message_mb else "", f"{r.time_ms:.3f}", f"{r.share:.1%}",
                               r.bound, r.algorithm] for r in frame.itertuples()]))


@main.command()
@click.argument("input_csv", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "output_csv", required=True, type=click.Path(dir_okay=False), help="Where to write the predictions.")
@click.option("--profile", help="Use this profile for every row instead of the one its framework names.")
def predict(input_csv, output_csv, profile):
    """Predict every row of a CSV (the columns of the measurement set); never stops on a bad row."""
    import time

    import pandas as pd

    from .inference.predict import predict as run

    frame = pd.read_csv(input_csv)
    start = time.perf_counter()
    out = run(frame, profile=profile)
    elapsed = time.perf_counter() - start
    out.to_csv(output_csv, index=False)
    failed = int((out["pred_error"] != "").sum())
    defaulted = int(out["pred_engine"].str.startswith("default").sum())
    click.echo(f"{len(out)} rows in {elapsed:.2f} s ({len(out) / max(elapsed, 1e-9):,.0f} rows/s); "
               f"{failed} could not be estimated (see pred_error); {defaulted} used the default profile "
               f"(see pred_engine) -> {output_csv}")


def _score_tables(console, title: str, frame, predicted, by: str):
    from .calibration.scoring import score_table

    table = score_table(frame, predicted, by)
    console.print(_table(title, [by, "rows", "mean abs log err", "median abs err", "p90 abs err", "within 20%", "bias"],
                         [[r[by], r["rows"], f"{r['male_pct']:.1f}%", f"{r['median_ape_pct']:.1f}%",
                           f"{r['p90_ape_pct']:.1f}%", f"{r['within_20_pct']:.0f}%", f"{r['bias_pct']:+.1f}%"]
                          for _, r in table.iterrows()]))


def _read_rows(data):
    from .calibration.measurements import prepare_rows, read_measurements

    return prepare_rows(read_measurements(data))


def _report_skipped(console, rows):
    frame = rows.frame
    failed = frame[frame["error"] != ""]
    if len(failed):
        console.print(f"[red]{len(failed)} rows could not be estimated[/] (not scored):")
        for _, r in failed.iterrows():
            console.print(f"  {r.get('id', '')}: {r['error']}")
    smaller = frame[(frame["error"] == "") & (frame["batch_run"] < frame["batch_size"])]
    if len(smaller):
        console.print(f"{len(smaller)} rows state a batch that does not fit; scored at the largest that fits: "
                      + ", ".join(f"{r.get('id', '')} ({r['batch_size']:g} -> {r['batch_run']:g})"
                                  for _, r in smaller.iterrows()))


@main.command()
@click.option("--data", type=click.Path(exists=True, dir_okay=False), help="Measurements CSV [default: the shipped set].")
@click.option("--by", type=click.Choice(["kind", "metric", "hardware", "source", "model", "engine"]), default="kind",
              show_default=True, help="Group the error table by this column (kind: ttft, tpot, e2e_latency, throughput).")
@click.option("--uncalibrated", is_flag=True, help="Use the documented prior profiles instead of the fitted ones.")
def validate(data, by, uncalibrated):
    """Predict every measured row and print the error per metric and overall."""
    from .calibration.measurements import predicted
    from .cost.profile import load_profile

    console = _console()
    rows = _read_rows(data)
    pred = predicted(rows, lambda engine, hw: load_profile(engine, hw, fitted=not uncalibrated))
    which = "documented priors (uncalibrated)" if uncalibrated else "fitted profiles (in-sample where the data is the shipped set)"
    _score_tables(console, f"{len(rows.frame)} rows, {which}", rows.frame, pred, by)
    _report_skipped(console, rows)


@main.command()
@click.option("--data", type=click.Path(exists=True, dir_okay=False), help="Measurements CSV [default: the shipped set].")
@click.option("--hardware", "hardware_name", help="Fit only rows on this accelerator.")
@click.option("--engine", help="Fit only rows of this engine profile (trtllm, vllm, ...).")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(min=2), help="Folds of the k-fold cross-validation.")
@click.option("-o", "--output", "folder", default="profiles", show_default=True, type=click.Path(file_okay=False),
              help="Folder for the fitted profile files (one per engine, plus default).")
def calibrate(data, hardware_name, engine, folds, folder):
    """Fit efficiency profiles to measurements; report in-sample and out-of-sample error."""
    from pathlib import Path

    import numpy as np

    from .calibration.calibrate import calibrate as run
    from .calibration.calibrate import write_profiles
    from .hardware.zoo import load_accelerator

    console = _console()
    rows = _read_rows(data)
    mask = np.ones(len(rows.frame), dtype=bool)
    if hardware_name:
        mask &= rows.frame["hardware"].map(lambda h: load_accelerator(h).name).to_numpy() == load_accelerator(hardware_name).name
    if engine:
        mask &= rows.frame["engine"].to_numpy() == engine
    if not mask.any():
        raise click.UsageError("no measured rows match --hardware/--engine")
    rows = rows.subset(mask)
    result = run(rows, folds, progress=lambda message: console.print(f"[dim]{message} ...[/]"))
    table = result.fit.table()
    console.print(_table("fitted parameters", ["parameter", "level", "for", "prior", "fitted"],
                         [[r.parameter, r.level, r.key, f"{r.prior:.4g}", f"{r.fitted:.4g}"] for r in table.itertuples()]))
    frame = rows.frame
    for title, pred in (("documented priors", result.prior), ("in-sample (fit on every row)", result.in_sample),
                        (f"out-of-sample: {folds}-fold", result.k_fold),
                        ("out-of-sample: leave one source out", result.leave_source_out)):
        _score_tables(console, title, frame, pred, "kind")
    _report_skipped(console, rows)
    source = f"{data or 'the shipped measurement set'}" + (f" ({hardware_name})" if hardware_name else "") + \
        (f" ({engine})" if engine else "")
    paths = write_profiles(result, Path(folder), source)
    console.print(f"wrote {', '.join(str(p) for p in paths)}; use one with --profile")


@main.command()
@click.option("--model", "-m", required=True, help="Zoo name, Hugging Face id, or path to a config.json.")
@click.option("--system", "-s", required=True, help="Built-in system or a YAML system file.")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1), help="Concurrent requests on the whole system, split across replicas.")
@click.option("--input", "input_len", default=1024, show_default=True, type=click.IntRange(min=1), help="Prompt tokens per request.")
@click.option("--output", "output_len", default=256, show_default=True, type=click.IntRange(min=1), help="Generated tokens per request.")
@click.option("--weight-precision", default="bf16", show_default=True, type=click.Choice(PRECISIONS), help="Weight precision.")
@click.option("--kv-precision", type=click.Choice(PRECISIONS), help="KV-cache precision [default: as for estimate].")
@click.option("--engine", "-e", help="Serving engine profile [default: default].")
@click.option("--max-cp", default=1, show_default=True, type=click.IntRange(min=1), help="Largest context-parallel degree to try.")
@click.option("--objective", default="throughput-per-device", show_default=True,
              type=click.Choice(["ttft", "tpot", "throughput-per-device"]), help="What ranks the plans.")
@click.option("--top", default=20, show_default=True, type=click.IntRange(min=1), help="Plans to show.")
@click.option("--json", "as_json", is_flag=True, help="Print every valid plan as JSON.")
def plans(model, system, batch, input_len, output_len, weight_precision, kv_precision, engine, max_cp, objective,
          top, as_json):
    """Every valid parallel plan of a model on a system, best first; plans that do not fit say why."""
    from .search.plans import ranked, search_plans

    results = search_plans(model, system, batch=batch, input=input_len, output=output_len, max_cp=max_cp,
                           weight_precision=weight_precision, kv_precision=kv_precision, engine=engine)
    frame = ranked(results, objective)
    if as_json:
        click.echo(frame.to_json(orient="records", indent=2))
        return
    invalid = sum(r.estimate is None for r in results)
    console = _console()
    console.print(f"{len(frame)} valid plans ({invalid} candidates break a rule of the model or network); "
                  f"{int(frame['fits'].sum())} fit; ranked by {objective}, batch {batch} on the whole system")
    console.print(_table("plans", ["tp", "pp", "ep", "dp", "cp", "TTFT ms", "TPOT ms", "tok/s/device", "GB/device", "fits"],
                         [[r.tp, r.pp, r.ep, r.dp, r.cp, f"{r.ttft_ms:.1f}", f"{r.tpot_ms:.2f}",
                           f"{r.throughput_per_device:.1f}", f"{r.memory_per_device_gb:.1f}", "yes" if r.fits else f"no: {r.why}"]
                          for r in frame.head(top).itertuples()]))


@main.command()
@click.argument("spec_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", "output_file", type=click.Path(dir_okay=False),
              help="Write the results: .parquet, .csv or .json [default: print a summary only].")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(min=1), help="Local threads evaluating chunks.")
@click.option("--dask", "dask_address", help="Run the chunks on a Dask cluster at this scheduler address instead.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def sweep(spec_file, output_file, workers, dask_address, quiet):
    """Evaluate the product of a sweep spec's axes (YAML), one row per configuration."""
    import time

    from .search.sweep import parse_spec, run_sweep

    spec = parse_spec(spec_file)
    console = _console()
    console.print(f"{spec.size:,} configurations: {len(spec.structural)} structural combinations x "
                  f"{spec.numeric_size:,} numeric points")
    client = None
    if dask_address:
        try:
            from dask.distributed import Client
        except ImportError:
            raise click.UsageError("--dask needs dask: pip install 'llmsizer[distributed]'") from None
        client = Client(dask_address)
    start = time.perf_counter()
    frame, skipped = run_sweep(spec, progress=not quiet, workers=workers, dask_client=client)
    elapsed = time.perf_counter() - start
    for combo, why in skipped:
        console.print(f"[yellow]skipped[/] {', '.join(f'{k}={v}' for k, v in combo.items() if v is not None)}: {why}")
    console.print(f"{len(frame):,} configurations in {elapsed:.2f} s ({len(frame) / max(elapsed, 1e-9):,.0f}/s); "
                  f"{int(frame['fits'].sum()) if len(frame) else 0:,} fit")
    if output_file:
        _write_frame(frame, output_file)
        console.print(f"wrote {output_file}")


def _write_frame(frame, path: str):
    if path.endswith(".parquet"):
        frame.to_parquet(path, index=False)
    elif path.endswith(".csv"):
        frame.to_csv(path, index=False)
    elif path.endswith(".json"):
        frame.to_json(path, orient="records")
    else:
        raise click.UsageError("the output file must end in .parquet, .csv or .json")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")
def usecases(as_json):
    """List the built-in use cases with their lengths and latency targets."""
    from .usecases import list_usecases

    rows = [{"name": u.name, "input": u.input_tokens, "output": u.output_tokens, "ttft_slo_ms": u.ttft_slo_s * 1e3,
             "tpot_slo_ms": u.tpot_slo_s * 1e3, "description": u.description, "source": u.source} for u in list_usecases()]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    _console().print(_table(f"{len(rows)} use cases", ["name", "input", "output", "TTFT SLO ms", "TPOT SLO ms", "description"],
                            [[r["name"], r["input"], r["output"], f"{r['ttft_slo_ms']:g}", f"{r['tpot_slo_ms']:g}",
                              r["description"]] for r in rows]))


def _study_options(f):
    for option in reversed([
        click.option("--model", "-m", required=True, help="Zoo name, Hugging Face id, or path to a config.json."),
        click.option("--usecase", "-u", required=True, help="Built-in use case (see `llmsizer usecases`) or a YAML file."),
        click.option("--weight-precision", default="bf16", show_default=True, type=click.Choice(PRECISIONS), help="Weight precision."),
        click.option("--kv-precision", type=click.Choice(PRECISIONS), help="KV-cache precision [default: as for estimate]."),
        click.option("--engine", "-e", help="Serving engine profile [default: default]."),
        click.option("--plot", type=click.Path(dir_okay=False), help="Also draw the study's plot to this PNG or SVG file."),
    ]):
        f = option(f)
    return f


@main.command()
@_study_options
@click.option("--hardware", "-H", help="Accelerator (with --devices and --tp/--pp).")
@click.option("--system", "-s", help="Built-in system or YAML file, instead of --hardware.")
@click.option("--devices", "-n", type=click.IntRange(min=1), help="Devices [default: tp x pp, or the whole --system].")
@click.option("--tp", default=1, show_default=True, type=click.IntRange(min=1), help="Tensor-parallel degree.")
@click.option("--pp", default=1, show_default=True, type=click.IntRange(min=1), help="Pipeline-parallel degree.")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1), help="Requests per replica.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def requirements(model, usecase, weight_precision, kv_precision, engine, plot, hardware, system, devices, tp, pp, batch,
                 as_json):
    """The least compute, memory bandwidth and capacity, link bandwidth (and the largest link latency)
    per device that meet a use case's TTFT and TPOT targets; sensitivities and the bottleneck."""
    _require_target(hardware, system)
    import numpy as np

    from .inference.scenario import scenario
    from .inference.workload import Workload
    from .search.requirements import operating_point, requirements as find, ttft_tpot_grid
    from .usecases import load_usecase

    case = load_usecase(usecase)
    sc = scenario(model, hardware, system=system, devices=devices, tp=tp, pp=pp, weight_precision=weight_precision,
                  kv_precision=kv_precision, engine=engine)
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
        from .search.plots import heat_map

        scales = np.geomspace(1 / 8, 8, 41)
        _, tpot = ttft_tpot_grid(sc, work, scales, scales)
        acc = sc.system.accelerator
        heat_map(scales, scales, tpot, case.tpot_slo_s * 1e3, plot,
                 f"{sc.model.name}, {case.name} on {sc.system.name}: TPOT",
                 (acc.peak("bf16") / 1e12, acc.memory_bandwidth / 1e12))
        data["plot"] = plot
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    console = _console()
    console.print(f"[bold]{sc.model.name}[/] on {sc.system.name} for [bold]{case.name}[/] ({case.input_tokens} in, "
                  f"{case.output_tokens} out, batch {batch}): TTFT <= {case.ttft_slo_s * 1e3:g} ms, TPOT <= "
                  f"{case.tpot_slo_s * 1e3:g} ms")
    console.print(f"at the datasheet: TTFT {point['ttft_ms']:.1f} ms ({point['prefill_bound']}-bound), TPOT "
                  f"{point['tpot_ms']:.2f} ms ({point['decode_bound']}-bound), {point['memory_per_device_gb']:.1f} GB "
                  f"per device, {'fits' if point['fits'] else 'does not fit'}")

    def shown(r):
        if r.required is None:
            return "not reachable by this resource alone"
        if not r.binding:
            return f"not binding (met from {r.required:.3g})" if r.resource != "link_latency" else f">= {r.required:.3g}"
        return f"{r.required:.3g}"

    console.print(_table("requirements per device (the other resources at the datasheet)",
                         ["resource", "unit", "datasheet", "required", "TTFT %/%", "TPOT %/%"],
                         [[r.resource, r.unit, f"{r.datasheet:.3g}", shown(r), f"{r.ttft_sensitivity:+.2f}",
                           f"{r.tpot_sensitivity:+.2f}"] for r in found]))
    if plot:
        console.print(f"plot: {plot}")


@main.command()
@_study_options
@click.option("--hardware", "-H", required=True, help="Accelerator to size the platform with.")
@click.option("--max-devices", default=64, show_default=True, type=click.IntRange(min=1), help="Largest device count (powers of two).")
@click.option("--price", type=click.FloatRange(min=0.0), help="Price per device-hour ($) for $ per million tokens.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def search(model, usecase, weight_precision, kv_precision, engine, plot, hardware, max_devices, price, as_json):
    """Best plan and batch per device count for a use case (goodput), the minimum platform, and
    the Pareto front of throughput per device against tokens per second per user."""
    from .search.goodput import minimum_devices, pareto_front, search as run, summary
    from .usecases import load_usecase

    case = load_usecase(usecase)
    frame = run(model, hardware, case, max_devices, weight_precision=weight_precision, kv_precision=kv_precision,
                engine=engine)
    best, front, least = summary(frame), pareto_front(frame), minimum_devices(frame)
    if price is not None and "throughput_per_device" in best:
        from .economics import cost_per_million_tokens

        best = best.assign(usd_per_million_tokens=cost_per_million_tokens(best["throughput_per_device"], 1, price))
    if plot:
        from .search.plots import pareto_plot

        pareto_plot(frame, front, plot, f"{model} for {case.name} on {hardware}: throughput per device vs per user")
    if as_json:
        click.echo(json.dumps({"minimum_devices": least, "best": best.to_dict(orient="records"),
                               "pareto_front": front.to_dict(orient="records"), "plot": plot}, indent=2, default=str))
        return
    console = _console()
    console.print(f"{len(frame)} configurations ({model}, {case.name}: TTFT <= {case.ttft_slo_s * 1e3:g} ms, TPOT <= "
                  f"{case.tpot_slo_s * 1e3:g} ms); minimum platform: "
                  + (f"{least} x {hardware}" if least else f"none up to {max_devices} devices meets the targets"))
    columns = ["devices", "tp", "pp", "ep", "dp", "batch_per_replica", "ttft_ms", "tpot_ms", "throughput_per_device",
               "tokens_per_s_per_user"]
    if "devices" in best:
        extra = ["usd_per_million_tokens"] if "usd_per_million_tokens" in best else []
        console.print(_table("best goodput", columns + extra,
                             [[f"{row[c]:.4g}" if isinstance(row[c], float) else row[c] for c in columns + extra]
                              for _, row in best.iterrows()]))
    console.print(_table("Pareto front (fitting configurations)", columns,
                         [[f"{row[c]:.4g}" if isinstance(row[c], float) else row[c] for c in columns]
                          for _, row in front.iterrows()]))
    if plot:
        console.print(f"plot: {plot}")


@main.command()
@_study_options
@click.option("--system", "-s", "systems", multiple=True, required=True, help="A system to compare (repeat the option).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def compare(model, usecase, weight_precision, kv_precision, engine, plot, systems, as_json):
    """One use case across several systems side by side: each system's best goodput configuration."""
    from .search.goodput import compare as run
    from .usecases import load_usecase

    case = load_usecase(usecase)
    frame = run(model, systems, case, weight_precision=weight_precision, kv_precision=kv_precision, engine=engine)
    if as_json:
        click.echo(frame.to_json(orient="records", indent=2))
        return
    columns = [c for c in ("system", "devices", "tp", "pp", "ep", "dp", "batch_per_replica", "ttft_ms", "tpot_ms",
                           "throughput_per_device", "meets_slo") if c in frame]
    _console().print(_table(f"{model} for {case.name}: best configuration per system", columns,
                            [["-" if (isinstance(row[c], float) and row[c] != row[c]) else
                              (f"{row[c]:.4g}" if isinstance(row[c], float) else row[c]) for c in columns]
                             for _, row in frame.iterrows()]))


def _register_web_app():
    """The web app's command lives with the app (its heavy imports load only when it runs)."""
    from .web.command import app

    main.add_command(app)


_register_web_app()
