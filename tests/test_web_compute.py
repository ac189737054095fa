"""The web app without a browser: uploads, what the pages compute, pass/fail marks, the URL
round trip, "What do I need?" against `llmsizer search`, chart labels and the `llmsizer app`
command."""

import json
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import FIXTURES, ROOT
from llmsizer.errors import ConfigError
from llmsizer.hardware.zoo import load_accelerator
from llmsizer.inference.estimate import estimate, serving_memory
from llmsizer.inference.options import Serving
from llmsizer.search.pareto import pareto_mask
from llmsizer.web import targets
from llmsizer.web.command import APP, app
from llmsizer.web.compute import (Choice, compare, devices_needed, memory_gib, plan_points, roofline_points,
                                  study_grid, validation_rows, validation_scores, with_model, with_target)
from llmsizer.web.link import Field, from_query, to_query
from llmsizer.web.sizing import accelerator_from_numbers, need
from llmsizer.web.uploads import MAX_UPLOAD_BYTES, accelerator_from_upload, model_from_upload

H100_YAML = ROOT / "src" / "llmsizer" / "data" / "hardware" / "accelerators" / "h100-sxm5-80gb.yaml"
BAD_CONFIG = json.dumps({"model_type": "not-a-family", "hidden_size": 4096}).encode()
LLAMA_CONFIG = FIXTURES / "hf_configs" / "llama.json"


# --- uploads -------------------------------------------------------------------------------


def test_config_upload_is_named_by_its_file():
    model = model_from_upload(LLAMA_CONFIG.read_bytes(), "my-llama.json")
    assert model.name == "my-llama" and model.num_layers > 0
    config = json.loads(LLAMA_CONFIG.read_text())
    named = model_from_upload(json.dumps({**config, "_name_or_path": "org/Some-Model"}), "config.json")
    assert named.name == "Some-Model"


@pytest.mark.parametrize("data, message", [
    (b"{not json", "not valid JSON"),
    (BAD_CONFIG, "model_type 'not-a-family' is not supported"),
    (b"[1, 2]", "must hold a JSON object"),
    (b"\xff\xfe", "not UTF-8"),
    (b" " * (MAX_UPLOAD_BYTES + 1), "the limit is 256 KiB"),
])
def test_bad_config_upload_names_the_problem(data, message):
    with pytest.raises(ConfigError, match=message):
        model_from_upload(data)


def test_hardware_upload_becomes_an_accelerator():
    assert accelerator_from_upload(H100_YAML.read_bytes()).name == "H100-SXM5-80GB"


@pytest.mark.parametrize("text, message", [
    ("name: [unclosed", "not valid YAML"),
    ("- a list", "expected a mapping"),
    ("!!python/object/apply:os.system ['true']", "not valid YAML"),  # safe_load never builds objects
    ("peak_tflops: {bf16: 100}\nmemory: {hbm_gib: 80, hbm_tb_s: 3}", "required field 'name' is missing"),
    ("name: x\nmemory: {hbm_gib: 80}", "needs hbm_gib and hbm_tb_s"),
])
def test_bad_hardware_upload_names_the_problem(text, message):
    with pytest.raises(ConfigError, match=message):
        accelerator_from_upload(text)


def test_hardware_typed_as_numbers_matches_its_datasheet_file():
    h100 = load_accelerator("h100")
    typed = accelerator_from_numbers("typed", {
        "bf16_tflops": 989.4, "fp8_tflops": 1978.9, "fp4_tflops": 0, "hbm_gib": 80, "hbm_tb_s": 3.35,
        "link_gb_s": 450, "link_latency_us": 1.0, "devices_per_node": 8, "scale_out_gb_s": 50,
        "scale_out_latency_us": 5.0})
    assert typed.peak("bf16") == h100.peak("bf16") and typed.peak("fp8") == h100.peak("fp8")
    assert typed.memory_capacity == h100.memory_capacity and typed.memory_bandwidth == h100.memory_bandwidth
    assert (typed.scale_up.size, typed.scale_up.bandwidth, typed.scale_up.latency) == \
        (h100.scale_up.size, h100.scale_up.bandwidth, h100.scale_up.latency)
    assert typed.scale_out.bandwidth == h100.scale_out.bandwidth
    assert "fp4" not in typed.peak_flops  # 0 means the device has no such rate


# --- what the pages compute ----------------------------------------------------------------


def test_choice_passes_hardware_or_system_never_both():
    on_system = with_target(Choice(), "system", "dgx-h100")
    assert on_system.deployment.system == "dgx-h100" and on_system.deployment.hardware is None
    assert on_system.estimate().to_dict()["devices"] == 8


