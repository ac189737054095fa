"""The scenario form in the sidebar, shared by every page (widgets of the entry script keep their
state across pages)."""

from __future__ import annotations

import streamlit as st

from ..errors import ConfigError
from ..hardware.zoo import list_accelerators, list_systems
from ..models.zoo import list_models
from .compute import ENGINES, PRECISIONS, Choice
from .uploads import MAX_UPLOAD_BYTES, accelerator_from_upload, model_from_upload

MODEL_SOURCES = ["Built-in", "Upload config.json", "Paste config.json"]
HARDWARE_SOURCES = ["Accelerator", "System", "Upload YAML"]
AUTO_KV = "auto"


def _index(options: list[str], wanted: str) -> int:
    return options.index(wanted) if wanted in options else 0


def _model():
    source = st.radio("Model from", MODEL_SOURCES, key="model_source", horizontal=True)
    if source == "Built-in":
        names = [m.name for m in list_models()]
        return st.selectbox("Model", names, index=_index(names, Choice.model), key="model")
    if source == "Upload config.json":
        upload = st.file_uploader("Hugging Face config.json", type=["json"], key="model_file",
                                  help=f"Read as JSON only; at most {MAX_UPLOAD_BYTES // 1024} KiB.")
        if upload is None:
            raise ConfigError("upload a Hugging Face config.json, or pick a built-in model")
        return model_from_upload(upload.getvalue(), upload.name)
    text = st.text_area("config.json text", key="model_text", height=160)
    if not text.strip():
        raise ConfigError("paste the text of a Hugging Face config.json, or pick a built-in model")
    return model_from_upload(text, "pasted config.json")


def _hardware() -> tuple:
    """(hardware, system, devices) for `Choice`."""
    source = st.radio("Hardware from", HARDWARE_SOURCES, key="hardware_source", horizontal=True)
    if source == "System":
        names = [s.name for s in list_systems()]
        system = st.selectbox("System", names, index=_index(names, "dgx-h100"), key="system")
        devices = st.number_input("Devices", min_value=1, value=None, step=1, key="system_devices",
                                  placeholder="all of the system", help="Devices in use; empty uses the whole system.")
        return None, system, devices
    if source == "Accelerator":
        names = [a.name for a in list_accelerators()]
        hardware = st.selectbox("Accelerator", names, index=_index(names, Choice.hardware), key="accelerator")
    else:
        upload = st.file_uploader("Accelerator YAML", type=["yaml", "yml"], key="hardware_file",
                                  help=f"Read as safe YAML only; at most {MAX_UPLOAD_BYTES // 1024} KiB.")
        hardware = None if upload is None else accelerator_from_upload(upload.getvalue(), upload.name)
    devices = st.number_input("Devices", min_value=1, value=None, step=1, key="devices", placeholder="tp x pp x cp x dp",
                              help="Accelerators in use; those beyond tp x pp x cp run data-parallel replicas.")
    if hardware is None:
        raise ConfigError("upload an accelerator YAML file, or pick a built-in accelerator")
    return hardware, None, devices


def _plan() -> dict:
    cols = st.columns(3) + st.columns(3)
    plan = {name: cols[i].number_input(name, min_value=1, value=1, step=1, key=name, help=tip)
            for i, (name, tip) in enumerate([("tp", "tensor parallel"), ("pp", "pipeline parallel"),
                                             ("ep", "expert parallel"), ("cp", "context parallel")])}
    plan["dp"] = cols[4].number_input("dp", min_value=1, value=None, step=1, key="dp", placeholder="auto",
                                      help="data-parallel replicas; empty: devices / (tp x pp x cp)")
    return plan


def scenario_sidebar() -> tuple[Choice | None, str]:
    """Draw the form; return the scenario, or None and the reason it cannot be built."""
    with st.sidebar:
        st.header("Scenario")
        problems = []
        model = hardware = system = devices = None
        try:
            model = _model()
        except ConfigError as exc:
            problems.append(str(exc))
        try:
            hardware, system, devices = _hardware()
        except ConfigError as exc:
            problems.append(str(exc))
        st.subheader("Parallel plan")
        plan = _plan()
        st.subheader("Workload")
        batch = st.number_input("Batch (requests per replica)", min_value=1, max_value=65536, value=Choice.batch,
                                step=1, key="batch")
        cols = st.columns(2)
        input_len = cols[0].number_input("Input tokens", min_value=1, max_value=2_000_000, value=Choice.input,
                                         step=128, key="input")
        output_len = cols[1].number_input("Output tokens", min_value=1, max_value=2_000_000, value=Choice.output,
                                          step=64, key="output")
        st.subheader("Precision and engine")
        cols = st.columns(2)
        weights = cols[0].selectbox("Weights", PRECISIONS, key="weight_precision")
        kv = cols[1].selectbox("KV cache", [AUTO_KV, *PRECISIONS], key="kv_precision",
                               help="auto: the weights' precision for fp8 and 16 bits, else bf16.")
        engine = st.selectbox("Engine profile", ENGINES, key="engine")
    if problems:
        return None, "; ".join(problems)
    return Choice(model=model, hardware=hardware, system=system, devices=devices, **plan,
                  weight_precision=weights, kv_precision=None if kv == AUTO_KV else kv, engine=engine,
                  batch=int(batch), input=int(input_len), output=int(output_len)), ""
