"""The web app: its data helpers and uploads without a browser, then the pages in headless Chromium.

Browser tests need Debian's chromium (`apt-get install chromium`) and the `test` extra
(`pip install 'llmsizer[test]'`: streamlit, plotly, playwright); without them they skip.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from conftest import FIXTURES, ROOT
from llmsizer.errors import ConfigError
from llmsizer.web.command import APP, app
from llmsizer.search.pareto import pareto_mask
from llmsizer.web.compute import (Choice, compare, plan_points, roofline_points, study_grid,
                                  validation_rows, validation_scores, with_model, with_target)
from llmsizer.web.uploads import MAX_UPLOAD_BYTES, accelerator_from_upload, model_from_upload

CHROMIUM = Path("/usr/bin/chromium")
#: where the browser tests save page screenshots: a temporary folder, or docs/images when
#: `make screenshots` sets LLMSIZER_SCREENSHOTS (a test run never rewrites tracked files)
SCREENSHOTS = os.environ.get("LLMSIZER_SCREENSHOTS")
H100_YAML = ROOT / "src" / "llmsizer" / "data" / "hardware" / "accelerators" / "h100-sxm5-80gb.yaml"
BAD_CONFIG = json.dumps({"model_type": "not-a-family", "hidden_size": 4096}).encode()


# --- uploads -------------------------------------------------------------------------------


def test_config_upload_becomes_a_model():
    model = model_from_upload((FIXTURES / "hf_configs" / "llama.json").read_bytes())
    assert model.name == "uploaded" and model.num_layers > 0


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


# --- what the pages compute ----------------------------------------------------------------


def test_choice_passes_hardware_or_system_never_both():
    assert "system" not in Choice().options()
    on_system = with_target(Choice(), "system", "dgx-h100")
    assert on_system.options()["system"] == "dgx-h100" and "hardware" not in on_system.options()
    assert Choice(engine="default").options()["engine"] is None


def test_uploaded_objects_estimate_like_names():
    model = model_from_upload((FIXTURES / "hf_configs" / "llama.json").read_bytes())
    accelerator = accelerator_from_upload(H100_YAML.read_bytes())
    by_object = Choice(model=model, hardware=accelerator).estimate().to_dict()
    assert by_object["tpot_ms"] > 0 and by_object["hardware"] == "H100-SXM5-80GB"


def test_compare_keeps_a_failing_scenario_as_an_error_row():
    table = compare([with_model(Choice(), "Llama-3.1-8B"), with_model(Choice(tp=3), "Llama-3.1-70B")], "model")
    assert table["error"].iloc[0] == "" and table["tpot_ms"].iloc[0] > 0
    assert "tp" in table["error"].iloc[1]


def test_study_grid_is_one_row_per_pair_and_grows_with_load():
    grid = study_grid(Choice(), [1, 8, 64], [128, 1024])
    assert len(grid) == 6 and set(grid["batch"]) == {1, 8, 64}
    row = grid[grid["input"] == 1024].sort_values("batch")
    assert np.all(np.diff(row["tpot_ms"]) > 0) and np.all(np.diff(row["throughput_tokens_per_s"]) > 0)


def test_pareto_front_keeps_only_undominated_points():
    x, y = [1, 2, 3, 2, 0.5], [5, 4, 1, 3, 5]
    assert pareto_mask(x, y).tolist() == [True, True, True, False, False]


def test_plan_points_cover_every_batch_and_mark_a_front():
    points = plan_points(Choice(model="Llama-3.1-70B"), "dgx-h100", [1, 64])
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


def test_every_chart_has_a_title_and_axis_labels():
    charts = pytest.importorskip("llmsizer.web.charts")
    est = Choice().estimate()
    frame = est.breakdown()
    from llmsizer.inference.report import block_summary

    acc = est.scenario.system.accelerator
    figures = [
        charts.memory_bar(est.to_dict()["memory_breakdown_gb"]),
        charts.block_bars(block_summary(frame)),
        charts.roofline(roofline_points(frame), acc.peak("bf16"), acc.memory_bandwidth, "bf16"),
        charts.compare_bars(compare([Choice(), with_model(Choice(), "Qwen2.5-7B")], "model"), "model"),
        charts.heatmap(study_grid(Choice(), [1, 2], [128, 256]), "tpot_ms", "TPOT (ms)"),
        charts.pareto(plan_points(Choice(), "dgx-h100", [8])),
        charts.validation_scatter(validation_rows()),
    ]
    for fig in figures:
        layout = fig.to_dict()["layout"]
        assert layout["title"]["text"]
        axes = [v for k, v in layout.items() if k.startswith(("xaxis", "yaxis"))]
        assert axes and all(a.get("title", {}).get("text") for a in axes if a.get("showticklabels", True))


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


# --- the pages in a real browser ---------------------------------------------------------------

LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
               "--disable-sync", "--no-first-run"]
HOW = "`apt-get install chromium` (Debian) and `pip install 'llmsizer[test]'`"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The app under `streamlit run` on a free localhost port, stopped at the end; its output goes
    to a file (a pipe nobody reads could fill and stall it)."""
    pytest.importorskip("streamlit", reason=f"streamlit missing: {HOW}")
    port = _free_port()
    log_path = tmp_path_factory.mktemp("streamlit") / "server.log"
    log = log_path.open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}"
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never through a proxy from the env
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with direct.open(f"{url}/_stcore/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not answer on {url}:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no {CHROMIUM}: {HOW} to run the browser tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason=f"playwright missing: {HOW}")
    sync_api.expect.set_options(timeout=30_000)  # a cold first run of the app takes a few seconds
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(server)
    yield page
    context.close()


def _expect():
    from playwright.sync_api import expect

    return expect


def _metric(page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def _number(text: str) -> float:
    return float(text.split()[0].replace(",", ""))


def _pick(page, label: str, option: str) -> None:
    """Choose `option` in the selectbox labelled `label` (typing filters the list)."""
    box = page.get_by_label(label, exact=True)
    box.click()
    box.fill(option)
    page.get_by_role("option", name=option, exact=True).click()


def _wait_until_idle(page) -> None:
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")


def test_estimate_page_reacts_to_model_and_batch(page):
    expect = _expect()
    tpot = _metric(page, "TPOT")
    expect(tpot).to_have_text(re.compile(r"^[\d.]+ ms$"))  # Llama-3.1-8B on one H100 by default
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(3)
    first = _number(tpot.inner_text())

    _pick(page, "Model", "Llama-3.1-70B")
    expect(tpot).not_to_have_text(f"{first:.2f} ms")
    on_70b = _number(tpot.inner_text())
    assert on_70b > 5 * first  # ~9x the weights to read every step

    throughput = _number(_metric(page, "Throughput").inner_text())
    batch = page.get_by_label("Batch (requests per replica)")
    batch.fill("32")
    batch.press("Enter")
    expect(tpot).not_to_have_text(f"{on_70b:.2f} ms")
    assert _number(tpot.inner_text()) > on_70b
    assert _number(_metric(page, "Throughput").inner_text()) > 2 * throughput


def test_bad_config_upload_shows_the_loader_message(page):
    expect = _expect()
    expect(_metric(page, "TPOT")).to_be_visible()
    page.get_by_test_id("stRadio").get_by_text("Upload config.json", exact=True).click()
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("upload a Hugging Face config.json")
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(
        {"name": "config.json", "mimeType": "application/json", "buffer": BAD_CONFIG})
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("model_type 'not-a-family' is not supported")
    expect(page.get_by_test_id("stMetric")).to_have_count(0)
    expect(page.get_by_test_id("stException")).to_have_count(0)


def test_other_pages_draw_their_charts(page):
    """Through the page links, as a visitor moves: the sidebar's scenario stays the same."""
    expect = _expect()
    expect(_metric(page, "TPOT")).to_be_visible()
    for name, charts in (("Compare", 1), ("Study", 2), ("Validation", 1)):
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart")).to_have_count(charts)
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
        _wait_until_idle(page)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def test_estimate_page_screenshot_and_json_download(page, tmp_path):
    """The page as docs/web.md shows it (docs/images/estimate-page.png, refreshed by `make
    screenshots`); the JSON download holds the numbers on screen."""
    expect = _expect()
    page.set_viewport_size({"width": 1400, "height": 1900})
    tpot = _metric(page, "TPOT")
    expect(tpot).to_have_text(re.compile(r"^[\d.]+ ms$"))
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(3)
    expect(page.locator(".js-plotly-plot .main-svg").first).to_be_visible()
    _wait_until_idle(page)
    screenshot = Path(SCREENSHOTS or tmp_path) / "estimate-page.png"
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(screenshot))
    assert screenshot.stat().st_size > 50_000

    with page.expect_download() as download:
        page.get_by_role("button", name="Download JSON").click()
    data = json.loads(Path(download.value.path()).read_text())
    assert f"{data['tpot_ms']:.2f} ms" == tpot.inner_text()
    assert {"bands", "memory_breakdown_gb", "breakdown"} <= set(data)