def test_serving_options_reach_the_estimate_like_the_command_line():
    spec = Serving(draft="heads", draft_tokens=3, acceptance=0.7)
    web = replace(Choice(), serving=spec).estimate().to_dict()
    api = estimate("Llama-3.1-8B", "H100-SXM5-80GB", batch=8, input=1024, output=256, draft="heads", draft_tokens=3,
                   acceptance=0.7).to_dict()
    assert web["tpot_ms"] == api["tpot_ms"] and web["tpot_ms"] < Choice().estimate().to_dict()["tpot_ms"]


def test_uploaded_objects_estimate_like_names():
    model = model_from_upload(LLAMA_CONFIG.read_bytes(), "llama.json")
    accelerator = accelerator_from_upload(H100_YAML.read_bytes())
    by_object = with_target(with_model(Choice(), model), "accelerator", accelerator).estimate().to_dict()
    assert by_object["tpot_ms"] > 0 and by_object["hardware"] == "H100-SXM5-80GB" and by_object["model"] == "llama"


def test_compare_offers_the_uploaded_model_under_its_file_name():
    pages = pytest.importorskip("llmsizer.web.pages")
    model = model_from_upload(LLAMA_CONFIG.read_bytes(), "my-llama.json")
    options, defaults = pages.compare_options(with_model(Choice(), model), "models")
    assert options[0] == ("model", "my-llama (uploaded)", model) and defaults[0] == options[0]
    table = compare([with_model(Choice(), obj) for _, _, obj in options[:2]], "model", [n for _, n, _ in options[:2]])
    assert table["model"].iloc[0] == "my-llama (uploaded)" and table["error"].iloc[0] == ""


def test_compare_is_per_device_with_whole_counts_and_keeps_errors():
    rows = [with_model(Choice(), "Llama-3.1-8B"), with_target(Choice(), "system", "dgx-h100"),
            with_model(Choice().with_deployment(tp=3), "Llama-3.1-70B")]
    table = compare(rows, "hardware", names=["one", "node", "bad"])
    assert list(table["hardware"]) == ["one", "node", "bad"]
    assert table["error"].iloc[0] == "" and "tp" in table["error"].iloc[2]
    assert str(table["devices"].dtype) == "Int64" and table["devices"].iloc[1] == 8
    node = table.iloc[1]
    assert node["throughput_per_device"] == pytest.approx(node["throughput_tokens_per_s"] / 8)


def test_memory_is_shown_in_gib():
    est = Choice().estimate()
    gib = memory_gib(est)
    assert gib["capacity"] == pytest.approx(80.0)  # the H100's 80 GiB, not 85.9 GB
    assert gib["total"] == pytest.approx(est.to_dict()["memory_per_device_gb"] * 1e9 / 2**30)


def test_devices_needed_is_the_fewest_that_fit():
    big = with_model(Choice(), "Llama-3.1-70B")  # 141 GB of bf16 weights on one 80 GiB H100
    assert not big.estimate().to_dict()["fits"]
    n, plan = devices_needed(big)
    assert n == 2
    tp, pp = (int(part.split("=")[1]) for part in plan.split()[:2])
    on_n = big.with_deployment(devices=n, tp=tp, pp=pp)
    assert first_fits(on_n) and tp * pp == n


def first_fits(choice):
    return bool(np.asarray(serving_memory(choice.deployment, choice.workload, choice.serving).fits).reshape(-1)[0])


def test_study_grid_is_one_row_per_pair_and_grows_with_load():
    grid = study_grid(Choice(), [1, 8, 64], [128, 1024])
    assert len(grid) == 6 and set(grid["batch"]) == {1, 8, 64}
    row = grid[grid["input"] == 1024].sort_values("batch")
    assert np.all(np.diff(row["tpot_ms"]) > 0) and np.all(np.diff(row["throughput_tokens_per_s"]) > 0)
    cell = row[row["batch"] == 8].iloc[0]
    assert cell["tpot_ms"] == pytest.approx(Choice().estimate().to_dict()["tpot_ms"])


def test_pareto_front_keeps_only_undominated_points():
    x, y = [1, 2, 3, 2, 0.5], [5, 4, 1, 3, 5]
    assert pareto_mask(x, y).tolist() == [True, True, True, False, False]


def test_plan_points_cover_every_batch_and_mark_a_front():
    points = plan_points(with_model(Choice(), "Llama-3.1-70B"), "dgx-h100", [1, 64])
    assert set(points["batch"]) == {1, 64} and points["pareto"].any()
    assert np.allclose(points["tokens_per_s_per_user"], 1000 / points["tpot_ms"])
    assert not points.loc[points["pareto"], "fits"].eq(False).any()


