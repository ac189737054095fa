"""The web app in headless Chromium, driven as a visitor would (the page computations are tested
without a browser in test_web_compute.py).

Browser tests need Debian's chromium (`apt-get install chromium`) and the `test` extra
(`pip install 'llmsizer[test]'`: streamlit, plotly, playwright); without them they skip.
The first test prints how long the first metric takes to appear after opening the page.
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

import pytest
from click.testing import CliRunner

from conftest import ROOT
from llmsizer.cli import main as cli
from llmsizer.web.command import APP

CHROMIUM = Path("/usr/bin/chromium")
#: where the browser tests save page screenshots: a temporary folder, or docs/images when
#: `make screenshots` sets LLMSIZER_SCREENSHOTS (a test run never rewrites tracked files)
SCREENSHOTS = os.environ.get("LLMSIZER_SCREENSHOTS")
BAD_CONFIG = json.dumps({"model_type": "not-a-family", "hidden_size": 4096}).encode()
#: the chat use case with its shipped targets, as a link writes it
CHAT = "usecase=chat&input=3000&output=1000&ttft_target=200&tpot_target=10"


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
    _open(page, server)
    yield page
    context.close()


def _open(page, url: str) -> None:
    """Open `url` and wait for its first run to end: the sidebar, drawn last on a first visit,
    is there and the app is idle."""
    page.goto(url)
    page.get_by_text("Serving options", exact=True).wait_for()
    _wait_until_idle(page)


def _expect():
    from playwright.sync_api import expect

    return expect


def _metric(page, label: str):
    return page.get_by_test_id("stMetric").filter(has_text=label).get_by_test_id("stMetricValue")


def _number(text: str) -> float:
    return float(text.split()[0].replace(",", ""))


def _pick(page, label: str, option: str) -> None:
    """Choose `option` in the selectbox labelled `label` (typing filters the list); tried again when
    the list did not open (a click while the sidebar or an expander was still being drawn)."""
    from playwright.sync_api import TimeoutError as Timeout

    box = page.get_by_label(label, exact=True)
    wanted = page.get_by_role("option", name=option, exact=True)
    for _ in range(3):
        box.click()
        box.fill(option)
        try:
            wanted.click(timeout=10_000)
            return
        except Timeout:
            page.keyboard.press("Escape")
    raise AssertionError(f"no option {option!r} in {label!r}")


def _wait_until_idle(page) -> None:
    page.get_by_test_id("stStatusWidget").wait_for(state="hidden")


def _fill(page, label: str, value) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")


def _cli_json(*args) -> dict:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def _screenshot(page, name: str, tmp_path: Path, height: int = 1900) -> None:
    """The whole page as docs/web.md shows it (docs/images/NAME, refreshed by `make screenshots`)."""
    page.set_viewport_size({"width": 1400, "height": height})
    page.locator(".js-plotly-plot .main-svg").first.wait_for()
    _wait_until_idle(page)
    path = Path(SCREENSHOTS or tmp_path) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path))
    assert path.stat().st_size > 50_000


def test_first_metric_appears_soon_after_opening(browser, server, capsys):
    """Runs first, on a server that has not yet run the app: prints the seconds from opening the page
    to the first metric on screen, cold (first visit) and warm (a second visitor), with the load."""
    expect = _expect()
    seconds = []
    for _ in ("first visit", "second visitor"):
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        start = time.perf_counter()
        page.goto(server)
        expect(_metric(page, "TTFT")).to_have_text(re.compile(r"^[\d.]+ ms$"), timeout=60_000)
        seconds.append(time.perf_counter() - start)
        _wait_until_idle(page)  # the charts finish before the next visitor comes
        context.close()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    with capsys.disabled():  # shown in every run, not only with -s
        print(f"\nfirst metric on screen: {seconds[0]:.2f} s on the first visit, {seconds[1]:.2f} s for a second "
              f"visitor ({os.cpu_count()} CPUs, load average {load})")


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
    # 141 GB of weights do not fit one 80 GiB H100: the page says how many devices do
    expect(page.get_by_test_id("stAlertContentWarning")).to_contain_text("one replica fits on 2 x H100-SXM5-80GB")

    _fill(page, "tp", 2)
    expect(tpot).not_to_have_text(f"{on_70b:.2f} ms")
    on_two = _number(tpot.inner_text())
    throughput = _number(_metric(page, "Throughput").inner_text())
    _fill(page, "Batch (requests per replica)", 32)
    expect(tpot).not_to_have_text(f"{on_two:.2f} ms")
    assert _number(tpot.inner_text()) > on_two
    assert _number(_metric(page, "Throughput").inner_text()) > 2 * throughput


def test_chat_targets_pass_then_fail_as_the_batch_grows(page):
    """Pick "chat" (TTFT <= 200 ms, TPOT <= 10 ms): at batch 1 the prefill of 3000 tokens meets
    the TTFT target; at batch 32 the whole batch's prefill misses it."""
    expect = _expect()
    expect(_metric(page, "TPOT")).to_be_visible()
    _pick(page, "Use case", "chat")
    expect(page.get_by_label("Input tokens", exact=True)).to_have_value("3000")
    expect(page.get_by_label("TTFT target (ms)", exact=True)).to_have_value("200.00")
    ttft_verdict = page.get_by_text(re.compile(r"^(pass|fail) ≤ 200 ms$"))
    _fill(page, "Batch (requests per replica)", 1)
    expect(ttft_verdict).to_have_text("pass ≤ 200 ms")
    assert _number(_metric(page, "TTFT").inner_text()) <= 200
    _fill(page, "Batch (requests per replica)", 32)
    expect(ttft_verdict).to_have_text("fail ≤ 200 ms")
    assert _number(_metric(page, "TTFT").inner_text()) > 200


