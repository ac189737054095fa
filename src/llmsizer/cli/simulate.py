"""`simulate`: serving under load, one scenario from flags or a table of scenarios from a CSV."""

from __future__ import annotations

import sys
from dataclasses import fields

import click

from ..serving.schedulers import ENGINES
from .common import console, echo_json, table
from .flags import click_option, named_flags

SLO_FLAGS = {"slo_ttft_ms": "ttft_ms", "slo_itl_ms": "itl_ms", "slo_e2e_ms": "e2e_latency_ms"}


def prefill_pool_flags(command):
    from ..inference.options import Serving

    for spec in reversed([s for s in fields(Serving) if s.name in ("prefill_devices", "prefill_tp")]):
        command = click_option(spec.name, spec)(command)
    return command


@click.command()
@click.argument("scenarios_csv", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--out", "output_csv", type=click.Path(dir_okay=False),
              help="With SCENARIOS.csv: where to write the rows with their simulated columns.")
@click.option("-m", "--model", help="Zoo name, Hugging Face id, or path to a config.json (not with SCENARIOS.csv).")
@named_flags("hardware", "system", "devices", "tp", "pp", "ep", "dp", "moe_imbalance", "weight_precision",
             "kv_precision", "activation_precision", "quant", "engine", "profile", "compiled_batch", "compiled_sequence",
             "eager")
@prefill_pool_flags
@click.option("--concurrency", type=click.IntRange(1), help="Closed loop: clients each sending a request when the last is answered.")
@click.option("--rate", type=click.FloatRange(0, min_open=True), help="Open loop: requests per second.")
@click.option("--offline", is_flag=True, help="Every request at time 0 [default without --concurrency or --rate].")
@click.option("--requests", default=1000, show_default=True, type=click.IntRange(1), help="Requests in the run.")
@click.option("--arrival", type=click.Choice(["poisson", "gamma"]), default="poisson", show_default=True,
              help="Gaps between arrivals at --rate.")
@click.option("--burstiness", default=1.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="Gamma shape of the gaps (below 1: burstier; 1 is Poisson).")
@click.option("--input", default=1024, show_default=True, type=click.IntRange(1), help="Mean prompt tokens.")
@click.option("--output", default=256, show_default=True, type=click.IntRange(1), help="Mean output tokens.")
@click.option("--lengths", type=click.Choice(["fixed", "uniform", "normal", "lognormal"]), default="fixed",
              show_default=True, help="Distribution of the lengths around --input and --output.")
@click.option("--spread", default=0.5, show_default=True, type=click.FloatRange(0), help="Coefficient of variation of the lengths.")
@click.option("--prefix-tokens", default=0, show_default=True, type=click.IntRange(0), help="Shared prompt prefix tokens (a system prompt).")
@click.option("--prefix-groups", default=1, show_default=True, type=click.IntRange(1), help="Distinct shared prefixes.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--trace", type=click.Path(exists=True, dir_okay=False), help="CSV or JSONL of requests (arrival, input, output) to replay instead.")
@click.option("--scheduler", type=click.Choice(ENGINES),
              help="Engine scheduler [default: compiled with --compiled-batch or --compiled-sequence, else the "
                   "--engine's, else vllm].")
@click.option("--max-num-batched-tokens", type=click.IntRange(1), help="Tokens per step [default: the engine's].")
@click.option("--max-num-seqs", type=click.IntRange(1), help="Running requests [default: the engine's].")
@click.option("--block-size", type=click.IntRange(1), help="Tokens per KV block [default: the engine's].")
@click.option("--prefix-caching/--no-prefix-caching", default=None, help="[default: the engine's]")
@click.option("--preemption", type=click.Choice(["recompute", "swap"]), default="recompute", show_default=True,
              help="A preempted decode's cache: prefilled again, or swapped to host memory and back.")
@click.option("--router", type=click.Choice(["round_robin", "least_outstanding"]), default="round_robin",
              show_default=True, help="How data-parallel replicas share the requests.")
@click.option("--slo-ttft-ms", type=float, help="Goodput: TTFT limit.")
@click.option("--slo-itl-ms", type=float, help="Goodput: inter-token latency limit.")
@click.option("--slo-e2e-ms", type=float, help="Goodput: end-to-end latency limit.")
@click.option("--saturation", is_flag=True, help="Also find the saturation rate (bisection on the rate).")
@click.option("--limit", "limits", multiple=True, metavar="STAT=MS",
              help="A percentile SLO for --find, e.g. ttft_ms_p99=500 or itl_ms_p90=50 (repeatable).")
@click.option("--find", type=click.Choice(["max-rate", "max-concurrency"]),
              help="The most load (requests/s, or clients) whose run meets every --limit.")
