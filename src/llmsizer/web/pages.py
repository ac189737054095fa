"""The four pages. Each turns user-fixable errors (LlmsizerError is a ValueError) into st.error."""

from __future__ import annotations

import json

import streamlit as st

from ..errors import LlmsizerError
from ..hardware.zoo import list_accelerators, list_systems
from ..inference.report import block_summary
from ..models.zoo import list_models
from ..precision import matmul_precision
from . import charts
from .compute import (Choice, compare, estimate_json, plan_points, roofline_points, study_grid, validation_rows,
                      validation_scores, with_model, with_target)

POWERS_OF_TWO = [2**i for i in range(0, 21)]


def _require(choice: Choice | None, problem: str) -> Choice:
    """The scenario, or stop the page with the reason the sidebar could not build one."""
    if choice is None:
        st.error(problem)
        st.stop()
    return choice


def _downloads(stem: str, frame, key: str, document: dict | None = None) -> None:
    """CSV of `frame`; JSON of `document`, or of the frame's records (NaN written as null)."""
    text = json.dumps(document, indent=2) if document is not None else frame.to_json(orient="records", indent=2)
    cols = st.columns([1, 1, 4])
    cols[0].download_button("Download CSV", frame.to_csv(index=False), file_name=f"{stem}.csv", mime="text/csv",
                            key=f"{key}_csv")
    cols[1].download_button("Download JSON", text, file_name=f"{stem}.json", mime="application/json", key=f"{key}_json")


def _describe(d: dict) -> str:
    plan = d["plan"]
    w = d["workload"]
    devices = f"{d['devices']} device{'s' if d['devices'] != 1 else ''}"
    return (f"**{d['model']}** on {d['system']} ({devices}: tp={plan['tp']} pp={plan['pp']} "
            f"ep={plan['ep']} dp={plan['dp']} cp={plan['cp']}), weights {d['precisions']['weights']}, "
            f"KV {d['precisions']['kv_cache']}, profile {d['profile']}; batch {w['batch']:.0f} x "
            f"({w['input']:.0f} prompt + {w['output']:.0f} output) tokens")


def _metric(col, label: str, value: str, band: list | None = None, unit: str = "", digits: int = 1,
            help: str | None = None, note: str = "") -> None:
    col.metric(label, value, help=help)
    if band is not None:
        col.caption(f"~80% band {band[0]:,.{digits}f} - {band[1]:,.{digits}f} {unit}{note}")


def estimate_page(choice: Choice | None, problem: str) -> None:
    """One scenario in full: metrics with bands, memory, time by block, and the roofline."""
    st.title("Estimate")
    choice = _require(choice, problem)
    try:
        est = choice.estimate()
        frame = est.breakdown()
    except LlmsizerError as exc:
        st.error(str(exc))
        st.stop()
    d = est.to_dict()
    bands, mem = d["bands"], d["memory_breakdown_gb"]
    st.markdown(_describe(d))
    row = st.columns(4)
    _metric(row[0], "TTFT", f"{d['ttft_ms']:.2f} ms", bands["ttft_ms"], "ms", 1,
            help="Time to first token: the prefill of the whole batch.", note=f"; {d['prefill_bound']} bound")
    _metric(row[1], "TPOT", f"{d['tpot_ms']:.2f} ms", bands["tpot_ms"], "ms", 2,
            help="Time per output token: the mean decode step.", note=f"; {d['decode_bound']} bound")
    _metric(row[2], "End-to-end", f"{d['e2e_latency_ms']:.0f} ms", bands["e2e_latency_ms"], "ms", 0,
            help="TTFT + (output - 1) x TPOT.")
    _metric(row[3], "Throughput", f"{d['throughput_tokens_per_s']:,.0f} tok/s", bands["throughput_tokens_per_s"],
            "tok/s", 0, help="Output tokens per second of all replicas.")
    row = st.columns(4)
    _metric(row[0], "Memory per device", f"{d['memory_per_device_gb']:.1f} GB",
            help=f"Of {mem['capacity']:.1f} GB capacity.")
    _metric(row[1], "Fits", "yes" if d["fits"] else "no")
    _metric(row[2], "Largest batch that fits", f"{d['max_batch']:,}")
    _metric(row[3], "Devices", f"{d['devices']:,}", help="Every replica's devices together.")
    if not d["fits"]:
        st.warning(f"Does not fit: needs {d['memory_per_device_gb']:.1f} GB per device of {mem['capacity']:.1f} GB; "
                   f"the largest batch that fits is {d['max_batch']}.")
    st.caption(f"Bands: {d['band_basis']}")
    _downloads("llmsizer-estimate", frame, "estimate", estimate_json(est, frame))

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
        st.dataframe(frame, hide_index=True)


