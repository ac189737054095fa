"""The "What do I need?" page: for the sidebar's model and use case, the fewest devices of each
picked accelerator (built-in, typed as numbers, or a YAML file) that meet the targets."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from ..errors import ConfigError, LlmsizerError
from ..hardware.zoo import list_accelerators, load_accelerator
from . import targets
from .compute import Choice
from .sizing import NUMBER_FIELDS, accelerator_from_numbers, accelerator_spec, need
from .uploads import MAX_UPLOAD_BYTES, accelerator_from_upload
from .widgets import downloads, require, table

DEFAULT_HARDWARE = ["H100-SXM5-80GB", "H200-SXM-141GB", "MI300X-192GB"]
PLATFORM_LIMITS = [8, 16, 32, 64, 128, 256]
#: a starting point for typed hardware (an H100 SXM's figures, docs/hardware.md): edit them
TYPED_START = {"bf16_tflops": 989.4, "fp8_tflops": 1978.9, "fp4_tflops": 0.0, "hbm_gib": 80.0, "hbm_tb_s": 3.35,
               "link_gb_s": 450.0, "link_latency_us": 1.0, "devices_per_node": 8, "scale_out_gb_s": 50.0,
               "scale_out_latency_us": 5.0}
CUSTOM_SOURCES = ["none", "typed as numbers", "YAML file"]


def _custom_accelerator():
    """An accelerator typed as numbers or read from a YAML file, or None."""
    with st.expander("Custom accelerator"):
        source = st.radio("Add", CUSTOM_SOURCES, key="need_custom", horizontal=True)
        if source == CUSTOM_SOURCES[1]:
            name = st.text_input("Name", value="my-accelerator", key="need_custom_name")
            cols = st.columns(3)
            numbers = {key: cols[i % 3].number_input(label, min_value=0.0 if key != "devices_per_node" else 1.0,
                                                     value=float(TYPED_START[key]), key=f"need_{key}",
                                                     step=1.0 if key == "devices_per_node" else None)
                       for i, (key, label) in enumerate(NUMBER_FIELDS.items())}
            try:
                acc = accelerator_from_numbers(name, numbers)
            except LlmsizerError as exc:
                st.error(str(exc))
                return None
            import yaml

            st.caption("The same accelerator as a hardware file (docs/hardware.md), to keep or upload:")
            st.code(yaml.safe_dump(accelerator_spec(name, numbers), sort_keys=False), language="yaml")
            return acc
        if source == CUSTOM_SOURCES[2]:
            upload = st.file_uploader("Accelerator YAML", type=["yaml", "yml"], key="need_custom_file",
                                      help=f"Read as safe YAML only; at most {MAX_UPLOAD_BYTES // 1024} KiB.")
            if upload is not None:
                try:
                    return accelerator_from_upload(upload.getvalue(), upload.name)
                except ConfigError as exc:
                    st.error(str(exc))
    return None


@st.cache_data(show_spinner="Searching device counts, plans and batches...", max_entries=32)
def _need(model, hardware: tuple, case, max_devices: int, prices: tuple, options: tuple):
    return need(model, list(hardware), case, max_devices, dict(prices), **dict(options))


def _prices(names: list[str]) -> dict:
    """$ per device-hour as typed in an editable table (empty: no cost shown)."""
    edited = st.data_editor(pd.DataFrame({"hardware": names, "usd_per_device_hour": [None] * len(names)},
                                         dtype=object).astype({"usd_per_device_hour": float}),
                            key=f"need_prices_{'_'.join(names)}", hide_index=True, disabled=["hardware"],
                            column_config={"usd_per_device_hour": st.column_config.NumberColumn(
                                "$ per device-hour", min_value=0.0, format="%.2f")})
    return {row.hardware: float(row.usd_per_device_hour) for row in edited.itertuples()
            if pd.notna(row.usd_per_device_hour)}


def need_page(choice: Choice | None, problem: str) -> None:
    st.title("What do I need?")
    if require(choice, problem) is None:
        return
    case = choice.usecase
    if case is None:
        st.info("Pick a use case in the sidebar (or `custom` with your own lengths and targets): this page finds, "
                "per accelerator, the fewest devices that meet its TTFT and TPOT targets.")
        return
    st.markdown(f"**{choice.model_name}** for {targets.describe(case)}, {case.input_tokens} prompt and "
                f"{case.output_tokens} output tokens; precisions and engine from the sidebar.")
    names = [a.name for a in list_accelerators()]
    picked = st.multiselect("Accelerators", names, default=DEFAULT_HARDWARE, key="need_hardware")
    max_devices = st.select_slider("Largest platform (devices)", PLATFORM_LIMITS, value=64, key="need_max_devices")
    custom = _custom_accelerator()
    hardware = [load_accelerator(n) for n in picked] + ([custom] if custom is not None else [])
    if not hardware:
        st.info("Pick at least one accelerator.")
        return
    prices = _prices([a.name for a in hardware])
    try:
        found, frames = _need(choice.deployment.model, tuple(hardware), case, max_devices,
                              tuple(sorted(prices.items())), tuple(sorted(choice.scenario_options().items())))
    except LlmsizerError as exc:
        st.error(str(exc))
        return
    for col, row in zip(st.columns(len(found)), found.itertuples()):
        if pd.isna(row.devices):
            col.metric(row.hardware, f"none up to {max_devices}", help="No plan and batch up to this many devices "
                       "meets both targets; try a larger platform, lower precision or looser targets.")
            continue
        col.metric(row.hardware, f"{row.devices} device{'s' if row.devices != 1 else ''}",
                   help="The fewest devices meeting both targets.")
        col.caption(f"{row.plan}, batch {row.batch_per_replica} per replica; {row.throughput_per_device:,.1f} "
                    f"tokens/s per device, {row.tokens_per_s_per_user:,.0f} per user; least headroom: {row.binding}")
    shown = found.assign(devices=[f"{n}" if pd.notna(n) else f"none up to {max_devices}" for n in found["devices"]])
    table(shown, [c for c in ("hardware", "devices", "plan", "batch_per_replica", "ttft_ms", "tpot_ms",
                              "throughput_per_device", "tokens_per_s_per_user", "usd_per_million_tokens", "binding")
                  if c in shown])
    st.caption("Per accelerator: the fewest devices (1, 2, 4, ...) on which some plan and batch fits and meets both "
               "targets, as `llmsizer search` finds them; the plan and batch with the most tokens/s per device at "
               "that count; $ per million output tokens at the typed price; and the resource with the least "
               "headroom there (`llmsizer requirements`: how far it could shrink before a target is missed).")
    downloads("llmsizer-need", found, "need")
    points = pd.concat([f.assign(hardware=name) for name, f in frames.items() if len(f)], ignore_index=True)
    from . import charts

    st.plotly_chart(charts.hardware_pareto(points), key="need_chart")
    st.caption("Every configuration that fits, per accelerator: throughput per device against tokens/s per user; "
               "filled markers meet the targets, open ones miss one.")
