"""What every page draws the same way: the sidebar's problem, tables with readable column names,
downloads, pass/fail badges, and metrics greyed out when the scenario does not fit."""

from __future__ import annotations

import json

import streamlit as st

from . import targets
from .compute import Choice

#: column names as tables show them (downloads keep the machine-readable ones)
HEADINGS = {
    "ttft_ms": "TTFT (ms)", "tpot_ms": "TPOT (ms)", "e2e_latency_ms": "end-to-end (ms)",
    "throughput_tokens_per_s": "throughput (tokens/s)", "throughput_per_device": "tokens/s per device",
    "tokens_per_s_per_user": "tokens/s per user", "memory_per_device_gib": "memory per device (GiB)",
    "max_batch": "largest batch that fits", "targets": "targets", "batch_per_replica": "batch per replica",
    "usd_per_million_tokens": "$ per million tokens", "binding": "least headroom", "devices": "devices",
    "male_pct": "mean abs. log error (%)", "median_ape_pct": "median abs. error (%)",
    "p90_ape_pct": "90th pct abs. error (%)", "within_20_pct": "within 20% (%)", "bias_pct": "bias (%)",
    "gflop": "GFLOP", "mbytes": "MB moved", "message_mb": "message (MB)", "time_ms": "time (ms)",
    "share": "share of the step", "compute_util": "compute utilisation", "memory_util": "bandwidth utilisation",
}
BADGE = {targets.PASS: "green", targets.FAIL: "red", targets.UNFIT: "gray"}
#: greys the metric values inside a container keyed "unfit"
GREY = "<style>.st-key-unfit [data-testid='stMetricValue'] {color: #a0a4a8;}</style>"


def require(choice: Choice | None, problem: str) -> Choice | None:
    """The scenario, or None after showing why the sidebar could not build one (pages return
    rather than stop, so that the sidebar drawn after them always appears)."""
    if choice is None:
        st.error(problem)
    return choice


def table(frame, columns: list[str] | None = None, digits: int = 2) -> None:
    """A frame with readable headings, numbers rounded, whole counts kept whole."""
    shown = frame[columns] if columns else frame
    st.dataframe(shown.round(digits).rename(columns=HEADINGS), hide_index=True)


def downloads(stem: str, frame, key: str, document: dict | None = None) -> None:
    """CSV of `frame`; JSON of `document`, or of the frame's records (NaN written as null)."""
    text = json.dumps(document, indent=2) if document is not None else frame.to_json(orient="records", indent=2)
    cols = st.columns([1, 1, 4])
    cols[0].download_button("Download CSV", frame.to_csv(index=False), file_name=f"{stem}.csv", mime="text/csv",
                            key=f"{key}_csv")
    cols[1].download_button("Download JSON", text, file_name=f"{stem}.json", mime="application/json", key=f"{key}_json")


def badge(verdict: str, detail: str = "") -> str:
    """Markdown of a pass/fail/does-not-fit badge."""
    text = f"{verdict} {detail}".strip().replace("[", "(").replace("]", ")")
    return f":{BADGE[verdict]}-badge[{text}]"


def targets_caption(case) -> None:
    if case is not None:
        st.caption(f"Targets of {targets.describe(case)} (set in the sidebar): pass meets both, fail misses one.")