def compare_page(choice: Choice | None, problem: str) -> None:
    """The sidebar's scenario across several models or several accelerators and systems."""
    st.title("Compare")
    choice = _require(choice, problem)
    st.caption("The sidebar's scenario with one thing varied: the model, or the hardware (same plan and workload).")
    what = st.radio("Compare", ["models", "hardware"], key="compare_what", horizontal=True)
    if what == "models":
        names = [m.name for m in list_models()]
        defaults = [n for n in dict.fromkeys([choice.model_name, "Llama-3.1-8B", "Qwen2.5-7B", "Mistral-7B-v0.1"])
                    if n in names]
        picked = st.multiselect("Models", names, default=defaults, key="compare_models")
        label, choices = "model", [with_model(choice, name) for name in picked]
    else:
        options = [("accelerator", a.name) for a in list_accelerators()] + [("system", s.name) for s in list_systems()]
        defaults = [o for o in options if o[1] in ("H100-SXM5-80GB", "H200-SXM-141GB", "MI300X-192GB", "B200-180GB")]
        picked = st.multiselect("Hardware", options, default=defaults, key="compare_hardware",
                                format_func=lambda o: o[1] if o[0] == "accelerator" else f"{o[1]} (system)")
        label, choices = "hardware", [with_target(choice, kind, name) for kind, name in picked]
    if not choices:
        st.info(f"Pick at least one {label}.")
        return
    table = compare(choices, label)
    failed = table[table["error"] != ""]
    for row in failed.itertuples():
        st.error(f"{getattr(row, label)}: {row.error}")
    ok = table[table["error"] == ""].drop(columns="error")
    if ok.empty:
        return
    st.dataframe(ok.round(2), hide_index=True)
    _downloads(f"llmsizer-compare-{label}", ok, "compare")
    st.plotly_chart(charts.compare_bars(ok, label), key="compare_chart")
    st.caption(f"Lower TTFT and TPOT and higher throughput are better; throughput counts every replica. "
               f"A {label} that does not fit is still shown (see the fits column).")


def study_page(choice: Choice | None, problem: str) -> None:
    """Sweeps of one scenario: latency over batch x prompt length, and its parallel plans."""
    st.title("Study")
    choice = _require(choice, problem)
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
        st.stop()
    column = "tpot_ms" if metric == "TPOT" else "ttft_ms"
    st.plotly_chart(charts.heatmap(grid, column, f"{metric} of {choice.model_name} on {choice.target_name} (ms)"),
                    key="study_heatmap")
    st.caption(f"{metric} in ms for every batch and prompt length at {choice.output} output tokens, from one "
               f"vectorised evaluation; blank cells do not fit in memory.")
    _downloads("llmsizer-study", grid, "study")

    st.subheader("Parallel plans")
    if choice.system is None:
        devices = st.number_input("Devices to split", min_value=1, max_value=1024, value=8, step=1, key="plan_devices",
                                  help=f"How many {choice.target_name} the plan search divides.")
    else:
        devices = None
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
    fitting = int(points["fits"].sum())
    st.plotly_chart(charts.pareto(points), key="pareto_chart")
    st.caption(f"Every tp x pp x ep x dp split of the devices at each batch ({fitting} of {len(points)} fit; those "
               f"that do not are left out); the dotted line joins the plans no other beats on both axes.")
    st.caption("Plans on the front, slowest per user first:")
    front = points[points["pareto"]].sort_values("tokens_per_s_per_user")
    st.dataframe(front[["plan", "batch", "ttft_ms", "tpot_ms", "tokens_per_s_per_user", "throughput_per_device",
                        "memory_per_device_gb"]].round(2), hide_index=True)
    _downloads("llmsizer-plans", points, "plans")


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
    st.plotly_chart(charts.validation_scatter(frame), key="validation_chart")
    st.caption("Each point is one measured row; on the solid line the prediction is exact, between the dotted "
               "lines it is within 20%.")
    by = st.radio("Errors by", ["kind", "hardware", "engine", "source"], key="validation_by", horizontal=True)
    st.dataframe(validation_scores(frame, by).round(1), hide_index=True)
    st.caption("male_pct: mean absolute log error; median and 90th-percentile absolute percentage error; share "
               "within 20%; bias (positive: predictions too high).")
    _downloads("llmsizer-validation", frame, "validation")