@click.option("--sweep-rates", help="Comma-separated rates: one run each, a row each.")
@click.option("--sweep-concurrency", help="Comma-separated concurrencies: one run each, a row each.")
@click.option("--plot", type=click.Path(dir_okay=False), help="Draw the timeline (batch, queue, KV use, TTFT) to this PNG.")
@click.option("--requests-csv", type=click.Path(dir_okay=False), help="Write every request's timings to this CSV.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def simulate(scenarios_csv, output_csv, **values):
    """Serve a stream of requests on an engine, step by step: TTFT, ITL and e2e percentiles,
    throughput, goodput and saturation. With SCENARIOS.csv -o OUT.csv, simulate every row."""
    if scenarios_csv:
        if not output_csv:
            raise click.UsageError("give -o OUT.csv with SCENARIOS.csv")
        return _table(scenarios_csv, output_csv)
    if values["model"] is None or (values["hardware"] is None) == (values["system"] is None):
        raise click.UsageError("give --model and exactly one of --hardware or --system (or a SCENARIOS.csv)")
    _one(**values)


def _table(scenarios_csv, output_csv):
    import pandas as pd

    from ..serving.table import simulate_table

    frame = pd.read_csv(scenarios_csv, keep_default_na=False)
    with click.progressbar(length=len(frame), label="scenarios", file=sys.stderr) as bar:
        result = simulate_table(frame, progress=lambda done: bar.update(done - bar.pos))
    result.to_csv(output_csv, index=False)
    failed = int((result["sim_error"] != "").sum())
    click.echo(f"{len(result)} scenarios, {failed} could not be simulated (see sim_error) -> {output_csv}")


def _one(plot, requests_csv, as_json, saturation, trace, router, limits, find, sweep_rates, sweep_concurrency,
         **values):
    from ..serving.simulate import find_saturation, simulate

    slo = {name: values.pop(flag) for flag, name in SLO_FLAGS.items() if values.get(flag) is not None}
    for flag in SLO_FLAGS:
        values.pop(flag, None)
    options = {k: v for k, v in values.items() if v is not None and (k != "offline" or v)}
    if find or sweep_rates or sweep_concurrency:
        return _study(options, limits, find, sweep_rates, sweep_concurrency, as_json)
    total = options["requests"] if trace is None else None
    with click.progressbar(length=total or 0, label="requests", file=sys.stderr,
                           hidden=total is None or total < 5000 or as_json) as bar:
        result = simulate(trace=trace, router=router, slo=slo or None,
                          progress=lambda done: bar.update(done - bar.pos) if done % 500 == 0 else None, **options)
    data = {**result.to_dict()}
    if saturation:
        found = find_saturation(**{k: v for k, v in options.items() if k != "requests"}, requests=min(total or 2000, 2000))
        data["saturation_rate_per_s"] = found.rate
    if plot:
        result.plot(plot)
        data["plot"] = plot
    if requests_csv:
        result.requests_frame().to_csv(requests_csv, index=False)
        data["requests_csv"] = requests_csv
    if as_json:
        echo_json(data)
        return
    _print(data)


def _print(data):
    s, limits = data["summary"], data["scheduler"]
    out = console()
    out.print(f"{s['completed']} of {s['requests']} requests in {s['duration_s']:.1f} s; scheduler "
              + ", ".join(f"{k}={v}" for k, v in limits.items()))
    out.print(table("latency (ms)", ["metric", "mean", "p50", "p90", "p95", "p99"], [
        [name, *(f"{s[f'{key}_ms_{stat}']:.1f}" for stat in ("mean", "p50", "p90", "p95", "p99"))]
        for name, key in (("TTFT", "ttft"), ("ITL", "itl"), ("e2e", "e2e_latency"))]))
    rows = [["output tokens/s", f"{s['output_throughput_tokens_per_s']:.1f}"],
            ["requests/s", f"{s['request_throughput_per_s']:.2f}"], ["preemptions", s["preemptions"]]]
    if "goodput_requests_per_s" in s:
        rows.append(["goodput (requests/s within SLOs)", f"{s['goodput_requests_per_s']:.2f}"])
    if "saturation_rate_per_s" in data:
        rows.append(["saturation rate (requests/s)", f"{data['saturation_rate_per_s']:.2f}"])
    out.print(table("throughput", ["", "value"], rows))


def _numbers(text, kind):
    try:
        return [kind(x) for x in text.split(",") if x.strip()] if text else []
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of numbers") from None


def _study(options, limits, find, sweep_rates, sweep_concurrency, as_json):
    """A load sweep, or the most load meeting percentile SLOs."""
    from ..serving import capacity

    load = {k: options.pop(k) for k in ("rate", "concurrency", "offline") if k in options}
    if find:
        if load:
            raise click.UsageError("--find searches the load itself: drop --rate, --concurrency and --offline")
        search = capacity.max_rate if find == "max-rate" else capacity.max_concurrency
        found = search(limits=capacity.parse_limits(limits), **options)
        unit = "requests/s" if find == "max-rate" else "clients"
        data = {"find": find, "limits": capacity.parse_limits(limits), "load": found.load,
                "per_device": found.per_device, "runs": found.runs, "summary": found.summary}
        if as_json:
            echo_json(data)
        else:
            click.echo(f"{find}: {found.load:.4g} {unit} ({found.per_device:.4g} per device) meets "
                       + ", ".join(limits) + f" ({found.runs} runs of {options['requests']} requests)")
        return
    frame = capacity.load_sweep(rates=_numbers(sweep_rates, float), concurrencies=_numbers(sweep_concurrency, int),
                                **options)
    if as_json:
        echo_json(frame.to_dict(orient="records"))
        return
    columns = [c for c in ("rate", "concurrency") if c in frame] + [
        "ttft_ms_p50", "ttft_ms_p99", "itl_ms_p50", "itl_ms_p99", "output_throughput_tokens_per_s"]
    console().print(table("load sweep", columns, [["" if row[c] != row[c] else f"{row[c]:.4g}" for c in columns] for _, row in frame.iterrows()]))
