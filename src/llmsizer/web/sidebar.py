"""The scenario form in the sidebar, shared by every page (widgets of the entry script keep their
state across pages), read from and written to the URL's query parameters.

Serving, workload and quantisation options are drawn from the option objects' field metadata
(inference/options.py), so their names, help texts, bounds and defaults are the command line's.
"""

from __future__ import annotations

from dataclasses import fields
from functools import lru_cache

import streamlit as st

from ..cli.flags import CHOICES
from ..errors import ConfigError
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


def _model():
    source = st.radio("Model from", MODEL_SOURCES, key="model_source", horizontal=True)
    if source == "Built-in":
        return st.selectbox("Model", scenario_fields()["model"].choices, key="model")
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


def _hardware() -> dict:
    """hardware, system and devices of the `Deployment`."""
    source = st.radio("Hardware from", HARDWARE_SOURCES, key="hardware_source", horizontal=True)
    if source == "System":
        system = st.selectbox("System", scenario_fields()["system"].choices, key="system")
        devices = st.number_input("Devices", min_value=1, step=1, key="system_devices", placeholder="all of the system",
                                  help="Devices in use; empty uses the whole system.")
        return {"hardware": None, "system": system, "devices": devices}
    if source == "Accelerator":
        hardware = st.selectbox("Accelerator", scenario_fields()["accelerator"].choices, key="accelerator")
    else:
        upload = st.file_uploader("Accelerator YAML", type=["yaml", "yml"], key="hardware_file",
                                  help=f"Read as safe YAML only; at most {MAX_UPLOAD_BYTES // 1024} KiB.")
        hardware = None if upload is None else accelerator_from_upload(upload.getvalue(), upload.name)
    devices = st.number_input("Devices", min_value=1, step=1, key="devices", placeholder="tp x pp x cp x dp",
                              help="Accelerators in use; those beyond tp x pp x cp run data-parallel replicas.")
    if hardware is None:
        raise ConfigError("upload an accelerator YAML file, or pick a built-in accelerator")
    return {"hardware": hardware, "system": None, "devices": devices}


def _plan() -> dict:
    cols = st.columns(3) + st.columns(3)
    plan = {name: cols[i].number_input(name, min_value=1, step=1, key=name, help=SPECS[name].metadata["help"])
            for i, name in enumerate(["tp", "pp", "ep", "cp"])}
    plan["dp"] = cols[4].number_input("dp", min_value=1, step=1, key="dp", placeholder="auto", help=SPECS["dp"].metadata["help"])
    return plan


def _apply_usecase() -> None:
    """Picking a built-in use case sets its lengths and targets (all editable afterwards)."""
    name = st.session_state["usecase"]
    if name in (NONE, targets.CUSTOM):
        return
    case = load_usecase(name)
    st.session_state.update(input=case.input_tokens, output=case.output_tokens,
                            ttft_target=case.ttft_slo_s * 1e3, tpot_target=case.tpot_slo_s * 1e3)


def _workload() -> tuple[dict, object]:
    """batch, input and output, and the use case whose targets the pages check (None: no targets)."""
    name = st.selectbox("Use case", scenario_fields()["usecase"].choices, key="usecase", on_change=_apply_usecase,
                        help="A built-in use case sets prompt and output lengths and TTFT/TPOT targets "
                             "(`llmsizer usecases`); custom: type them. Every metric is then marked pass or fail.")
    cols = st.columns(2)
    input_len = cols[0].number_input("Input tokens", min_value=1, max_value=2_000_000, step=128, key="input")
    output_len = cols[1].number_input("Output tokens", min_value=1, max_value=2_000_000, step=64, key="output")
    case = None
    if name != NONE:
        ttft = cols[0].number_input("TTFT target (ms)", min_value=0.001, step=10.0, key="ttft_target")
        tpot = cols[1].number_input("TPOT target (ms)", min_value=0.001, step=1.0, key="tpot_target")
        case = targets.usecase(name, input_len, output_len, ttft, tpot)
    batch = st.number_input("Batch (requests per replica)", min_value=1, max_value=65536, step=1, key="batch")
    return {"batch": int(batch), "input": int(input_len), "output": int(output_len)}, case


def _option_widget(container, name: str):
    """One option as the command line declares it: label its flag name, help its help text."""
    spec, field = SPECS[name], scenario_fields()[name]
    label = name.replace("_", "-")
    if field.choices is not None:
        return _unset(container.selectbox(label, field.choices, key=name, help=spec.metadata["help"]))
    whole = field.kind is int
    return container.number_input(label, min_value=field.minimum, max_value=field.maximum, step=1 if whole else 0.05,
                                  key=name, placeholder="off" if field.default is None else None,
                                  help=spec.metadata["help"], format=None if whole else "%.2f")


def _serving_options() -> tuple[dict, dict, dict]:
    """Serving, workload and deployment options of the expander."""
    with st.expander("Serving options"):
        st.caption("As `llmsizer estimate` takes them: chunked prefill, speculative decoding, disaggregated "
                   "prefill, parallel samples, prefix cache, quantisation scheme, offload, MoE imbalance.")
        cols = st.columns(2)
        values = {name: _option_widget(cols[i % 2], name)
                  for i, name in enumerate(SERVING_FIELDS + WORKLOAD_EXTRAS + DEPLOYMENT_EXTRAS)}
    pick = lambda names: {n: values[n] for n in names}  # noqa: E731
    return pick(SERVING_FIELDS), pick(WORKLOAD_EXTRAS), pick(DEPLOYMENT_EXTRAS)


def scenario_sidebar() -> tuple[Choice | None, str]:
    """Draw the form; return the scenario, or None and the reason it cannot be built."""
    _seed()
    with st.sidebar:
        st.header("Scenario")
        problems = []
        deployment = {}
        for part in (lambda: {"model": _model()}, _hardware):
            try:
                deployment.update(part())
            except ConfigError as exc:
                problems.append(str(exc))
        st.subheader("Parallel plan")
        deployment.update(_plan())
        st.subheader("Workload and targets")
        workload, case = _workload()
        st.subheader("Precision and engine")
        cols = st.columns(2)
        deployment["weight_precision"] = cols[0].selectbox("Weights", PRECISIONS, key="weight_precision")
        deployment["kv_precision"] = _unset(cols[1].selectbox(
            "KV cache", scenario_fields()["kv_precision"].choices, key="kv_precision",
            help="auto: the weights' precision for fp8 and 16 bits, else bf16."))
        engine = st.selectbox("Engine profile", ENGINES, key="engine")
        deployment["engine"] = None if engine == ENGINES[0] else engine
        serving, sharing, extras = _serving_options()
    st.query_params.from_dict(to_query({key: st.session_state.get(key) for key in scenario_fields()},
                                       scenario_fields()))
    if problems:
        return None, "; ".join(problems)
    try:
        return Choice(Deployment(**deployment, **extras), Workload(**workload, **sharing), Serving(**serving),
                      case), ""
    except ValueError as exc:
        return None, str(exc)
