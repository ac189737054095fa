"""The Estimate, Compare, Study and Validation pages. Each turns user-fixable errors (LlmsizerError,
the project's own) into st.error and returns. Metrics are drawn before plotly is imported
(`_charts`), so the first numbers show while the charts load."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ..errors import LlmsizerError
from ..hardware.spec import Accelerator
from ..hardware.zoo import list_accelerators, list_systems
from ..models.spec import Model
from ..models.zoo import list_models
from . import targets
from .compute import (Choice, compare, devices_needed, estimate_json, memory_gib, plan_points, roofline_points,
                      study_grid, validation_rows, validation_scores, with_model, with_target)
from .widgets import GREY, badge, downloads, require, table, targets_caption

POWERS_OF_TWO = [2**i for i in range(0, 21)]


def _charts():
    """plotly and the figures, imported on first use (a second or more on a busy machine)."""
    from . import charts

    return charts


def _describe(d: dict) -> str:
    plan = d["plan"]
    w = d["workload"]
    devices = f"{d['devices']} device{'s' if d['devices'] != 1 else ''}"
    return (f"**{d['model']}** on {d['system']} ({devices}: tp={plan['tp']} pp={plan['pp']} "
            f"ep={plan['ep']} dp={plan['dp']} cp={plan['cp']}), weights {d['precisions']['weights']}, "
            f"KV {d['precisions']['kv_cache']}, profile {d['profile']}; batch {w['batch']:.0f} x "
            f"({w['input']:.0f} prompt + {w['output']:.0f} output) tokens")


def _metric(col, label: str, value: str, band: list | None = None, unit: str = "", digits: int = 1,
            help: str | None = None, note: str = "", check: tuple[str, str] | None = None) -> None:
    col.metric(label, value, help=help)
    if check is not None:
        col.markdown(badge(*check))
    if band is not None:
        col.caption(f"~80% band {band[0]:,.{digits}f} - {band[1]:,.{digits}f} {unit}{note}")


def _unfit_warning(choice: Choice, d: dict, mem: dict) -> None:
    """Why it does not fit, and how many devices one replica needs at this batch."""
    needed = devices_needed(choice)
    where = (f"one replica fits on {needed[0]} x {choice.accelerator().name} ({needed[1]})" if needed
             else "no plan up to 1024 devices holds one replica")
    st.warning(f"Does not fit: needs {mem['total']:.1f} GiB per device of {mem['capacity']:.1f} GiB; at this "
               f"batch {where}. The largest batch that fits as planned is {d['max_batch']}. The greyed metrics "
               f"are what the plan would do with enough memory.")


def estimate_page(choice: Choice | None, problem: str) -> None:
    """One scenario in full: metrics with bands and pass/fail, memory, time by block, the roofline."""
    st.title("Estimate")
    if require(choice, problem) is None:
        return
    try:
        est = choice.estimate()
        d = est.to_dict()
    except LlmsizerError as exc:
        st.error(str(exc))
        return
    bands, mem, case = d["bands"], memory_gib(est), choice.usecase
    checks = targets.metric_checks(d, case) if case is not None else {}
    st.markdown(_describe(d))
    st.markdown(GREY, unsafe_allow_html=True)
    with st.container(key="fits" if d["fits"] else "unfit"):
        row = st.columns(4)
        _metric(row[0], "TTFT", f"{d['ttft_ms']:.2f} ms", bands["ttft_ms"], "ms", 1, check=checks.get("ttft"),
                help="Time to first token: the prefill of the whole batch.", note=f"; {d['prefill_bound']} bound")
        _metric(row[1], "TPOT", f"{d['tpot_ms']:.2f} ms", bands["tpot_ms"], "ms", 2, check=checks.get("tpot"),
                help="Time per output token: the mean decode step.", note=f"; {d['decode_bound']} bound")
        _metric(row[2], "End-to-end", f"{d['e2e_latency_ms']:.0f} ms", bands["e2e_latency_ms"], "ms", 0,
                help="TTFT + (output - 1) x TPOT.", check=checks.get("e2e"))
        _metric(row[3], "Throughput", f"{d['throughput_tokens_per_s']:,.0f} tok/s", bands["throughput_tokens_per_s"],
                "tok/s", 0, help="Output tokens per second of all replicas.", check=checks.get("user"),
                note=f"; {1000 / d['tpot_ms']:,.0f} tok/s per user")
    row = st.columns(4)
    _metric(row[0], "Memory per device", f"{mem['total']:.1f} GiB", help=f"Of {mem['capacity']:.1f} GiB capacity.")
    _metric(row[1], "Fits", "yes" if d["fits"] else "no")
    _metric(row[2], "Largest batch that fits", f"{d['max_batch']:,}")
    _metric(row[3], "Devices", f"{d['devices']:,}", help="Every replica's devices together.")
    if not d["fits"]:
        _unfit_warning(choice, d, mem)
    targets_caption(case)
    st.caption(f"Bands: {d['band_basis']}")
    frame = est.breakdown()
    downloads("llmsizer-estimate", frame, "estimate", estimate_json(est, frame))

    charts = _charts()
    from ..inference.report import block_summary
    from ..precision import matmul_precision

    st.plotly_chart(charts.memory_bar(mem), key="memory_chart")
    st.caption("What one device holds: weights of its shard, the KV cache at the final length, peak prefill "
               "activations and the runtime reserve, against its capacity (dashed).")
    st.plotly_chart(charts.block_bars(block_summary(frame)), key="blocks_chart")
    st.caption("Where one step's time goes: a prefill step of the whole batch, and one decode step at the mean "
               "context; each on its own scale.")
    acc = est.scenario.system.accelerator
    precision = matmul_precision(est.scenario.precisions.weights, est.scenario.precisions.activations)
    st.plotly_chart(charts.roofline(roofline_points(frame), acc.peak(precision), acc.memory_bandwidth, precision),
                    key="roofline_chart")
    st.caption("Each operator's FLOP per byte moved against the rate it achieves: under the sloped roof it is "
               "memory bound, under the flat one compute bound; far below both, overheads dominate.")
    with st.expander("Per-operator table"):
        table(frame, digits=4)


def compare_options(choice: Choice, what: str) -> tuple[list, list]:
    """(options, defaults) of the Compare pick list: (kind, name, object) triples, the sidebar's
    uploaded model or accelerator first (named by its file)."""
    d = choice.deployment
    if what == "models":
        options = [("model", m.name, m.name) for m in list_models()]
        if isinstance(d.model, Model):
            options.insert(0, ("model", f"{d.model.name} (uploaded)", d.model))
        wanted = [choice.model_name, "Llama-3.1-8B", "Qwen2.5-7B", "Mistral-7B-v0.1"]
    else:
        options = ([("accelerator", a.name, a.name) for a in list_accelerators()]
                   + [("system", f"{s.name} (system)", s.name) for s in list_systems()])
        if isinstance(d.hardware, Accelerator):
            options.insert(0, ("accelerator", f"{d.hardware.name} (uploaded)", d.hardware))
        wanted = [choice.target_name, "H100-SXM5-80GB", "H200-SXM-141GB", "MI300X-192GB", "B200-180GB"]
    defaults = []
    for name in dict.fromkeys(wanted):
        defaults += [o for o in options if o[1] in (name, f"{name} (uploaded)", f"{name} (system)")][:1]
    return options, defaults


def compare_page(choice: Choice | None, problem: str) -> None:
    """The sidebar's scenario across several models or several accelerators and systems."""
    st.title("Compare")
    if require(choice, problem) is None:
        return
    st.caption("The sidebar's scenario with one thing varied: the model, or the hardware (same plan and workload).")
    what = st.radio("Compare", ["models", "hardware"], key="compare_what", horizontal=True)
    options, defaults = compare_options(choice, what)
    picked = st.multiselect("Models" if what == "models" else "Hardware", options, default=defaults,
                            key=f"compare_{what}", format_func=lambda o: o[1])
    label = "model" if what == "models" else "hardware"
    choices = [with_model(choice, obj) if kind == "model" else with_target(choice, kind, obj) for kind, _, obj in picked]
    if not choices:
        st.info(f"Pick at least one {label}.")
        return
    result = compare(choices, label, names=[name for _, name, _ in picked])
    for row in result[result["error"] != ""].itertuples():
        st.error(f"{getattr(row, label)}: {row.error}")
    ok = result[result["error"] == ""].drop(columns="error")
    if ok.empty:
        return
    ok = targets.mark(ok, choice.usecase) if choice.usecase is not None else ok
    first = [label, *(["targets"] if "targets" in ok else []), "fits", "devices"]
    table(ok, first + [c for c in ok.columns if c not in first])
    downloads(f"llmsizer-compare-{label}", ok, "compare")
    targets_caption(choice.usecase)
    case = choice.usecase
    limits = (case.ttft_slo_s * 1e3, case.tpot_slo_s * 1e3) if case is not None else None
    st.plotly_chart(_charts().compare_bars(ok, label, limits), key="compare_chart")
    st.caption("Lower TTFT and TPOT and higher throughput per device are better; per device, so that a node "
               "and a rack compare. Hatched bars do not fit in memory (what they would do with enough); dashed "
               "lines are the targets.")


