"""Calibration: recovers known parameters, stays accurate out of sample, and gives honest bands."""

from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

from llmsizer.calibration.calibrate import calibrate
from llmsizer.calibration.fit import fit, k_folds, out_of_sample
from llmsizer.calibration.measurements import predicted, prepare_rows, read_measurements
from llmsizer.calibration.scoring import statistics
from llmsizer.cli import main
from llmsizer.cost.profile import load_profile


@pytest.fixture(scope="module")
def rows():
    return prepare_rows(read_measurements())


#: parameters these rows identify, with how closely a fit must find them (the per-step and
#: per-kernel overheads both add a constant per step: the rows only tell their sum apart through
#: layer counts, so their split follows the priors and is not asserted)
TRUTH = {("memory_efficiency", "H100-SXM5-80GB"): 0.7, ("matmul_efficiency", "H100-SXM5-80GB"): 0.55,
         ("memory_efficiency", "A100-SXM4-80GB"): 0.9, ("matmul_efficiency", "A100-SXM4-80GB"): 0.8,
         ("prefill_overhead_s", "trtllm"): 2e-3}
TOLERANCE = {"memory_efficiency": 0.03, "matmul_efficiency": 0.03, "prefill_overhead_s": 0.15}


def test_fit_recovers_known_parameters_from_synthetic_measurements(rows):
    """Measurements made by the model itself under known parameters are fitted back to them."""
    keep = (rows.frame["engine"] == "trtllm").to_numpy() & rows.frame["hardware"].isin(
        ["H100-SXM5-80GB", "A100-SXM4-80GB"]).to_numpy()
    subset = rows.subset(keep)

    def truth(engine, hardware):
        profile = load_profile(engine, hardware, fitted=False)
        changes = {name: value for (name, key), value in TRUTH.items() if key in (engine, hardware)}
        return replace(profile, **changes)

    subset.frame["value"] = predicted(subset, truth)
    result = fit(subset, max_evaluations=100)
    for key, value in TRUTH.items():
        assert result.values[key] == pytest.approx(value, rel=TOLERANCE[key[0]]), key
    measured = subset.frame["value"].to_numpy()
    assert statistics(predicted(subset, result.profile_for), measured)["male_pct"] < 2.0


def test_out_of_sample_error_stays_within_bound(rows):
    """Each row predicted by a fit that never saw it (5-fold): mean absolute log error <= 25%."""
    pred = out_of_sample(rows, k_folds(len(rows.frame), 5))
    stats = statistics(pred, rows.frame["value"].to_numpy(float))
    assert stats["rows"] == int((rows.frame["error"] == "").sum())
    assert stats["male_pct"] <= 25.0


def test_calibration_bands_are_wider_for_unseen_engines(rows):
    small = rows.subset(rows.frame["engine"].isin(["lmdeploy"]).to_numpy())
    result = calibrate(small, folds=3)
    docs = result.profile_documents("test rows")
    assert set(docs) == {"lmdeploy", "default"}
    assert docs["lmdeploy"]["uncertainty"]["throughput"] <= docs["default"]["uncertainty"]["throughput"]
    assert set(docs["lmdeploy"]["hardware"]) == {"A100-SXM4-80GB"}


def test_shipped_profiles_are_fitted_and_widen_off_their_data():
    trtllm_h100 = load_profile("trtllm", "H100-SXM5-80GB")
    assert trtllm_h100.source.startswith("Fitted") and "no calibration" not in trtllm_h100.uncertainty_basis
    prior = load_profile("trtllm", "H100-SXM5-80GB", fitted=False)
    assert trtllm_h100.memory_efficiency != prior.memory_efficiency
    unseen_hw = load_profile("trtllm", "B200-180GB")
    assert "B200-180GB had no calibration data" in unseen_hw.uncertainty_basis
    assert all(unseen_hw.uncertainty[k] >= trtllm_h100.uncertainty[k] for k in trtllm_h100.uncertainty)
    unseen_engine = load_profile("sglang", "H100-SXM5-80GB")
    assert "engine sglang had no calibration data" in unseen_engine.uncertainty_basis


def test_predict_bands_bracket_the_prediction():
    import pandas as pd

    from llmsizer.inference.predict import predict

    frame = pd.DataFrame([dict(model="llama-3.1-8b", hardware="h100", num_devices=1, tp=1, pp=1, ep=1,
                               weight_precision="fp8", kv_precision="fp8", batch_size=8, input_len=512,
                               output_len=128, framework="TensorRT-LLM")])
    out = predict(frame).iloc[0]
    for column in ("pred_ttft_ms", "pred_tpot_ms", "pred_e2e_latency_ms", "pred_throughput_tokens_per_s"):
        assert out[f"{column}_low"] < out[column] < out[f"{column}_high"]


def test_validate_prints_the_table_and_skipped_rows():
    result = CliRunner().invoke(main, ["validate", "--by", "hardware"])
    assert result.exit_code == 0, result.output
    assert "H100-SXM5-80GB" in result.output and "all" in result.output
    assert "scored at the largest that fits" in result.output
    uncalibrated = CliRunner().invoke(main, ["validate", "--uncalibrated"])
    assert "documented priors" in uncalibrated.output


def test_validate_fitted_beats_priors(rows):
    measured = rows.frame["value"].to_numpy(float)
    prior = statistics(predicted(rows, lambda e, h: load_profile(e, h, fitted=False)), measured)
    fitted = statistics(predicted(rows), measured)
    assert fitted["male_pct"] < prior["male_pct"]
    assert np.isfinite(fitted["median_ape_pct"])
