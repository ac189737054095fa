"""The scenario form in the sidebar, shared by every page (widgets of the entry script keep their
state across pages), read from and written to the URL's query parameters.

The scenario is read from session state before the page runs and the widgets are drawn after it:
a browser on a busy machine shows the first metric seconds sooner than behind forty widgets.

Serving, workload and quantisation options are drawn from the option objects' field metadata
(inference/options.py), so their names, help texts, bounds and defaults are the command line's.
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache

import streamlit as st

from ..cli.flags import CHOICES
from ..errors import ConfigError, LlmsizerError
from ..hardware.zoo import list_accelerators, list_systems
from ..inference.options import WORKLOAD_OPTIONS, Deployment, Serving
from ..inference.workload import Workload
from ..models.zoo import list_models
from ..usecases import load_usecase
from . import targets
from .compute import ENGINES, PRECISIONS, Choice
from .link import NONE, Field, from_query, to_query
from .uploads import MAX_UPLOAD_BYTES, accelerator_from_upload, model_from_upload

MODEL_SOURCES = ["Built-in", "Upload config.json", "Paste config.json"]
HARDWARE_SOURCES = ["Accelerator", "System", "Upload YAML"]
AUTO = "auto"
#: options of the "Serving options" expander: every serving field, the workload's sharing options
#: and the deployment's quantisation, offload and MoE options
SERVING_FIELDS = [spec.name for spec in fields(Serving)]
WORKLOAD_EXTRAS = ["samples", "cached_prefix"]
DEPLOYMENT_EXTRAS = ["quant", "activation_precision", "offload", "moe_imbalance"]
SPECS = {**{spec.name: spec for spec in fields(Deployment)}, **{spec.name: spec for spec in fields(Serving)},
         **WORKLOAD_OPTIONS}
DEFAULT = Choice()


def _choices(name: str, spec) -> tuple:
    if name == "draft":
        return (NONE, "heads", *(m.name for m in list_models()))
    listed = spec.metadata["choices"]
    return (NONE, *(CHOICES[listed] if isinstance(listed, str) else listed))


def _option_field(name: str) -> Field:
    """A sidebar field from an option's metadata: a pick list (`none` for an unset one) or a bounded number."""
    spec = SPECS[name]
    meta = spec.metadata
    if meta["choices"] is not None or name == "draft":
        return Field(str, NONE if spec.default is None else spec.default, _choices(name, spec))
    return Field(meta["kind"], spec.default, minimum=meta["min"], maximum=meta["max"])


@lru_cache(maxsize=1)
def scenario_fields() -> dict[str, Field]:
    """Every sidebar value that a link carries, with its default."""
    work = DEFAULT.workload
    return {
        "model_source": Field(str, MODEL_SOURCES[0], tuple(MODEL_SOURCES)),
        "model": Field(str, DEFAULT.model_name, tuple(m.name for m in list_models())),
        "hardware_source": Field(str, HARDWARE_SOURCES[0], tuple(HARDWARE_SOURCES)),
        "accelerator": Field(str, DEFAULT.target_name, tuple(a.name for a in list_accelerators())),
        "system": Field(str, "dgx-h100", tuple(s.name for s in list_systems())),
        "devices": Field(int, None, minimum=1), "system_devices": Field(int, None, minimum=1),
        **{name: Field(int, 1, minimum=1) for name in ("tp", "pp", "ep", "cp")}, "dp": Field(int, None, minimum=1),
        "usecase": Field(str, NONE, (NONE, *targets.usecase_names())),
        "batch": Field(int, work.batch, minimum=1, maximum=65536),
        "input": Field(int, work.input, minimum=1, maximum=2_000_000),
        "output": Field(int, work.output, minimum=1, maximum=2_000_000),
        "ttft_target": Field(float, targets.CUSTOM_TARGETS_MS[0], minimum=0.001),
        "tpot_target": Field(float, targets.CUSTOM_TARGETS_MS[1], minimum=0.001),
        "weight_precision": Field(str, "bf16", tuple(PRECISIONS)),
        "kv_precision": Field(str, AUTO, (AUTO, *PRECISIONS)),
        "engine": Field(str, ENGINES[0], tuple(ENGINES)),
        **{name: _option_field(name) for name in SERVING_FIELDS + WORKLOAD_EXTRAS + DEPLOYMENT_EXTRAS},
    }