def _no_fit_note(choice: Choice, batches: list[int], inputs: list[int]) -> None:
    """Say why a heat map is empty, and what one replica of its smallest cell needs."""
    smallest = replace(choice, workload=replace(choice.workload, batch=min(batches), input=min(inputs)))
    needed = devices_needed(smallest)
    st.warning(f"No cell fits in memory on {choice.target_name} as planned; "
               + (f"at batch {min(batches)} and {min(inputs)} prompt tokens one replica needs {needed[0]} x "
                  f"{choice.accelerator().name} ({needed[1]})." if needed else "no plan up to 1024 devices holds it."))


def study_page(choice: Choice | None, problem: str) -> None:
    """Sweeps of one scenario: latency over batch x prompt length, and its parallel plans."""
    st.title("Study")
    if require(choice, problem) is None:
        return
    case = choice.usecase
    st.subheader("Latency over batch and prompt length")
    cols = st.columns(3)
    metric = cols[0].radio("Metric", ["TPOT", "TTFT"], key="study_metric", horizontal=True)
    max_batch = cols[1].select_slider("Largest batch", POWERS_OF_TWO[:13], value=256, key="study_batch")
    max_input = cols[2].select_slider("Longest prompt", POWERS_OF_TWO[7:], value=32768, key="study_input")
    batches = [b for b in POWERS_OF_TWO if b <= max_batch]
    inputs = [i for i in POWERS_OF_TWO if 128 <= i <= max_input]
    try:
        grid = study_grid(choice, batches, inputs)
    except LlmsizerError as exc:
        st.error(str(exc))
        return
    grid = targets.mark(grid, case) if case is not None else grid
    column = "tpot_ms" if metric == "TPOT" else "ttft_ms"
    charts = _charts()
    st.plotly_chart(charts.heatmap(grid, column, f"{metric} of {choice.model_name} on {choice.target_name} (ms)"),
                    key="study_heatmap")
    if not grid["fits"].any():
        _no_fit_note(choice, batches, inputs)
    st.caption(f"{metric} in ms for every batch and prompt length at {choice.workload.output} output tokens, from "
               f"one vectorised evaluation; blank cells do not fit in memory"
               + (f"; ✓ meets both targets, ✗ misses one ({targets.describe(case)})." if case else "."))
    downloads("llmsizer-study", grid, "study")

    st.subheader("Parallel plans")
    devices = None
    if choice.deployment.system is None:
        devices = st.number_input("Devices to split", min_value=1, max_value=1024, value=8, step=1, key="plan_devices",
                                  help=f"How many {choice.target_name} the plan search divides.")
    totals = st.multiselect("Concurrent requests on the whole system", POWERS_OF_TWO[:11], default=[1, 4, 16, 64, 256],
                            key="plan_batches")
    if not totals:
        st.info("Pick at least one batch.")
        return
    try:
        points = plan_points(choice, choice.plan_system(devices), totals)
    except LlmsizerError as exc:
        st.error(str(exc))
        return
    points = targets.mark(points, case) if case is not None else points
    fitting = int(points["fits"].sum())
    st.plotly_chart(charts.pareto(points), key="pareto_chart")
    st.caption(f"Every tp x pp x ep x dp split of the devices at each batch ({fitting} of {len(points)} fit; those "
               f"that do not are left out); the dotted line joins the plans no other beats on both axes"
               + ("; circles meet the targets, crosses miss one." if case else "."))
    st.caption("Plans on the front, slowest per user first:")
    front = points[points["pareto"]].sort_values("tokens_per_s_per_user")
    table(front, ["plan", "batch", *(["targets"] if case else []), "ttft_ms", "tpot_ms", "tokens_per_s_per_user",
                  "throughput_per_device", "memory_per_device_gib"])
    downloads("llmsizer-plans", points, "plans")


@st.cache_data(show_spinner="Predicting the measured rows...")
def _validation():
    """The same for every visitor until the server restarts: compute it once."""
    return validation_rows()


def validation_page() -> None:
    """How far the built-in profiles land from the shipped measurements."""
    st.title("Validation")
    st.caption("Every shipped measurement predicted under the built-in (fitted) profiles: an in-sample view; "
               "docs/accuracy.md gives the out-of-sample figures. The sidebar's scenario is not used here.")
    frame = _validation()
    st.plotly_chart(_charts().validation_scatter(frame), key="validation_chart")
    st.caption("Each point is one measured row; on the solid line the prediction is exact, between the dotted "
               "lines it is within 20%.")
    by = st.radio("Errors by", ["kind", "hardware", "engine", "source"], key="validation_by", horizontal=True)
    table(validation_scores(frame, by), digits=1)
    st.caption("Mean absolute log error (as a percentage), median and 90th-percentile absolute percentage error, "
               "share within 20%, and bias (positive: predictions too high).")
    downloads("llmsizer-validation", frame, "validation")
