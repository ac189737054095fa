"""Simulate a table of scenarios, one row each, as `predict` estimates one: a bad row gets its
reason in `sim_error` and never stops the others.

Columns: model, hardware, num_devices, tp, pp, ep, weight_precision, kv_precision, input_len,
output_len, optional framework (its engine's scheduler and profile), one of concurrency or
request_rate (`inf` or blank with no concurrency: offline), optional num_requests, seed, dp
(replicas, each of num_devices), compiled_batch and compiled_sequence (graphs compiled ahead of
time: the compiled scheduler on them), attention_dp and eager (true/false: attention data
parallelism; no captured graphs) and length_distribution (see `lengths_of`). Every input column is kept; added are
sim_{ttft,itl,e2e_latency}_ms_{mean,p50,p90,p95,p99}, sim_output_throughput_tokens_per_s,
sim_request_throughput_per_s and sim_error.
"""

from __future__ import annotations

import math
import re

from ..cost.profile import engine_from_text
from ..errors import LlmsizerError
from ..inference.rows import optional_whole_cells, switch_cells
from .metrics import METRICS, PERCENTILES
from .schedulers import default_scheduler

#: requests simulated when a row does not say how many
DEFAULT_REQUESTS = 1000
OUTPUT_COLUMNS = [f"sim_{m}_ms_{s}" for m in METRICS for s in ("mean", *(f"p{p}" for p in PERCENTILES))] + [
    "sim_output_throughput_tokens_per_s", "sim_request_throughput_per_s"]


def number(value):
    """A float, or None for blanks and text."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(result) else result


def lengths_of(distribution) -> tuple[str, float]:
    """(lengths kind, spread) for a length_distribution cell: `fixed`; `uniform` over (0, 2 x mean];
    a stated `N +/- M` (a load generator's emulated lengths) normal with a coefficient of
    variation of M / N; a dataset log-normal with one of 1."""
    text = str(distribution or "fixed").lower()
    if text.startswith("fixed"):
        return "fixed", 0.0
    if text.startswith("uniform"):
        return "uniform", 1 / math.sqrt(3)  # over (0, 2 x mean]
    stated = re.search(r"([\d,]+)\s*\+/-\s*([\d,]+)", text)
    if stated:
        mean, spread = (float(v.replace(",", "")) for v in stated.groups())
        return "normal", spread / mean
    return "lognormal", 1.0


def row_options(row) -> dict:
    """`simulate` keyword arguments for one scenario row."""
    get = row.get
    prompt, output = number(get("input_len")), number(get("output_len"))
    if not prompt or not output:
        raise LlmsizerError("input_len and output_len are required (mean tokens per request)")
    kind, spread = lengths_of(get("length_distribution"))
    options = {"requests": int(number(get("num_requests")) or DEFAULT_REQUESTS), "seed": int(number(get("seed")) or 0),
               "input": int(round(prompt)), "output": int(round(output)), "lengths": kind, "spread": spread}
    concurrency, rate = number(get("concurrency")), number(get("request_rate"))
    if concurrency:
        options["concurrency"] = int(concurrency)
    elif rate and math.isfinite(rate):
        options["rate"] = rate
    else:
        options["offline"] = True
    engine = engine_from_text(get("framework"))
    replicas = int(number(get("dp")) or 1)
    devices = int(number(get("num_devices")) or 1)
    options.update(model=get("model"), hardware=get("hardware"), devices=devices * replicas,
                   tp=int(number(get("tp")) or 1), pp=int(number(get("pp")) or 1), ep=int(number(get("ep")) or 1),
                   weight_precision=get("weight_precision") or "bf16", kv_precision=get("kv_precision") or None,
                   engine=engine, record=False)
    for shape in ("compiled_batch", "compiled_sequence"):  # graphs compiled ahead of time run the compiled scheduler
        value = _cell(optional_whole_cells, shape, get(shape))
        if value:  # blank: not compiled
            options[shape] = int(value)
    for switch in ("attention_dp", "eager"):
        options[switch] = bool(_cell(switch_cells, switch, get(switch)))
    options["scheduler"] = default_scheduler(engine, "compiled_batch" in options or "compiled_sequence" in options)
    return options


def _cell(parse, column: str, value):
    """One cell checked by a table column's parser (inference/rows.py), or its error raised."""
    values, errors = parse(column, [value])
    if errors[0]:
        raise LlmsizerError(errors[0])
    return values[0]


def simulate_row(row) -> dict:
    from .simulate import simulate

    summary = simulate(**row_options(row)).summary
    return {f"sim_{key}": value for key, value in summary.items() if f"sim_{key}" in OUTPUT_COLUMNS}


def simulate_table(frame, progress=None):
    """`frame` (a pandas DataFrame of scenarios) with the simulated columns added."""
    results = []
    for done, (_, row) in enumerate(frame.iterrows(), start=1):
        try:
            results.append({**simulate_row(row.to_dict()), "sim_error": ""})
        except (LlmsizerError, ValueError, KeyError) as exc:
            results.append({"sim_error": str(exc) or type(exc).__name__})
        if progress is not None:
            progress(done)
    import pandas as pd

    added = pd.DataFrame(results, index=frame.index).reindex(columns=OUTPUT_COLUMNS + ["sim_error"])
    return pd.concat([frame, added], axis=1)
