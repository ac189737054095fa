"""Best plans and platform size for a use case: goodput over device counts, plans and batches.

Every device count (powers of two up to a limit), every valid plan of that many devices and every
batch size (powers of two) is evaluated, the batches of one plan in one vectorised call. A
configuration counts when it fits and meets the use case's TTFT and TPOT targets; the best is the
one with the most output tokens per second per device (goodput); the minimum platform is the
fewest devices with any such configuration; the Pareto front trades throughput per device against
tokens per second per user (1 / TPOT) over the configurations that fit.
"""

from __future__ import annotations

import numpy as np

from ..errors import LlmsizerError
from ..inference.fields import MAX_SEARCH_DEVICES, checked
from ..hardware.spec import System
from ..hardware.zoo import load_accelerator, load_system
from ..inference.batch import evaluate
from ..inference.scenario import scenario
from ..inference.workload import Workload
from ..models.zoo import load_model
from ..units import MS
from ..usecases import meets_slo
from .pareto import pareto_mask
from .plans import candidate_degrees

BATCHES = 2 ** np.arange(0, 11)  # 1 .. 1024 concurrent requests per replica


def _system_rows(model, system: System, usecase, batches=BATCHES, **options) -> list[dict]:
    rows = []
    work = Workload(batches, usecase.input_tokens, usecase.output_tokens)
    for tp, pp, cp, dp, ep in candidate_degrees(system.num_devices, model):
        try:
            sc = scenario(model, system=system, tp=tp, pp=pp, cp=cp, ep=ep, **options)
        except (LlmsizerError, ValueError):
            continue
        est = evaluate(sc, work)
        devices = sc.plan.devices
        for i, batch in enumerate(batches):
            ttft, tpot = float(est.ttft[i]), float(est.tpot[i])
            rows.append({"system": system.name, "devices": devices, "tp": tp, "pp": pp, "ep": ep, "dp": dp,
                         "batch_per_replica": int(batch), "ttft_ms": ttft / MS, "tpot_ms": tpot / MS,
                         "throughput_per_device": float(est.throughput[i]) / devices,
                         "tokens_per_s_per_user": 1.0 / tpot, "fits": bool(est.memory.fits[i]),
                         "meets_slo": bool(meets_slo(ttft, tpot, usecase))})
    return rows


def search(model, hardware, usecase, max_devices: int = 64, **options):
    """All configurations on 1, 2, 4, ... `max_devices` accelerators, as a DataFrame."""
    import pandas as pd

    max_devices = checked("max_devices", max_devices, {"kind": int, "min": 1, "max": MAX_SEARCH_DEVICES, "choices": None})
    model, acc = load_model(model), load_accelerator(hardware)
    rows = []
    n = 1
    while n <= max_devices:
        try:
            system = System.single_node(acc, n)
        except LlmsizerError:
            break
        rows += _system_rows(model, system, usecase, **options)
        n *= 2
    return pd.DataFrame(rows)


def compare(model, systems, usecase, **options):
    """The best goodput configuration of each system (all its devices), side by side."""
    import pandas as pd

    model = load_model(model)
    best = []
    for name in systems:
        frame = pd.DataFrame(_system_rows(model, load_system(name), usecase, **options))
        best.append(summary(frame).assign(system=name) if len(frame) else pd.DataFrame([{"system": name}]))
    return pd.concat(best, ignore_index=True)


def good(frame):
    return frame[frame["fits"] & frame["meets_slo"]]


def summary(frame):
    """The goodput-best configuration (one row), or a row saying none meets the targets."""
    import pandas as pd

    ok = good(frame)
    if ok.empty:
        return pd.DataFrame([{"meets_slo": False}])
    return ok.sort_values(["throughput_per_device", "devices"], ascending=[False, True]).head(1)


def minimum_devices(frame) -> int | None:
    ok = good(frame)
    return int(ok["devices"].min()) if len(ok) else None


def pareto_front(frame):
    """Fitting configurations no other beats on both throughput per device and tokens/s per user."""
    fitting = frame[frame["fits"]]
    front = fitting[pareto_mask(fitting["tokens_per_s_per_user"], fitting["throughput_per_device"])]
    return front.sort_values("tokens_per_s_per_user", ascending=False)