"""The "Under load" page: the sidebar's deployment served by the request simulator at a stated
load, its latency percentiles and goodput against the use case's targets, the saturation rate and
the run's timeline."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

from ..errors import LlmsizerError
from ..serving.schedulers import ENGINES
from ..serving.workload import LENGTHS
from . import targets
from .compute import Choice
from .underload import LoadChoice, load_checks, percentile_table, saturation, simulate_load
from .widgets import badge, downloads, require, table

MODES = {"rate": "Poisson rate", "concurrency": "concurrent clients", "offline": "all at once (offline)"}
DEFAULT_SCHEDULER = "engine's"


@st.cache_data(show_spinner="Simulating the requests...", max_entries=16)
def _run(choice: Choice, load: LoadChoice):
    result = simulate_load(choice, load)
    return result.summary, result.devices, result.steps_frame(), result.requests_frame()


@st.cache_data(show_spinner="Bisecting the largest sustained rate...", max_entries=16)
def _saturation(choice: Choice, load: LoadChoice):
    return saturation(choice, load)


def _load() -> LoadChoice:
    cols = st.columns(4)
    mode = cols[0].radio("Load", list(MODES), format_func=MODES.get, key="load_mode")
    rate = cols[1].number_input("Rate (requests/s)", min_value=0.01, value=4.0, step=0.5, key="load_rate",
                                disabled=mode != "rate")
    clients = cols[1].number_input("Clients", min_value=1, value=16, step=1, key="load_clients",
                                   disabled=mode != "concurrency")
    requests = cols[2].number_input("Requests", min_value=10, max_value=20_000, value=500, step=100,
                                    key="load_requests")
    lengths = cols[2].selectbox("Lengths", LENGTHS, key="load_lengths",
                                help="fixed: every request has the sidebar's lengths; else drawn around them.")
    scheduler = cols[3].selectbox("Scheduler", [DEFAULT_SCHEDULER, *ENGINES], key="load_scheduler",
                                  help="The engine whose scheduling limits apply [default: the engine profile's, "
                                       "else vllm].")
    seed = cols[3].number_input("Seed", min_value=0, value=0, step=1, key="load_seed")
    return LoadChoice(mode, float(rate), int(clients), int(requests), lengths,
                      None if scheduler == DEFAULT_SCHEDULER else scheduler, int(seed))


def load_page(choice: Choice | None, problem: str) -> None:
    st.title("Under load")
    if require(choice, problem) is None:
        return
    case = choice.usecase
    st.caption("The sidebar's deployment served request by request (`llmsizer simulate`): requests arrive, the "
               "engine's scheduler batches prompts and decodes step by step, each step costed by llmsizer. "
               "Prompt and output lengths are the sidebar's.")
    load = _load()
    percentile = st.radio("Targets at", ["p50", "p90", "p95", "p99"], index=3, key="load_percentile",
                          horizontal=True, help="The percentile of TTFT and inter-token latency held to the targets.")
    try:
        summary, devices, steps, requests = _run(choice, load)
    except LlmsizerError as exc:
        st.error(str(exc))
        return
    checks = load_checks(summary, case, percentile) if case is not None else {}
    row = st.columns(4)
    for col, key, label in ((row[0], "ttft", "TTFT"), (row[1], "itl", "Inter-token latency")):
        col.metric(f"{label} {percentile}", f"{summary[f'{key}_ms_{percentile}']:,.1f} ms")
        if key in checks:
            col.markdown(badge(*checks[key]))
    row[2].metric("Output tokens/s per device", f"{summary['output_throughput_tokens_per_s'] / devices:,.0f}",
                  help=f"{summary['output_throughput_tokens_per_s']:,.0f} tokens/s on {devices} devices.")
    if "goodput_requests_per_s" in summary:
        row[3].metric("Goodput", f"{summary['goodput_requests_per_s']:,.2f} req/s",
                      help="Requests per second whose own TTFT and inter-token latency meet the targets.")
        row[3].caption(f"of {summary['request_throughput_per_s']:,.2f} requests/s served")
    else:
        row[3].metric("Requests/s", f"{summary['request_throughput_per_s']:,.2f}")
    if summary["completed"] < summary["requests"]:
        st.warning(f"{summary['requests'] - summary['completed']} of {summary['requests']} requests did not finish.")
    table(percentile_table(summary), digits=1)
    if case is not None:
        st.caption(f"Targets of {targets.describe(case)}; TPOT is held as the inter-token latency.")
    if st.toggle("Find the saturation point", key="load_saturation",
                 help="Bisects the Poisson rate to the largest one the deployment sustains (its queue stops "
                      "growing), with these requests: several simulations."):
        found = _saturation(choice, replace(load, mode="rate"))
        st.metric("Saturation rate", f"{found.rate:,.2f} req/s",
                  help=f"{found.runs} simulations; all {load.requests} requests at once finish at "
                       f"{found.offline_rate:,.2f} requests/s.")
    downloads("llmsizer-under-load", requests, "load", {"summary": summary, "devices": devices})
    from . import charts

    st.plotly_chart(charts.timeline(steps, requests, case.ttft_slo_s * 1e3 if case else None), key="load_chart")
    st.caption("Top: requests in the running batch and in the queue; middle: share of the paged KV cache in use; "
               "bottom: each request's TTFT at its arrival time.")
