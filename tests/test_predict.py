"""`predict`: every row on its own, a bad cell never costs a good row, files stream in chunks."""

import numpy as np
import pandas as pd
import pytest

from llmsizer.errors import LlmsizerError
from llmsizer.inference import predict as predict_module
from llmsizer.inference.estimate import estimate
from llmsizer.inference.predict import predict, predict_file

GOOD = {"model": "llama-3.1-8b", "hardware": "h100", "num_devices": 1, "tp": 1, "pp": 1, "ep": 1,
        "weight_precision": "bf16", "kv_precision": "bf16", "batch_size": 4, "input_len": 512, "output_len": 64,
        "framework": "vLLM"}


@pytest.mark.parametrize("column, value", [
    ("batch_size", "abc"), ("batch_size", ""), ("input_len", np.nan), ("output_len", 0), ("batch_size", -1),
    ("input_len", 0.5), ("batch_size", "1,000"), ("tp", 2.5), ("num_devices", float("inf")), ("output_len", 1e300),
    ("model", ""), ("tp", "x"),
])
def test_a_bad_cell_fails_only_its_own_row(column, value):
    frame = pd.DataFrame([GOOD, {**GOOD, column: value}, {**GOOD, "batch_size": 8}])
    out = predict(frame)
    assert out["pred_error"].iloc[1].startswith(column)
    assert (out["pred_error"].iloc[[0, 2]] == "").all()
    assert np.isfinite(out["pred_ttft_ms"].iloc[[0, 2]]).all() and np.isnan(out["pred_ttft_ms"].iloc[1])


def test_rows_equal_estimate():
    out = predict(pd.DataFrame([GOOD]))
    est = estimate("llama-3.1-8b", "h100", batch=4, input=512, output=64, engine="vllm")
    assert out["pred_tpot_ms"].iloc[0] == pytest.approx(float(est.tpot) * 1e3, rel=1e-9)
    assert out["pred_memory_per_device_gb"].iloc[0] == pytest.approx(float(est.memory.total) / 1e9, rel=1e-9)


def test_engines_with_different_prefill_budgets_keep_their_own_memory_account():
    """vLLM V0 prefills every prompt of a batch at once, V1 at most 8,192 tokens a step: predicted
    together, each row gets the largest batch and memory that its own estimate gives."""
    rows = [{**GOOD, "framework": f"vLLM {release}", "batch_size": 16, "input_len": 32768, "output_len": 16}
            for release in ("0.6.0", "0.9.0")]
    out = predict(pd.DataFrame(rows))
    for (_, row), engine in zip(out.iterrows(), ("vllm/v0", "vllm/v1")):
        est = estimate("llama-3.1-8b", "h100", batch=16, input=32768, output=16, engine=engine)
        assert row["pred_max_batch"] == float(est.memory.max_batch)
        assert row["pred_memory_per_device_gb"] == pytest.approx(float(est.memory.total) / 1e9, rel=1e-9)
    assert out["pred_max_batch"].iloc[1] > out["pred_max_batch"].iloc[0]


def test_a_deployment_that_cannot_be_built_fails_its_rows_only():
    frame = pd.DataFrame([GOOD, {**GOOD, "tp": 3}, {**GOOD, "model": "no-such-model"}])
    out = predict(frame)
    assert out["pred_error"].iloc[0] == "" and "tp" in out["pred_error"].iloc[1]
    assert "no-such-model" in out["pred_error"].iloc[2]


def test_files_stream_in_chunks_with_the_same_rows(tmp_path, monkeypatch):
    frame = pd.DataFrame([{**GOOD, "batch_size": b} for b in range(1, 8)] + [{**GOOD, "tp": "bad"}])
    source, target = tmp_path / "in.csv", tmp_path / "out.csv"
    frame.to_csv(source, index=False)
    monkeypatch.setattr(predict_module, "CHUNK_ROWS", 3)
    seen = []
    counts = predict_file(source, target, progress=seen.append)
    out = pd.read_csv(target, keep_default_na=False)
    assert counts == {"rows": 8, "errors": 1, "default_profile": 0} and seen == [3, 6, 8]
    whole = predict(frame)
    assert np.allclose(out["pred_tpot_ms"].iloc[:7].astype(float), whole["pred_tpot_ms"].iloc[:7])


def test_ragged_lines_fail_with_their_line_number_and_empty_files_are_refused(tmp_path):
    ragged = tmp_path / "ragged.csv"
    line = ",".join(str(v) for v in GOOD.values())
    ragged.write_text(",".join(GOOD) + "\n" + line + "\n" + line + ",extra\n" + line + "\n")
    counts = predict_file(ragged, tmp_path / "out.csv")
    out = pd.read_csv(tmp_path / "out.csv", keep_default_na=False)
    assert counts["errors"] == 1 and out["pred_error"].tolist()[1] == "line 3 has more cells than the header's 12 columns"
    assert out["pred_error"].tolist()[0] == out["pred_error"].tolist()[2] == ""
    ragged.write_text(",".join(GOOD) + "\n" + line + ",extra,more\n")
    with pytest.raises(LlmsizerError, match="more than one cell beyond"):
        predict_file(ragged, tmp_path / "out.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(LlmsizerError, match="empty"):
        predict_file(empty, tmp_path / "out.csv")
