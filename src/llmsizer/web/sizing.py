"""What do I need? For a model, a use case and its targets, per accelerator: the fewest devices
that meet the targets (`search.goodput`, as `llmsizer search`), the best plan and batch at that
count, its cost and speeds, and the resource with the least headroom (`search.requirements`)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..economics import cost_per_million_tokens
from ..hardware.spec import Accelerator, System
from ..hardware.zoo import load_accelerator
from ..inference.options import Deployment
from ..inference.workload import Workload
from ..search.goodput import good, minimum_devices, search, summary
from ..search.requirements import requirements
from ..usecases import UseCase

#: the numbers a custom accelerator is typed as, with their unit (the hardware-file keys)
NUMBER_FIELDS = {
    "bf16_tflops": "peak bf16 TFLOP/s (dense)", "fp8_tflops": "peak fp8 TFLOP/s (0: none)",
    "fp4_tflops": "peak fp4 TFLOP/s (0: none)", "hbm_gib": "memory capacity (GiB)",
    "hbm_tb_s": "memory bandwidth (TB/s)", "link_gb_s": "scale-up link (GB/s per direction)",
    "link_latency_us": "scale-up link latency (us)", "devices_per_node": "devices per node (scale-up domain)",
    "scale_out_gb_s": "scale-out link between nodes (GB/s per direction; 0: one node only)",
    "scale_out_latency_us": "scale-out link latency (us)",
}


def accelerator_spec(name: str, numbers: dict) -> dict:
    """A hardware-file mapping (docs/hardware.md) from typed numbers: what an uploaded YAML would hold."""
    peaks = {p: float(numbers[f"{p}_tflops"]) for p in ("bf16", "fp8", "fp4") if numbers.get(f"{p}_tflops")}
    spec = {"name": name, "source": "typed in the web app", "peak_tflops": peaks,
            "memory": {"hbm_gib": float(numbers["hbm_gib"]), "hbm_tb_s": float(numbers["hbm_tb_s"])},
            "scale_up": {"gb_s": float(numbers["link_gb_s"]), "latency_us": float(numbers["link_latency_us"]),
                         "domain": int(numbers["devices_per_node"])}}
    if numbers.get("scale_out_gb_s"):
        spec["scale_out"] = {"gb_s": float(numbers["scale_out_gb_s"]),
                             "latency_us": float(numbers.get("scale_out_latency_us", 0.0))}
    return spec


def accelerator_from_numbers(name: str, numbers: dict) -> Accelerator:
    return Accelerator.from_dict(accelerator_spec(name, numbers))


def _plan(row) -> str:
    return f"tp{row['tp']} pp{row['pp']} ep{row['ep']} dp{row['dp']}"


def binding_resource(deployment: Deployment, row, case: UseCase) -> str:
    """The resource with the least headroom at a configuration that meets the targets: the one
    whose requirement comes closest to the datasheet (headroom: datasheet over required, or for
    link latency the largest tolerable over the datasheet)."""
    sc = deployment.resolve()
    found = requirements(sc, Workload(int(row["batch_per_replica"]), case.input_tokens, case.output_tokens),
                         case.ttft_slo_s, case.tpot_slo_s)
    headroom = {r.resource: (r.datasheet / r.required if r.resource != "link_latency" else r.required / r.datasheet)
                for r in found if r.required}
    if not headroom:
        return ""
    tightest = min(headroom, key=headroom.get)
    return f"{tightest.replace('_', ' ')} ({headroom[tightest]:.2f}x headroom)"


def need(model, hardware: list, case: UseCase, max_devices: int = 64, prices: dict | None = None,
         **options) -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    """One row per accelerator (name or Accelerator): the fewest devices meeting the targets and
    the best configuration at that count; and each accelerator's every configuration (for the
    Pareto chart). `prices` maps names to $ per device-hour."""
    rows, frames = [], {}
    for item in hardware:
        acc = load_accelerator(item)
        frame = search(model, acc, case, max_devices, **options)
        frames[acc.name] = frame
        least = minimum_devices(frame)
        row = {"hardware": acc.name, "devices": least}
        if least is not None:
            at_least = good(frame)
            best = summary(at_least[at_least["devices"] == least]).iloc[0]
            price = (prices or {}).get(acc.name)
            deployment = Deployment(model, system=System.single_node(acc, least), tp=int(best["tp"]),
                                    pp=int(best["pp"]), ep=int(best["ep"]), **options)
            row.update(plan=_plan(best), batch_per_replica=int(best["batch_per_replica"]),
                       ttft_ms=best["ttft_ms"], tpot_ms=best["tpot_ms"],
                       throughput_per_device=best["throughput_per_device"],
                       tokens_per_s_per_user=best["tokens_per_s_per_user"],
                       usd_per_million_tokens=(float(cost_per_million_tokens(best["throughput_per_device"], 1, price))
                                               if price else np.nan),
                       binding=binding_resource(deployment, best, case))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["devices"] = table["devices"].astype("Int64")
    if "batch_per_replica" in table:
        table["batch_per_replica"] = table["batch_per_replica"].astype("Int64")
    return table, frames