def test_what_do_i_need_agrees_with_llmsizer_search(page, tmp_path):
    """Llama-3.1-70B for chat over three accelerators: the fewest devices per accelerator are the
    minimum platforms `llmsizer search` prints."""
    expect = _expect()
    expect(_metric(page, "TPOT")).to_be_visible()
    _pick(page, "Model", "Llama-3.1-70B")
    _pick(page, "Use case", "chat")
    _wait_until_idle(page)
    page.get_by_role("link", name="What do I need?", exact=True).click()
    expect(page.get_by_role("heading", name="What do I need?", level=1)).to_be_visible()
    hardware = ["H100-SXM5-80GB", "H200-SXM-141GB", "MI300X-192GB"]
    for name in hardware:
        shown = _metric(page, name)
        expect(shown).to_have_text(re.compile(r"^(\d+ devices?|none up to 64)$"), timeout=180_000)
        searched = _cli_json("search", "--model", "Llama-3.1-70B", "--usecase", "chat", "--hardware", name,
                             "--max-devices", "64")["minimum_devices"]
        assert shown.inner_text() == (f"{searched} device{'s' if searched != 1 else ''}" if searched
                                      else "none up to 64"), name
    expect(page.get_by_test_id("stException")).to_have_count(0)
    _screenshot(page, "need-page.png", tmp_path, height=1500)


def test_shared_url_reproduces_the_scenario(page, browser):
    expect = _expect()
    tpot = _metric(page, "TPOT")
    expect(tpot).to_be_visible()
    _pick(page, "Model", "Qwen2.5-7B")
    _pick(page, "Use case", "chat")
    _fill(page, "Batch (requests per replica)", 16)
    _fill(page, "tp", 2)
    expect(page.get_by_label("tp", exact=True)).to_have_value("2")
    _wait_until_idle(page)
    page.wait_for_function("() => window.location.search.includes('tp=2')")
    link = page.url
    assert "model=Qwen2.5-7B" in link and "batch=16" in link and "usecase=chat" in link

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    other = context.new_page()
    _open(other, link)
    expect(other.get_by_label("Batch (requests per replica)", exact=True)).to_have_value("16")
    expect(other.get_by_label("Input tokens", exact=True)).to_have_value("3000")
    reproduced = _metric(other, "TPOT")
    expect(reproduced).to_be_visible()
    # the first page may still be redrawing its last change, slowly on a loaded machine
    expect(tpot).to_have_text(reproduced.inner_text(), timeout=30_000)
    expect(other.get_by_text(re.compile(r"^(pass|fail) ≤ 200 ms$"))).to_be_visible()
    context.close()


def test_speculative_decoding_changes_tpot_like_the_cli(page):
    expect = _expect()
    tpot = _metric(page, "TPOT")
    expect(tpot).to_have_text(re.compile(r"^[\d.]+ ms$"))
    plain = tpot.inner_text()
    page.get_by_text("Serving options", exact=True).click()
    page.get_by_label("draft", exact=True).wait_for()
    _pick(page, "draft", "heads")
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("acceptance")  # the CLI's rule, in red
    _fill(page, "draft-tokens", 3)
    _fill(page, "acceptance", 0.7)
    expect(tpot).not_to_have_text(plain)
    cli = _cli_json("estimate", "--model", "Llama-3.1-8B", "--hardware", "H100-SXM5-80GB", "--batch", "8",
                    "--input", "1024", "--output", "256", "--draft", "heads", "--draft-tokens", "3",
                    "--acceptance", "0.7")
    expect(tpot).to_have_text(f"{cli['tpot_ms']:.2f} ms")
    assert cli["tpot_ms"] < _number(plain)


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


def test_other_pages_draw_their_charts(page, server, tmp_path):
    """Through the page links, as a visitor moves, with the chat targets from a link: the sidebar's
    scenario stays the same."""
    expect = _expect()
    _open(page, f"{server}/?{CHAT}")
    expect(_metric(page, "TPOT")).to_be_visible()
    for name, charts in (("Under load", 1), ("Compare", 1), ("Study", 2), ("Validation", 1)):
        page.get_by_role("link", name=name, exact=True).click()
        expect(page.get_by_role("heading", name=name, level=1)).to_be_visible()
        expect(page.get_by_test_id("stPlotlyChart")).to_have_count(charts)
        expect(page.get_by_test_id("stDataFrame").first).to_be_visible()
        _wait_until_idle(page)
        expect(page.get_by_test_id("stException")).to_have_count(0)
        expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
        if name == "Under load":  # the simulator's p99 held to the chat targets
            expect(page.get_by_text(re.compile(r"^(pass|fail) p99 ≤ 200 ms$"))).to_be_visible()
        _screenshot(page, f"{name.lower().replace(' ', '-')}-page.png", tmp_path,
                    height={"Compare": 1300}.get(name, 1900))
        page.set_viewport_size({"width": 1400, "height": 1000})


def test_estimate_page_screenshot_and_json_download(page, server, tmp_path):
    """The Estimate page with the chat targets (docs/images/estimate-page.png); the JSON download
    holds the numbers on screen."""
    expect = _expect()
    _open(page, f"{server}/?{CHAT}&batch=1")
    tpot = _metric(page, "TPOT")
    expect(tpot).to_have_text(re.compile(r"^[\d.]+ ms$"))
    expect(page.get_by_test_id("stPlotlyChart")).to_have_count(3)
    _screenshot(page, "estimate-page.png", tmp_path)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download JSON").click()
    data = json.loads(Path(download.value.path()).read_text())
    assert f"{data['tpot_ms']:.2f} ms" == tpot.inner_text()
    assert {"bands", "memory_breakdown_gb", "breakdown"} <= set(data)
