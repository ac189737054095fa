"""The shipped measurement sets: well formed, traceable, and free of held-out publications."""

import csv
import math
import re
from importlib import resources

import pytest

from llmsizer.calibration.measurements import METRIC_KIND

FOLDER = resources.files("llmsizer.data").joinpath("validation")
STATIC = "measurements.csv"
SERVING = "serving_measurements.csv"

STATIC_COLUMNS = ["id", "source", "source_url", "framework", "hardware", "num_devices", "tp", "pp", "ep", "model",
                  "weight_precision", "kv_precision", "batch_size", "compiled_batch", "compiled_sequence", "eager", "input_len",
                  "output_len", "metric", "value", "unit", "client", "notes"]
SERVING_COLUMNS = ["id", "source", "source_url", "framework", "hardware", "num_devices", "tp", "pp", "ep", "dp",
                   "compiled_batch", "compiled_sequence", "model", "weight_precision", "kv_precision", "input_len", "output_len", "length_distribution",
                   "concurrency", "request_rate", "num_requests", "metric", "value", "unit", "notes"]
SERVING_METRICS = {f"{what}_{stat}_ms" for what in ("ttft", "itl", "tpot", "e2e_latency")
                   for stat in ("mean", "p50", "p90", "p95", "p99")} | {
                   "output_throughput_tokens_per_s", "request_throughput_per_s"}
PRECISIONS = {"fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"}
#: weights may also name the 4-bit presets whose activation format the row knows
WEIGHT_PRECISIONS = PRECISIONS | {"nvfp4", "mxfp4"}

#: publications kept out of the shipped sets so that accuracy can be checked on data never fitted:
#: a URL pattern, and how many rows from it the static set held before the rule (none may be added)
HELD_OUT = {
    r"tensorrt-llm.*(performance\.md|perf-overview|performance/perf)": 88,
    r"tensorrt-llm.*(/blogs/|deepseek)": 0,
    r"lmdeploy.*benchmark": 42,
    r"model-performance-gaudi|gaudi.*model-performance": 15,
    r"blogs\.oracle\.com": 0,
    r"amd\.com/.*performance-results": 1,
    r"github\.com/rocm/vllm": 0,
    r"rocm\.blogs\.amd\.com": 0,
    r"buildkite\.com/vllm|perf\.vllm\.ai|blog\.vllm\.ai": 0,
    r"kipp\.ly|llm-analysis": 4,
    r"jetstream-pytorch|tpu-recipes": 0,
    r"awsdocs-neuron|aws-neuron|neuron.*\.aws": 0,
    r"docs\.nvidia\.com/nim|nim\.csv|/nim/": 0,
    r"inferencemax|inferencex|semianalysis": 0,
    r"arc-pro-b60|arc_pro_b60": 0,
}


def read(name):
    with FOLDER.joinpath(name).open(newline="") as handle:
        reader = csv.DictReader(handle)
        return reader.fieldnames, list(reader)


@pytest.fixture(scope="module", params=[STATIC, SERVING])
def table(request):
    return request.param, *read(request.param)


def test_columns_are_the_documented_ones(table):
    name, fields, _ = table
    assert fields == (STATIC_COLUMNS if name == STATIC else SERVING_COLUMNS)


def test_ids_unique_and_every_row_traceable(table):
    _, _, rows = table
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids))
    for row in rows:
        assert row["source"].strip(), row["id"]
        assert row["source_url"].startswith(("https://", "http://")), row["id"]
        assert row["framework"].strip() and row["notes"].strip(), row["id"]


def test_values_positive_with_known_metrics_and_layouts(table):
    name, _, rows = table
    metrics = set(METRIC_KIND) if name == STATIC else SERVING_METRICS
    for row in rows:
        assert row["metric"] in metrics, row["id"]
        value = float(row["value"])
        assert math.isfinite(value) and value > 0, row["id"]
        assert row["weight_precision"] in WEIGHT_PRECISIONS and row["kv_precision"] in PRECISIONS, row["id"]
        devices, tp, pp = int(row["num_devices"]), int(row["tp"]), int(row["pp"])
        assert devices == tp * pp and int(row["ep"]) <= devices, row["id"]
        if row["output_len"] or name == STATIC:
            assert float(row["output_len"]) >= 1, row["id"]


def test_serving_rows_state_their_load():
    _, rows = read(SERVING)
    for row in rows:
        assert row["concurrency"] or row["request_rate"], row["id"]
        assert int(row["dp"]) >= 1 and row["length_distribution"].strip(), row["id"]
        if not (row["input_len"] and row["output_len"]):
            assert "left blank" in row["length_distribution"], row["id"]


def test_no_held_out_publication_beyond_the_rows_already_shipped():
    for name in (STATIC, SERVING):
        _, rows = read(name)
        for pattern, allowed in HELD_OUT.items():
            hits = [row["id"] for row in rows if re.search(pattern, row["source_url"].lower())]
            assert len(hits) <= (allowed if name == STATIC else 0), (name, pattern, hits[:5])


def test_readme_states_the_row_and_source_counts():
    text = FOLDER.joinpath("README.md").read_text()
    for name in (STATIC, SERVING):
        _, rows = read(name)
        stated = re.search(rf"`{re.escape(name)}`:.*?\((\d+) rows, (\d+) sources\)", text, re.S)
        assert stated, name
        assert (int(stated.group(1)), int(stated.group(2))) == (len(rows), len({row["source"] for row in rows})), name


def test_rows_timed_at_a_client_say_so(table):
    """A static row's `client` is empty (the engine timed) or http (timed at an HTTP client)."""
    name, _, rows = table
    if name == STATIC:
        assert {row["client"] for row in rows} <= {"", "http"}


def test_rows_run_eagerly_say_so_as_their_framework_does(table):
    """A static row's `eager` is true exactly where its framework states the engine ran without
    captured graphs (--enforce-eager), else empty."""
    name, _, rows = table
    if name == STATIC:
        assert all(row["eager"] == ("true" if "--enforce-eager" in row["framework"] else "") for row in rows)


def test_serving_runs_state_the_compiled_shapes_of_their_static_rows():
    """A deployment's compiled graphs are one export: its runs under load and its static rows agree."""
    static = {(r["hardware"], r["model"], r["tp"]): (r["compiled_batch"], r["compiled_sequence"])
              for r in read(STATIC)[1] if r["compiled_batch"]}
    stated = [r for r in read(SERVING)[1] if r["compiled_batch"] or r["compiled_sequence"]]
    assert stated
    for row in stated:
        assert static[(row["hardware"], row["model"], row["tp"])] == (row["compiled_batch"], row["compiled_sequence"])
