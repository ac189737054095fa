"""The command line: listings, memory, estimate, predict, and errors without tracebacks."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from conftest import MEASUREMENTS
from llmsizer.cli import main


def run(*args):
    result = CliRunner().invoke(main, list(args))
    return result


def test_models_json_lists_names_aliases_and_counts():
    rows = json.loads(run("models", "--json").output)
    assert len(rows) >= 50
    assert {"name", "aliases", "parameters", "active_parameters"} <= set(rows[0])
    mixtral = next(r for r in rows if r["name"] == "Mixtral-8x7B-v0.1")
    assert mixtral["active_parameters"] < mixtral["parameters"]


def test_hardware_json_lists_names_and_aliases():
    rows = json.loads(run("hardware", "--json").output)
    assert len(rows) >= 24 and {"name", "aliases"} <= set(rows[0])
    systems = json.loads(run("hardware", "--systems", "--json").output)
    assert any(s["devices"] == 72 for s in systems)


def test_memory_json_and_table():
    data = json.loads(run("memory", "-m", "llama-3.1-70b", "-H", "h100", "--tp", "4", "--batch", "16", "--json").output)
    assert data["fits"] and data["max_batch"] >= 16
    assert data["weights_gb"] == pytest.approx(70.55e9 * 2 / 4 / 1e9, rel=0.01)
    table = run("memory", "-m", "llama-3.1-405b", "-H", "h100")
    assert "does not fit" in table.output


def test_estimate_json_has_the_contract_fields():
    out = run("estimate", "--model", "llama-3.1-8b", "--hardware", "h100", "--batch", "8", "--input", "512",
              "--output", "64", "--weight-precision", "fp8", "--kv-precision", "fp8", "--engine", "vllm", "--json")
    data = json.loads(out.output)
    for key in ("ttft_ms", "tpot_ms", "e2e_latency_ms", "throughput_tokens_per_s", "memory_per_device_gb", "fits",
                "prefill_bound", "decode_bound"):
        assert key in data
    assert data["e2e_latency_ms"] == pytest.approx(data["ttft_ms"] + 63 * data["tpot_ms"])
    assert data["parameters"] == data["active_parameters"] == pytest.approx(8.03e9, rel=0.001)  # a dense model
    assert data["throughput_tokens_per_s"] == pytest.approx(8 * 64 / data["e2e_latency_ms"] * 1000)
    assert data["profile"] == "vllm" and data["precisions"]["activations"] == "fp8"


def test_estimate_table_with_breakdown_and_system():
    out = run("estimate", "-m", "mixtral-8x7b", "-s", "dgx-h100", "--tp", "8", "--breakdown")
    assert out.exit_code == 0, out.output
    assert "time to first token" in out.output and "experts_up_gate" in out.output
    assert "moe_all_reduce" in out.output and ("direct" in out.output or "tree" in out.output)


def test_errors_are_one_line_without_traceback():
    out = run("estimate", "-m", "llama-3.1-8b", "-H", "h1000")
    assert out.exit_code == 2 and "unknown hardware 'h1000'" in out.output and "Traceback" not in out.output
    out = run("estimate", "-m", "llama-3.1-8b", "-H", "h100", "--tp", "3")
    assert out.exit_code == 2 and "tp = 3: must divide the attention heads (32)" in out.output


@pytest.mark.skipif(not MEASUREMENTS.exists(), reason="needs ../shared/validation beside the project")
def test_predict_runs_over_every_measured_row(tmp_path):
    out_csv = tmp_path / "pred.csv"
    result = run("predict", str(MEASUREMENTS), "-o", str(out_csv))
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out_csv, keep_default_na=False)
    source = pd.read_csv(MEASUREMENTS, keep_default_na=False)
    assert len(frame) == len(source) and list(frame.columns[: len(source.columns)]) == list(source.columns)
    assert (frame["pred_error"] == "").all()
    assert (frame["pred_ttft_ms"].astype(float) > 0).all()
    assert set(frame["pred_engine"]) <= {"trtllm", "lmdeploy", "hf", "vllm"}


def test_predict_keeps_going_past_bad_rows(tmp_path):
    rows = pd.DataFrame([
        dict(model="llama-3.1-8b", hardware="h100", num_devices=1, tp=1, pp=1, ep=1, weight_precision="bf16",
             kv_precision="bf16", batch_size=4, input_len=100, output_len=10, framework="vLLM 0.6"),
        dict(model="no-such-model", hardware="h100", num_devices=1, tp=1, pp=1, ep=1, weight_precision="bf16",
             kv_precision="bf16", batch_size=4, input_len=100, output_len=10, framework=""),
        dict(model="llama-3.1-8b", hardware="h100", num_devices=3, tp=3, pp=1, ep=1, weight_precision="bf16",
             kv_precision="bf16", batch_size=4, input_len=100, output_len=10, framework="some engine"),
    ])
    path = tmp_path / "in.csv"
    rows.to_csv(path, index=False)
    result = run("predict", str(path), "-o", str(tmp_path / "out.csv"))
    assert result.exit_code == 0
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert out.loc[0, "pred_error"] == "" and out.loc[0, "pred_engine"] == "vllm"
    assert "unknown model" in out.loc[1, "pred_error"]
    assert "must divide" in out.loc[2, "pred_error"]
    assert out.loc[2, "pred_engine"] == "default (framework not recognised)"
    assert out.loc[1, "pred_engine"] == "default (no framework given)"