def test_roofline_points_are_flops_over_bytes_and_time():
    frame = Choice().estimate().breakdown()
    points = roofline_points(frame)
    assert len(points) > 0 and (points["gflop"] > 0).all()
    first = points.iloc[0]
    assert first["flop_per_byte"] == pytest.approx(first["gflop"] * 1e9 / (first["mbytes"] * 1e6))
    assert first["achieved_tflops"] == pytest.approx(first["gflop"] * 1e9 / (first["time_ms"] / 1e3) / 1e12)


def test_validation_scores_every_kind_and_all():
    scores = validation_scores(validation_rows(), "kind")
    assert scores["kind"].iloc[-1] == "all" and scores["rows"].iloc[-1] > 100
    assert {"male_pct", "median_ape_pct", "within_20_pct", "bias_pct"} <= set(scores.columns)


# --- pass or fail --------------------------------------------------------------------------


def test_verdicts_against_the_targets():
    chat = targets.usecase("chat", 3000, 1000, 200, 10)
    got = targets.verdicts([150, 250, 150, 150], [9, 9, 11, 9], [True, True, True, False], chat)
    assert got.tolist() == ["pass", "fail", "fail", "does not fit"]
    assert targets.verdicts([1.0], [1.0], [True], None).tolist() == [""]


def test_picked_usecase_keeps_its_name_with_typed_lengths_and_targets():
    case = targets.usecase("chat", 500, 100, 150, 20)
    assert (case.name, case.input_tokens, case.output_tokens) == ("chat", 500, 100)
    assert case.ttft_slo_s == pytest.approx(0.150) and case.tpot_slo_s == pytest.approx(0.020)
    assert targets.e2e_target_ms(case) == pytest.approx(150 + 99 * 20)


def test_metric_checks_follow_the_batch():
    chat = targets.usecase("chat", 3000, 1000, 200, 10)
    choice = replace(Choice(), workload=replace(Choice().workload, input=3000, output=1000))
    small = targets.metric_checks(replace(choice, workload=replace(choice.workload, batch=1)).estimate().to_dict(), chat)
    large = targets.metric_checks(replace(choice, workload=replace(choice.workload, batch=32)).estimate().to_dict(), chat)
    assert small["ttft"][0] == "pass" and large["ttft"][0] == "fail"


# --- the scenario in the URL ---------------------------------------------------------------

FIELDS = {"model": Field(str, "Llama-3.1-8B", ("Llama-3.1-8B", "Llama-3.1-70B")), "batch": Field(int, 8, minimum=1),
          "devices": Field(int, None, minimum=1), "acceptance": Field(float, None, minimum=0.0, maximum=1.0)}


def test_link_writes_only_what_differs_and_reads_it_back():
    values = {"model": "Llama-3.1-70B", "batch": 8, "devices": 4, "acceptance": 0.7}
    query = to_query(values, FIELDS)
    assert query == {"model": "Llama-3.1-70B", "devices": "4", "acceptance": "0.7"}
    assert from_query(query, FIELDS) == {"model": "Llama-3.1-70B", "devices": 4, "acceptance": 0.7}


@pytest.mark.parametrize("params", [{"model": "gpt-9"}, {"batch": "2.5"}, {"batch": "0"}, {"acceptance": "1.5"},
                                    {"batch": "many"}, {"unknown": "1"}])
def test_link_ignores_what_does_not_parse(params):
    assert from_query(params, FIELDS) == {}


def test_sidebar_fields_carry_every_serving_option_with_the_cli_default():
    pytest.importorskip("streamlit")
    from llmsizer.cli import main
    from llmsizer.web.link import NONE
    from llmsizer.web.sidebar import DEPLOYMENT_EXTRAS, SERVING_FIELDS, WORKLOAD_EXTRAS, scenario_fields

    fields = scenario_fields()
    flags = {param.name: param for param in main.get_command(None, "estimate").params}
    for name in SERVING_FIELDS + WORKLOAD_EXTRAS + DEPLOYMENT_EXTRAS:
        default = flags[name].default
        assert fields[name].default == (NONE if default is None and fields[name].choices else default), name
        if fields[name].choices is not None and name != "draft":
            assert set(flags[name].type.choices) <= set(fields[name].choices), name
    assert fields["draft"].choices[:2] == ("none", "heads") and "awq-int4" in fields["quant"].choices


# --- what do I need? -----------------------------------------------------------------------


