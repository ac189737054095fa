"""The "Under load" page's computations: the sidebar's deployment on the request simulator, as
`llmsizer simulate` runs it, with percentiles held to the use case's targets."""

import json
from dataclasses import replace

import pytest
from click.testing import CliRunner

from llmsizer.cli import main
from llmsizer.inference.options import Serving
from llmsizer.web import targets
from llmsizer.web.compute import Choice
from llmsizer.web.underload import LoadChoice, load_checks, percentile_table, simulate_load

CHAT = targets.usecase("chat", 1024, 256, 200, 10)


def test_the_page_simulates_what_the_command_line_simulates():
    choice = replace(Choice(), usecase=CHAT)
    summary = simulate_load(choice, LoadChoice(rate=6.0, requests=200, seed=3)).summary
    result = CliRunner().invoke(main, ["simulate", "-m", "Llama-3.1-8B", "-H", "H100-SXM5-80GB", "--rate", "6",
                                       "--requests", "200", "--seed", "3", "--input", "1024", "--output", "256",
                                       "--json"])
    assert result.exit_code == 0, result.output
    cli = json.loads(result.output)
    cli = cli.get("summary", cli)
    for key in ("ttft_ms_p99", "itl_ms_p50", "output_throughput_tokens_per_s"):
        assert summary[key] == pytest.approx(cli[key]), key
    assert "goodput_requests_per_s" in summary  # the use case's targets count good requests


def test_percentiles_are_held_to_the_targets():
    summary = simulate_load(Choice(), LoadChoice(mode="concurrency", concurrency=8, requests=100)).summary
    table = percentile_table(summary)
    assert list(table["latency (ms)"]) == ["TTFT", "inter-token latency", "end-to-end"]
    assert (table["p99"] >= table["p50"]).all()
    loose = targets.usecase("custom", 1024, 256, 1e6, 1e6)
    tight = targets.usecase("custom", 1024, 256, summary["ttft_ms_p50"], summary["itl_ms_p50"])
    assert {v for v, _ in load_checks(summary, loose, "p99").values()} == {"pass"}
    assert load_checks(summary, tight, "p50")["ttft"][0] == "pass"
    assert load_checks(summary, tight, "p99")["ttft"][0] == ("fail" if summary["ttft_ms_p99"] > summary["ttft_ms_p50"]
                                                             else "pass")


def test_speculative_decoding_is_refused_in_the_simulator_own_words():
    choice = replace(Choice(), serving=Serving(draft="heads", draft_tokens=3, acceptance=0.7))
    with pytest.raises(ValueError, match="speculative"):
        simulate_load(choice, LoadChoice(requests=20))