def _seed() -> None:
    """Every field in session state before its widget is drawn: on a session's first run from the
    link, afterwards (for a widget that was hidden) from the default."""
    scenario = scenario_fields()
    if "_seeded" not in st.session_state:
        st.session_state["_seeded"] = True
        for key, value in from_query(st.query_params.to_dict(), scenario).items():
            st.session_state[key] = value
    for key, spec in scenario.items():
        if key not in st.session_state:
            st.session_state[key] = spec.default


def _unset(value):
    return None if value in (NONE, AUTO) else value


def _model(state):
    source = state["model_source"]
    if source == MODEL_SOURCES[0]:
        return state["model"]
    if source == MODEL_SOURCES[1]:
        upload = state.get("model_file")
        if upload is None:
            raise ConfigError("upload a Hugging Face config.json, or pick a built-in model")
        return model_from_upload(upload.getvalue(), upload.name)
    text = state.get("model_text") or ""
    if not text.strip():
        raise ConfigError("paste the text of a Hugging Face config.json, or pick a built-in model")
    return model_from_upload(text, "pasted config.json")


def _hardware(state) -> dict:
    """hardware, system and devices of the `Deployment`."""
    source = state["hardware_source"]
    if source == "System":
        return {"hardware": None, "system": state["system"], "devices": state["system_devices"]}
    if source == "Accelerator":
        hardware = state["accelerator"]
    else:
        upload = state.get("hardware_file")
        if upload is None:
            raise ConfigError("upload an accelerator YAML file, or pick a built-in accelerator")
        hardware = accelerator_from_upload(upload.getvalue(), upload.name)
    return {"hardware": hardware, "system": None, "devices": state["devices"]}


def values() -> dict:
    """The sidebar's values at the start of a run (seeded from the link, else the defaults)."""
    _seed()
    return {key: st.session_state[key] for key in scenario_fields()}


def scenario() -> tuple[Choice | None, str]:
    """The scenario the sidebar holds (read from session state, so the page can be drawn before the
    sidebar's widgets), or None and the reason it cannot be built."""
    state = st.session_state
    problems, deployment = [], {}
    for part in (lambda s: {"model": _model(s)}, _hardware):
        try:
            deployment.update(part(state))
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        return None, "; ".join(problems)
    deployment.update({name: state[name] for name in ("tp", "pp", "ep", "cp", "dp")},
                      weight_precision=state["weight_precision"], kv_precision=_unset(state["kv_precision"]),
                      engine=None if state["engine"] == ENGINES[0] else state["engine"],
                      **{name: _unset(state[name]) for name in DEPLOYMENT_EXTRAS})
    name = state["usecase"]
    case = None if name == NONE else targets.usecase(name, state["input"], state["output"], state["ttft_target"],
                                                     state["tpot_target"])
    try:
        return Choice(Deployment(**deployment),
                      Workload(**{k: int(state[k]) for k in ("batch", "input", "output", *WORKLOAD_EXTRAS)}),
                      Serving(**{k: _unset(state[k]) for k in SERVING_FIELDS}), case), ""
    except LlmsizerError as exc:
        return None, str(exc)


def _model_widgets() -> None:
    source = st.radio("Model from", MODEL_SOURCES, key="model_source", horizontal=True)
    if source == MODEL_SOURCES[0]:
        st.selectbox("Model", scenario_fields()["model"].choices, key="model")
    elif source == MODEL_SOURCES[1]:
        st.file_uploader("Hugging Face config.json", type=["json"], key="model_file",
                         help=f"Read as JSON only; at most {MAX_UPLOAD_BYTES // 1024} KiB; named by its file.")
    else:
        st.text_area("config.json text", key="model_text", height=160)


def _hardware_widgets() -> None:
    source = st.radio("Hardware from", HARDWARE_SOURCES, key="hardware_source", horizontal=True)
    if source == "System":
        st.selectbox("System", scenario_fields()["system"].choices, key="system")
        st.number_input("Devices", min_value=1, step=1, key="system_devices", placeholder="all of the system",
                        help="Devices in use; empty uses the whole system.")
        return
    if source == "Accelerator":
        st.selectbox("Accelerator", scenario_fields()["accelerator"].choices, key="accelerator")
    else:
        st.file_uploader("Accelerator YAML", type=["yaml", "yml"], key="hardware_file",
                         help=f"Read as safe YAML only; at most {MAX_UPLOAD_BYTES // 1024} KiB.")
    st.number_input("Devices", min_value=1, step=1, key="devices", placeholder="tp x pp x cp x dp",
                    help="Accelerators in use; those beyond tp x pp x cp run data-parallel replicas.")