def test_need_agrees_with_llmsizer_search_and_meets_the_targets():
    from llmsizer.cli import main

    code = targets.usecase("code-generation", 20000, 50, 5000, 20)  # the built-in use case's lengths and targets
    found, frames = need("Llama-3.1-70B", ["H200-SXM-141GB", "MI300X-192GB"], code, 16,
                         prices={"MI300X-192GB": 2.0})
    for row in found.itertuples():
        result = CliRunner().invoke(main, ["search", "--model", "Llama-3.1-70B", "--usecase", "code-generation",
                                           "--hardware",
                                           row.hardware, "--max-devices", "16", "--json"])
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["minimum_devices"] == row.devices
        assert row.ttft_ms <= 5000 and row.tpot_ms <= 20
        assert "headroom" in row.binding and float(row.binding.split("(")[1].split("x")[0]) >= 1.0
    mi300 = found[found["hardware"] == "MI300X-192GB"].iloc[0]
    assert mi300["usd_per_million_tokens"] == pytest.approx(2.0 / 3600 / mi300["throughput_per_device"] * 1e6)
    assert np.isnan(found[found["hardware"] == "H200-SXM-141GB"]["usd_per_million_tokens"].iloc[0])


# --- charts --------------------------------------------------------------------------------


def test_every_chart_has_a_title_and_axis_labels():
    charts = pytest.importorskip("llmsizer.web.charts")
    from llmsizer.inference.report import block_summary

    chat = targets.usecase("chat", 3000, 1000, 200, 10)
    est = Choice().estimate()
    frame = est.breakdown()
    acc = est.scenario.system.accelerator
    _, frames = need("Llama-3.1-8B", ["H100-SXM5-80GB"], chat, 2)
    figures = [
        charts.memory_bar(memory_gib(est)),
        charts.block_bars(block_summary(frame)),
        charts.roofline(roofline_points(frame), acc.peak("bf16"), acc.memory_bandwidth, "bf16"),
        charts.compare_bars(compare([Choice(), with_model(Choice(), "Llama-3.1-70B")], "model"), "model"),
        charts.heatmap(targets.mark(study_grid(Choice(), [1, 2], [128, 256]), chat), "tpot_ms", "TPOT (ms)"),
        charts.pareto(targets.mark(plan_points(Choice(), "dgx-h100", [8]), chat)),
        charts.hardware_pareto(frames["H100-SXM5-80GB"].assign(hardware="H100-SXM5-80GB")),
        charts.validation_scatter(validation_rows()),
    ]
    for fig in figures:
        layout = fig.to_dict()["layout"]
        assert layout["title"]["text"]
        axes = [v for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
        assert axes and all(a.get("title", {}).get("text") for a in axes if a.get("showticklabels", True))

    short = charts.pareto(plan_points(Choice(), "dgx-h100", [8, 16])).to_dict()["layout"]
    assert "dtick" not in short["xaxis"]  # less than a decade: plotly labels values within it
    wide = charts.validation_scatter(validation_rows()).to_dict()["layout"]
    assert wide["xaxis"]["dtick"] == 1  # many decades: one label per decade


def test_heatmap_cells_say_pass_or_fail():
    charts = pytest.importorskip("llmsizer.web.charts")
    chat = targets.usecase("chat", 3000, 1000, 200, 10)
    grid = targets.mark(study_grid(Choice(), [1, 64], [3000]), chat)
    text = charts.heatmap(grid, "ttft_ms", "TTFT").to_dict()["data"][0]["text"]
    assert text[0][0].endswith("✓") and text[0][1].endswith("✗")  # batch 1 meets 200 ms, batch 64 does not


def test_compare_chart_marks_what_does_not_fit():
    charts = pytest.importorskip("llmsizer.web.charts")
    table = compare([Choice(), with_model(Choice(), "Llama-3.1-70B")], "model")
    bars = charts.compare_bars(table, "model").to_dict()["data"][0]
    assert list(bars["x"]) == ["Llama-3.1-8B", "Llama-3.1-70B (does not fit)"]
    assert list(bars["marker"]["pattern"]["shape"]) == ["", "/"]


# --- the `llmsizer app` command --------------------------------------------------------------


def test_app_command_runs_streamlit_on_the_app(monkeypatch):
    pytest.importorskip("streamlit")
    calls = []
    monkeypatch.setattr(subprocess, "call", lambda cmd: calls.append(cmd) or 0)
    result = CliRunner().invoke(app, ["--port", "9000", "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    cmd = calls[0]
    assert cmd[1:5] == ["-m", "streamlit", "run", str(APP)]
    assert cmd[cmd.index("--server.port") + 1] == "9000" and cmd[cmd.index("--server.address") + 1] == "0.0.0.0"
    assert cmd[cmd.index("--server.headless") + 1] == "true"


def test_app_command_without_streamlit_says_how_to_get_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "streamlit", None)  # makes `import streamlit` fail
    result = CliRunner().invoke(app, [])
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == ["Error: the web app needs streamlit: pip install 'llmsizer[web]'"]
