"""`estimate` and `memory`: one scenario's metrics, and its memory per device.

Both build the deployment, workload and serving once from the generated flags and ask the one
front door (`inference.estimate.serve`) or the one memory account (`serving_memory`), so the two
commands agree. pandas and matplotlib load only for --breakdown and --plot.
"""

from __future__ import annotations

import click

from .common import PLOT_FILE, FiniteRange, console, echo_json, table
from .flags import scenario_flags


def economics(est, price) -> dict:
    """Energy per token where the accelerator states its TDP, and $ per million tokens given a price."""
    import numpy as np

    from ..economics import cost_per_million_tokens, energy_per_token

    out = {}
    if np.all(np.asarray(est.scenario.system.accelerator.tdp_w) > 0):
        energy = energy_per_token(est)
        out.update(energy_j_per_token=float(energy.joules_per_token), average_power_w=float(energy.average_power_w))
    if price is not None:
        out["usd_per_million_tokens"] = float(cost_per_million_tokens(est.throughput, est.scenario.plan.devices, price))
    return out


@click.command()
@scenario_flags(memory_only=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def memory(deployment, workload, serving, as_json):
    """Memory per device: weights, KV cache, activations, reserve; fits or not; largest batch."""
    from ..arrays import first
    from ..inference.estimate import serving_memory
    from ..inference.memory import RESERVE_FIXED_BYTES, RESERVE_FRACTION

    sc = deployment.resolve()
    mem = serving_memory(deployment, workload, serving)
    data = {
        "model": sc.model.name, "hardware": sc.system.accelerator.name,
        "plan": {"tp": sc.plan.tp, "pp": sc.plan.pp, "ep": sc.plan.ep, "dp": sc.plan.dp, "cp": sc.plan.cp},
        "precisions": sc.precisions.to_dict(),
        "weights_gb": mem.weights / 1e9, "kv_cache_gb": first(mem.kv_cache) / 1e9,
        "activations_gb": first(mem.activations) / 1e9, "runtime_reserve_gb": mem.reserve / 1e9,
        "total_gb": first(mem.total) / 1e9, "capacity_gb": mem.capacity / 1e9,
        "fits": bool(first(mem.fits)), "max_batch": int(first(mem.max_batch)),
    }
    if as_json:
        echo_json(data)
        return
    out = console()
    plan, work = sc.plan, workload
    out.print(f"[bold]{sc.model.name}[/] on {sc.system.accelerator.name}, {plan.label}, "
              f"weights {sc.precisions.weights}, KV {sc.precisions.kv_cache}; batch "
              f"{work.batch} x ({work.input} + {work.output}) tokens")
    stated = sc.system.accelerator.reserve is not None
    reserve = ("stated by the accelerator" if stated
               else f"{RESERVE_FIXED_BYTES / 2**30:.0f} GiB + {RESERVE_FRACTION:.0%} of capacity")
    out.print(table("memory per device", ["part", "GB"], [
        ["weights", f"{data['weights_gb']:.2f}"], ["KV cache / state", f"{data['kv_cache_gb']:.2f}"],
        ["peak activations", f"{data['activations_gb']:.2f}"],
        [f"runtime reserve ({reserve})", f"{data['runtime_reserve_gb']:.2f}"],
        ["total", f"{data['total_gb']:.2f}"], ["capacity", f"{data['capacity_gb']:.2f}"]]))
    verdict = "[green]fits[/]" if data["fits"] else "[red]does not fit[/]"
    out.print(f"{verdict}; largest batch that fits: {data['max_batch']}")


@click.command()
@scenario_flags()
@click.option("--price", type=FiniteRange(min=0.0), help="Price per device-hour ($): adds $ per million output tokens.")
@click.option("--plot", type=PLOT_FILE, help="Draw time per block and the operators' roofline to this PNG or SVG.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--breakdown", is_flag=True, help="Also print the per-operator table.")
def estimate(deployment, workload, serving, price, plot, as_json, breakdown):
    """TTFT, TPOT, end-to-end latency, throughput and memory of one static batch."""
    from ..inference.estimate import serve
    from ..inference.report import block_times, breakdown_rows

    est = serve(deployment, workload, serving)
    data = est.to_dict()
    rows = breakdown_rows(est)
    data.update(economics(est, price))
    if plot:
        from ..search.plots import estimate_plot

        acc = est.scenario.system.accelerator
        estimate_plot(est.breakdown(), acc.peak(est.scenario.precisions.activations), acc.memory_bandwidth, plot,
                      f"{data['model']} on {data['system']}, batch {workload.batch}, {workload.input} in / "
                      f"{workload.output} out")
        data["plot"] = plot
    if as_json:
        if breakdown:
            data["breakdown"] = rows
        echo_json(data)
        return
    print_estimate(data, workload)
    out = console()
    out.print(table("time by block (ms per step)", ["phase", "block", "ms"],
                    [[phase, block, f"{ms:.3f}"] for phase, block, ms in block_times(rows)]))
    if breakdown:
        out.print(table("operators", ["phase", "operator", "count", "GFLOP", "MB", "message MB", "ms", "share",
                                      "bound", "algorithm"],
                        [[r["phase"], r["operator"], f"{r['count']:g}", f"{r['gflop']:.2f}", f"{r['mbytes']:.1f}",
                          f"{r['message_mb']:.2f}" if r["message_mb"] else "", f"{r['time_ms']:.3f}",
                          f"{r['share']:.1%}", r["bound"], r["algorithm"]] for r in rows]))


def print_estimate(data: dict, workload) -> None:
    """The metrics table, its band basis and each serving mode's own table."""
    out = console()
    plan = data["plan"]
    out.print(f"[bold]{data['model']}[/] on {data['system']} ({data['devices']} devices: {plan['label']}), "
              f"weights {data['precisions']['weights']}, "
              f"activations {data['precisions']['activations']}, KV {data['precisions']['kv_cache']}, "
              f"profile {data['profile']}")
    if "note" in data["precisions"]:
        out.print(f"[yellow]{data['precisions']['note']}[/]")
    compiled = f" (decode graphs compiled for batch {data['compiled_batch']})" if data.get("compiled_batch") else ""
    out.print(f"batch {workload.batch}{compiled}, {workload.input} prompt tokens, {workload.output} output tokens")
    mem = data["memory_breakdown_gb"]
    bands = data["bands"]

    def band(key, digits):
        low, high = bands[key]
        return f"{low:.{digits}f} - {high:.{digits}f}"

    out.print(table("metrics", ["metric", "value", "~80% band", "bound by"], [
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
    out.print(f"[dim]band: {data['band_basis']}[/]")
    for name, values in data["serving"].items():
        out.print(table(name.replace("_", " "), ["", "value"],
                        [[key.replace("_", " "), f"{value:.4g}" if isinstance(value, float) else value]
                         for key, value in values.items()]))