def _plan_widgets() -> None:
    cols = st.columns(3) + st.columns(3)
    for i, name in enumerate(["tp", "pp", "ep", "cp", "dp"]):
        cols[i].number_input(name, min_value=1, step=1, key=name, help=SPECS[name].metadata["help"],
                             placeholder="auto" if name == "dp" else None)


def _apply_usecase() -> None:
    """Picking a built-in use case sets its lengths and targets (all editable afterwards)."""
    name = st.session_state["usecase"]
    if name in (NONE, targets.CUSTOM):
        return
    case = load_usecase(name)
    st.session_state.update(input=case.input_tokens, output=case.output_tokens,
                            ttft_target=case.ttft_slo_s * 1e3, tpot_target=case.tpot_slo_s * 1e3)


def _workload_widgets() -> None:
    name = st.selectbox("Use case", scenario_fields()["usecase"].choices, key="usecase", on_change=_apply_usecase,
                        help="A built-in use case sets prompt and output lengths and TTFT/TPOT targets "
                             "(`llmsizer usecases`); custom: type them. Every metric is then marked pass or fail.")
    cols = st.columns(2)
    cols[0].number_input("Input tokens", min_value=1, max_value=2_000_000, step=128, key="input")
    cols[1].number_input("Output tokens", min_value=1, max_value=2_000_000, step=64, key="output")
    if name != NONE:
        cols[0].number_input("TTFT target (ms)", min_value=0.001, step=10.0, key="ttft_target")
        cols[1].number_input("TPOT target (ms)", min_value=0.001, step=1.0, key="tpot_target")
    st.number_input("Batch (requests per replica)", min_value=1, max_value=65536, step=1, key="batch")


def _option_widget(container, name: str) -> None:
    """One option as the command line declares it: labelled with its flag's name, its help text."""
    spec, field = SPECS[name], scenario_fields()[name]
    label = name.replace("_", "-")
    if field.choices is not None:
        container.selectbox(label, field.choices, key=name, help=spec.metadata["help"])
        return
    whole = field.kind is int
    unset = ("off" if name in SERVING_FIELDS else "default") if field.default is None else None
    container.number_input(label, min_value=field.minimum, max_value=field.maximum, step=1 if whole else 0.05,
                           key=name, placeholder=unset,
                           help=spec.metadata["help"], format=None if whole else "%.2f")


def draw_sidebar(values: dict) -> None:
    """The form, drawn after the page with the `values` the page was computed from (restored
    first: a page change in the middle of a run can drop widget state); then the URL's query
    parameters updated to match it."""
    for key, value in values.items():
        st.session_state[key] = value
    with st.sidebar:
        st.header("Scenario")
        _model_widgets()
        _hardware_widgets()
        st.subheader("Parallel plan")
        _plan_widgets()
        st.subheader("Workload and targets")
        _workload_widgets()
        st.subheader("Precision and engine")
        cols = st.columns(2)
        cols[0].selectbox("Weights", PRECISIONS, key="weight_precision")
        cols[1].selectbox("KV cache", scenario_fields()["kv_precision"].choices, key="kv_precision",
                          help="auto: the weights' precision for fp8 and 16 bits, else bf16.")
        st.selectbox("Engine profile", ENGINES, key="engine")
        with st.expander("Serving options"):
            st.caption("As `llmsizer estimate` takes them: chunked prefill, speculative decoding, disaggregated "
                       "prefill, parallel samples, prefix cache, quantisation scheme, offload, MoE imbalance.")
            cols = st.columns(2)
            for i, name in enumerate(SERVING_FIELDS + WORKLOAD_EXTRAS + DEPLOYMENT_EXTRAS):
                _option_widget(cols[i % 2], name)
    fields = scenario_fields()
    st.query_params.from_dict(to_query({key: st.session_state.get(key) for key in fields}, fields))
