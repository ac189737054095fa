"""Listings of what ships with llmsizer: `models`, `hardware` (or systems) and `usecases`."""

from __future__ import annotations

import click

from .common import console, echo_json, table

as_json_flag = click.option("--json", "as_json", is_flag=True, help="Print a JSON list instead of a table.")


@click.command()
@as_json_flag
def models(as_json):
    """List the built-in models."""
    from ..models.params import parameter_count
    from ..models.zoo import list_models

    rows = []
    for entry in list_models():
        count = parameter_count(entry.model())
        rows.append({"name": entry.name, "hf_id": entry.hf_id, "aliases": list(entry.aliases),
                     "parameters": count.total, "active_parameters": count.active, "source": entry.source})
    if as_json:
        echo_json(rows)
        return
    console().print(table(f"{len(rows)} models", ["name", "Hugging Face id", "params (B)", "active (B)"],
                          [[r["name"], r["hf_id"], f"{r['parameters'] / 1e9:.2f}", f"{r['active_parameters'] / 1e9:.2f}"]
                           for r in rows]))


@click.command()
@click.option("--systems", is_flag=True, help="List systems (accelerators plus their network) instead.")
@as_json_flag
def hardware(systems, as_json):
    """List the built-in accelerators (or systems)."""
    if systems:
        print_systems(as_json)
        return
    from ..hardware.zoo import list_accelerators

    rows = [{"name": a.name, "aliases": list(a.aliases), "vendor": a.vendor,
             "peak_tflops": {k: v / 1e12 for k, v in a.peak_flops.items()}, "memory_gib": a.memory_capacity / 2**30,
             "memory_tb_s": a.memory_bandwidth / 1e12, "tdp_w": a.tdp_w, "source": a.source}
            for a in list_accelerators()]
    if as_json:
        echo_json(rows)
        return
    console().print(table(f"{len(rows)} accelerators", ["name", "vendor", "bf16/fp16 TFLOP/s", "fp8 TFLOP/s", "memory GiB", "TB/s"],
                          [[r["name"], r["vendor"], f"{r['peak_tflops'].get('bf16') or r['peak_tflops'].get('fp16', 0):.0f}",
                            f"{r['peak_tflops'].get('fp8', 0):.0f}" if "fp8" in r["peak_tflops"] else "-",
                            f"{r['memory_gib']:.3g}", f"{r['memory_tb_s']:.2f}"] for r in rows]))


def print_systems(as_json: bool) -> None:
    """The built-in systems: accelerators and their network, inner dimension first."""
    from ..hardware.zoo import list_systems

    rows = [{"name": s.name, "aliases": list(s.aliases), "accelerator": s.accelerator.name,
             "devices": s.num_devices, "network": [{"name": d.name, "size": d.size, "gb_s": d.bandwidth / 1e9,
                                                    "latency_us": d.latency * 1e6, "topology": d.topology}
                                                   for d in s.network], "source": s.source}
            for s in list_systems()]
    if as_json:
        echo_json(rows)
        return
    console().print(table(f"{len(rows)} systems", ["name", "accelerator", "devices", "network (inner to outer)"],
                          [[r["name"], r["accelerator"], r["devices"],
                            " x ".join(f"{d['size']} {d['name']} {d['gb_s']:.0f} GB/s" for d in r["network"])]
                           for r in rows]))


@click.command()
@as_json_flag
def usecases(as_json):
    """List the built-in use cases with their lengths and latency targets."""
    from ..usecases import list_usecases

    rows = [{"name": u.name, "input": u.input_tokens, "output": u.output_tokens, "ttft_slo_ms": u.ttft_slo_s * 1e3,
             "tpot_slo_ms": u.tpot_slo_s * 1e3, "description": u.description, "source": u.source} for u in list_usecases()]
    if as_json:
        echo_json(rows)
        return
    console().print(table(f"{len(rows)} use cases", ["name", "input", "output", "TTFT SLO ms", "TPOT SLO ms", "description"],
                          [[r["name"], r["input"], r["output"], f"{r['ttft_slo_ms']:g}", f"{r['tpot_slo_ms']:g}",
                            r["description"]] for r in rows]))
