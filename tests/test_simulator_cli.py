"""`llmsizer simulate`: one scenario from flags, and a table of scenarios where a bad row only
fills its own error column."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from llmsizer.cli import main
from llmsizer.inference.rows import LARGEST_WHOLE
from llmsizer.serving.table import lengths_of, row_options, simulate_table


def test_simulate_prints_json_with_percentiles_and_goodput():
    result = CliRunner().invoke(main, ["simulate", "-m", "llama-3.1-8b", "-H", "h100", "--rate", "8", "--requests",
                                       "200", "--lengths", "lognormal", "--slo-ttft-ms", "500", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    s = data["summary"]
    assert s["completed"] == 200 and s["ttft_ms_p50"] <= s["ttft_ms_p90"] <= s["ttft_ms_p99"]
    assert 0 < s["goodput_requests_per_s"] <= s["request_throughput_per_s"]
    assert data["scheduler"]["engine"] == "vllm" and data["scheduler"]["block_size"] == 16


def test_simulate_runs_compiled_graphs_from_flags():
    result = CliRunner().invoke(main, ["simulate", "-m", "llama-3.1-8b", "-H", "trainium2", "-e", "neuron",
                                       "--compiled-batch", "8", "--compiled-sequence", "4096", "--concurrency", "4",
                                       "--requests", "20", "--input", "1500", "--output", "100", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["scheduler"]["engine"] == "compiled" and data["scheduler"]["max_num_seqs"] == 8
    assert data["summary"]["completed"] == 20


def test_simulate_runs_eagerly_from_its_flag():
    """--eager decodes without captured graphs: the same run's inter-token latency grows (under vLLM,
    whose Python launches outlast the kernels' device gaps on any host)."""
    def itl(*flags):
        result = CliRunner().invoke(main, ["simulate", "-m", "llama-3.1-8b", "-H", "h100", "-e", "vllm", "--concurrency", "2",
                                           "--requests", "8", "--input", "256", "--output", "32", "--json", *flags])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["summary"]["itl_ms_mean"]

    assert itl("--eager") > itl() > 0


def test_simulate_a_scenario_table_keeps_bad_rows_to_themselves(tmp_path):
    rows = pd.DataFrame([
        dict(model="llama-3.1-8b", hardware="h100", num_devices=1, tp=1, pp=1, ep=1, weight_precision="bf16",
             kv_precision="bf16", input_len=512, output_len=64, framework="vLLM", concurrency=4, request_rate="",
             num_requests=40),
        dict(model="no-such-model", hardware="h100", num_devices=1, tp=1, pp=1, ep=1, weight_precision="bf16",
             kv_precision="bf16", input_len=512, output_len=64, framework="", concurrency="", request_rate=5,
             num_requests=40),
        dict(model="llama-3.1-8b", hardware="h100", num_devices=2, tp=1, pp=1, ep=1, weight_precision="fp8",
             kv_precision="fp8", input_len=512, output_len=64, framework="SGLang", concurrency="", request_rate=5,
             num_requests=40),
    ])
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    rows.to_csv(source, index=False)
    result = CliRunner().invoke(main, ["simulate", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, keep_default_na=False)
    assert list(table.columns[:len(rows.columns)]) == list(rows.columns)
    assert table.loc[0, "sim_error"] == "" and table.loc[2, "sim_error"] == ""
    assert "no-such-model" in table.loc[1, "sim_error"] and table.loc[1, "sim_ttft_ms_mean"] == ""
    assert float(table.loc[0, "sim_output_throughput_tokens_per_s"]) > 0
    for stat in ("mean", "p50", "p90", "p95", "p99"):
        assert f"sim_itl_ms_{stat}" in table.columns


def test_simulate_replays_a_trace_and_draws_the_timeline(tmp_path):
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join(json.dumps({"timestamp": 10 + 0.2 * i, "input_length": 300 + i, "output_length": 20})
                               for i in range(30)))
    plot = tmp_path / "timeline.png"
    result = CliRunner().invoke(main, ["simulate", "-m", "llama-3.1-8b", "-H", "h100", "--trace", str(trace),
                                       "--plot", str(plot), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["summary"]["completed"] == 30 and plot.stat().st_size > 10_000


def test_simulate_needs_a_scenario():
    result = CliRunner().invoke(main, ["simulate", "--rate", "3"])
    assert result.exit_code == 2 and "--model" in result.output


@pytest.mark.parametrize("text, kind, spread", [
    ("fixed (random dataset)", "fixed", 0.0),
    ("uniform: random dataset, range ratio 0", "uniform", 1 / np.sqrt(3)),
    ("emulated: guidellm 0.1 prompts of 1,500 +/- 150 tokens and outputs of 250 +/- 20 tokens", "normal", 0.1),
    ("dataset: ShareGPT V3", "lognormal", 1.0),
])
def test_a_length_distribution_cell_names_its_draw(text, kind, spread):
    assert lengths_of(text) == (kind, pytest.approx(spread))


def test_a_row_with_compiled_shapes_runs_the_compiled_scheduler():
    row = {"model": "llama-3.1-8b", "hardware": "trainium2", "framework": "vLLM with the optimum-neuron plugin",
           "input_len": 1500, "output_len": 200, "concurrency": 4, "compiled_batch": 32, "compiled_sequence": 4096}
    options = row_options(row)
    assert options["scheduler"] == "compiled" and (options["compiled_batch"], options["compiled_sequence"]) == (32, 4096)
    assert row_options({**row, "compiled_batch": "", "compiled_sequence": ""})["scheduler"] == "vllm"


@pytest.mark.parametrize("bad", ["abc", 2.5, 0])
def test_a_bad_compiled_shape_fails_its_own_row_only(bad):
    base = {"model": "llama-3.1-8b", "hardware": "trainium2", "framework": "vLLM with the optimum-neuron plugin",
            "input_len": 1500, "output_len": 100, "concurrency": 2, "num_requests": 6, "compiled_sequence": 4096}
    out = simulate_table(pd.DataFrame([{**base, "compiled_batch": 8}, {**base, "compiled_batch": bad}]))
    assert out["sim_error"][0] == "" and out["sim_ttft_ms_mean"][0] > 0
    assert out["sim_error"][1] == f"compiled_batch = {bad!r}: must be a whole number from 1 to {LARGEST_WHOLE}"


def test_a_simulate_table_reads_its_true_false_columns():
    """`eager` runs the row's deployment without captured graphs (slower decode), `attention_dp`
    with attention data parallelism; a cell that is not true or false fails its own row only."""
    row = {"model": "llama-3.1-8b", "hardware": "h100", "input_len": 256, "output_len": 64, "tp": 2}
    assert row_options({**row, "attention_dp": "true"})["attention_dp"] is True
    assert row_options(row)["attention_dp"] is False and row_options(row)["eager"] is False
    base = {"model": "llama-3.1-8b", "hardware": "h100", "framework": "SGLang 0.4", "input_len": 256,
            "output_len": 64, "concurrency": 1, "num_requests": 4}
    out = simulate_table(pd.DataFrame([{**base, "eager": "true"}, {**base, "eager": ""}, {**base, "eager": "maybe"}]))
    assert out["sim_itl_ms_mean"][0] > out["sim_itl_ms_mean"][1] > 0
    assert out["sim_error"][2] == "eager = 'maybe': must be true or false"
