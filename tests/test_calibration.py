"""Calibration in levels: recovers known parameters, pools chips and engines towards their
families, stays accurate out of sample, and gives bands that cover what they claim."""

import numpy as np
import pytest
from click.testing import CliRunner

from llmsizer.calibration.calibrate import calibrate
from llmsizer.calibration.fit import fit, profile_of
from llmsizer.calibration.measurements import predicted, prepare_rows, read_measurements
from llmsizer.calibration.scoring import statistics
from llmsizer.calibration.validation import summary
from llmsizer.cli import main
from llmsizer.cost.levels import Levels, fitted_levels
from llmsizer.cost.profile import load_profile
from llmsizer.inference.estimate import estimate

HOPPER = ("H100-SXM5-80GB", "H200-SXM-141GB")


@pytest.fixture(scope="module")
def rows():
    return prepare_rows(read_measurements())


def _subset(rows, hardware):
    keep = (rows.frame["engine"] == "trtllm/0.x").to_numpy() & rows.frame["hardware"].isin(hardware).to_numpy()
    return rows.subset(keep)


#: chip and engine values the synthetic rows are made with
TRUTH = Levels(hardware={"H100-SXM5-80GB": {"memory_efficiency": 0.72, "matmul_efficiency_8bit": 0.55},
                         "H200-SXM-141GB": {"memory_efficiency": 0.78, "matmul_efficiency_8bit": 0.6},
                         "A100-SXM4-80GB": {"memory_efficiency": 0.9, "matmul_efficiency": 0.8}},
               engines={"trtllm/0.x": {"prefill_overhead_s": 2e-3}})


@pytest.mark.slow
def test_fit_recovers_known_level_parameters_from_synthetic_measurements(rows):
    """Rows made by the model itself under known chip and engine values are fitted back to them,
    and the family level lies between its chips."""
    subset = _subset(rows, (*HOPPER, "A100-SXM4-80GB"))
    subset.frame["value"] = predicted(subset, lambda engine, hw: profile_of(TRUTH, engine, hw))
    result = fit(subset, max_evaluations=60)
    for hw, values in TRUTH.hardware.items():
        profile = result.profile_for("trtllm/0.x", hw)
        for name, value in values.items():
            assert getattr(profile, name) == pytest.approx(value, rel=0.05), (hw, name)
    assert result.profile_for("trtllm/0.x", "H100-SXM5-80GB").prefill_overhead_s == pytest.approx(2e-3, rel=0.25)
    family = result.levels.hardware_families["NVIDIA Hopper"]["memory_efficiency"]
    assert 0.72 - 0.01 <= family <= 0.78 + 0.01
    assert statistics(predicted(subset, result.profile_for), subset.frame["value"].to_numpy())["male_pct"] < 2.0


@pytest.mark.slow
def test_a_chip_removed_from_the_fit_gets_its_family_level(rows):
    """H200 left out: it takes the fitted NVIDIA Hopper level (from H100), not the raw prior; a chip
    of a family without rows takes the level of the family whose kernels it runs (B200: Hopper's),
    else the shared level."""
    result = fit(_subset(rows, ("H100-SXM5-80GB", "A100-SXM4-80GB")))
    levels = result.levels
    h200 = result.profile_for("trtllm/0.x", "H200-SXM-141GB")
    prior = load_profile("trtllm/0.x", "H200-SXM-141GB", fitted=False)
    for name in ("memory_efficiency", "matmul_efficiency_8bit", "attention_efficiency"):
        assert getattr(h200, name) == pytest.approx(levels.hardware_families["NVIDIA Hopper"][name], rel=1e-9)
        assert getattr(h200, name) != pytest.approx(getattr(prior, name), rel=1e-3)
    b200 = result.profile_for("trtllm/0.x", "B200-180GB")  # Blackwell, no rows: Hopper's kernels, Hopper's level
    assert b200.memory_efficiency == pytest.approx(levels.hardware_families["NVIDIA Hopper"]["memory_efficiency"], rel=1e-9)
    ascend = result.profile_for("trtllm/0.x", "Ascend-910C-128GB")  # a family with no rows nor kin: shared
    assert ascend.memory_efficiency == pytest.approx(levels.shared["memory_efficiency"], rel=1e-9)


@pytest.fixture(scope="module")
def calibration(rows):
    return calibrate(rows)


@pytest.mark.slow
@pytest.mark.parametrize("attribute", ["k_fold", "leave_source_out", "leave_hardware_out"])
def test_band_coverage_on_the_folds(calibration, attribute):
    """The 80% band, drawn from the other folds' errors, holds 75-85% of each fold's rows."""
    assert 75.0 <= calibration.coverage(attribute) <= 85.0


@pytest.mark.slow
def test_out_of_sample_error_and_summary(calibration, rows):
    measured = rows.frame["value"].to_numpy(float)
    k_fold = statistics(calibration.k_fold, measured)
    # a guard against regressions, not the goal: 5-fold stands at 15.3% on the 645-row set (goal 10%);
    # the fold draw alone moves it by about a point
    assert k_fold["rows"] == int((rows.frame["error"] == "").sum()) and k_fold["male_pct"] <= 27.0
    bands = calibration.bands()
    assert all(bands["unmeasured_both"]["width"][k] >= bands["measured"]["width"][k] for k in bands["measured"]["width"])
    lines = summary(rows, [("out of sample: 5-fold", calibration.k_fold)], calibration)
    assert lines[0][-1].endswith("%")


def test_a_hosts_speed_is_fitted_per_family_and_chip_from_engines_that_run_on_several(rows):
    """No shared host speed (it would trade places with every engine's overheads) and none from a
    runtime tied to one accelerator (Neuron on Trainium cannot tell its host from itself)."""
    from llmsizer.calibration.fit import slots_of

    hosts = [s for s in slots_of(rows) if s.name == "host_speed"]
    assert {s.level for s in hosts} == {"family", "member"}
    keys = {s.key for s in hosts}
    assert {"NVIDIA Hopper", "H100-SXM5-80GB", "NVIDIA Ampere", "A100-SXM4-80GB"} <= keys
    assert not keys & {"AWS Trainium", "Trainium2-96GB", "Google TPU", "TPU-v6e"}


def test_shipped_levels_compose_by_family():
    levels = fitted_levels()
    assert levels is not None and "NVIDIA Hopper" in levels.hardware_families
    h20 = load_profile("trtllm/0.x", "H20-96GB")  # no rows: its family's fitted level
    hopper = levels.hardware_families["NVIDIA Hopper"]
    assert h20.memory_efficiency == pytest.approx(hopper["memory_efficiency"], rel=1e-6)
    seen = load_profile("trtllm/0.x", "H100-SXM5-80GB")
    unseen = load_profile("tgi/v3", "L40S-48GB-PCIe")
    assert "calibration data" in unseen.uncertainty_basis and "calibration data" not in seen.uncertainty_basis
    assert all(unseen.uncertainty[k] >= seen.uncertainty[k] for k in seen.uncertainty)


def test_throughput_and_e2e_bands_have_the_same_relative_width():
    est = estimate("llama-3.1-8b", "h100", batch=8, input=512, output=128, engine="trtllm")
    (e2e_low, e2e_high), (thr_low, thr_high) = est.band("e2e_latency"), est.band("throughput")
    assert e2e_high / e2e_low == pytest.approx(thr_high / thr_low)


def test_a_profile_file_of_its_own_uses_its_own_band(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("name: mine\nparameters: {step_overhead_s: 0.002}\nhardware:\n  H100-SXM5-80GB: {memory_efficiency: 0.8}\n"
                    "uncertainty: {ttft: 0.05, tpot: 0.04, e2e_latency: 0.03, throughput: 0.03}\n"
                    "uncertainty_unseen_hardware: {ttft: 0.3, tpot: 0.3, e2e_latency: 0.3, throughput: 0.3}\n")
    est = estimate("llama-3.1-8b", "h100", batch=1, input=512, output=64, profile=str(path))
    low, high = est.band("tpot")
    assert high / low == pytest.approx(np.exp(0.08))
    assert est.scenario.profile.memory_efficiency == 0.8 and est.scenario.profile.step_overhead_s == 0.002
    other = estimate("llama-3.1-8b", "a100", batch=1, input=512, output=64, profile=str(path))
    assert other.scenario.profile.uncertainty["tpot"] == 0.3


def test_predict_bands_bracket_the_prediction():
    import pandas as pd

    from llmsizer.inference.predict import predict

    frame = pd.DataFrame([dict(model="llama-3.1-8b", hardware="h100", num_devices=1, tp=1, pp=1, ep=1,
                               weight_precision="fp8", kv_precision="fp8", batch_size=8, input_len=512,
                               output_len=128, framework="TensorRT-LLM 0.9")])
    out = predict(frame).iloc[0]
    for column in ("pred_ttft_ms", "pred_tpot_ms", "pred_e2e_latency_ms", "pred_throughput_tokens_per_s"):
        assert out[f"{column}_low"] < out[column] < out[f"{column}_high"]


def test_validate_quick_prints_the_table_and_skipped_rows():
    result = CliRunner().invoke(main, ["validate", "--quick", "--by", "family"])
    assert result.exit_code == 0, result.output
    assert "NVIDIA Hopper" in result.output and "all" in result.output
    uncalibrated = CliRunner().invoke(main, ["validate", "--quick", "--uncalibrated"])
    assert "documented priors" in uncalibrated.output


def test_validate_fitted_beats_priors(rows):
    measured = rows.frame["value"].to_numpy(float)
    prior = statistics(predicted(rows, lambda e, h: load_profile(e, h, fitted=False)), measured)
    fitted = statistics(predicted(rows), measured)
    assert fitted["male_pct"] < prior["male_pct"]
    assert np.isfinite(fitted["median_ape_pct"])


def test_a_batch_that_does_not_fit_is_scored_as_waves_of_the_batch_that_does(rows):
    """A stated batch beyond the KV cache runs as waves of the largest batch that fits: the whole
    batch's end-to-end latency is batch / fitting waves of one wave's; throughput is one wave's."""
    frame = rows.frame
    beyond = np.flatnonzero(((frame["batch_run"] < frame["batch_size"]) & (frame["error"] == "")).to_numpy())
    assert len(beyond)
    pred = predicted(rows)
    for i in beyond:
        r = frame.iloc[i]
        est = estimate(r["model"], r["hardware"], devices=int(r["num_devices"]), tp=int(r["tp"]), pp=int(r["pp"]),
                       ep=int(r["ep"]), weight_precision=r["weight_precision"], kv_precision=r["kv_precision"],
                       engine=r["engine"], eager=bool(r["eager"]), batch=int(r["batch_run"]),
                       input=int(r["input_len"]), output=int(r["output_len"]))
        one_wave = {"e2e_latency": float(est.e2e) * 1e3 * r["batch_size"] / r["batch_run"],
                    "throughput": float(est.throughput)}.get(r["kind"])
        if one_wave is not None:
            assert pred[i] == pytest.approx(one_wave, rel=1e-6), r["id"]


def test_folds_run_in_parallel_processes_as_they_would_one_after_another(rows, monkeypatch):
    """Cross-validation in forked processes gives exactly the predictions of the serial loop."""
    from llmsizer.calibration import folds

    small = rows.subset(rows.frame["source"].str.startswith(("kipply", "vLLM pull request 3692")).to_numpy())
    held = folds.source_folds(small)
    assert len(held) == 2
    parallel = folds.out_of_sample(small, held)
    monkeypatch.setattr(folds, "workers", lambda: 1)
    serial = folds.out_of_sample(small, held)
    assert np.isfinite(serial).all()
    np.testing.assert_array_equal(parallel, serial)


def test_rows_timed_at_a_client_carry_the_client_overhead_in_ttft_and_e2e_only(rows):
    """A row timed at an HTTP client is predicted as the engine's time plus `client_overhead_s`,
    for TTFT and end-to-end latency; its TPOT and throughput are the engine's."""
    from dataclasses import replace

    client = (rows.frame["client"] == "http").to_numpy()
    assert client.any() and not client.all()
    with_client = predicted(rows, lambda engine, hw: replace(load_profile(engine, hw), client_overhead_s=0.05))
    without = predicted(rows, lambda engine, hw: replace(load_profile(engine, hw), client_overhead_s=0.0))
    kinds = rows.frame["kind"].to_numpy()
    lengthened = client & np.isin(kinds, ("ttft", "e2e_latency")) & np.isfinite(without)
    assert lengthened.any()
    np.testing.assert_allclose(with_client[lengthened] - without[lengthened], 50.0, rtol=1e-9)  # milliseconds
    same = ~lengthened & np.isfinite(without)
    np.testing.assert_array_equal(with_client[same], without[same])


@pytest.mark.parametrize("column, value, message", [("client", "carrier pigeon", "client: 'carrier pigeon' is not known"),
                                                    ("metric", "vibes_per_s", "metric: 'vibes_per_s' is not known")])
def test_a_bad_cell_fails_its_own_row_only(column, value, message):
    frame = read_measurements()
    frame = frame[frame["source"].str.startswith("kipply")].copy()
    frame.loc[frame.index[0], column] = value
    rows = prepare_rows(frame)
    errors = rows.frame["error"].to_numpy()
    assert message in errors[0]
    assert (errors[1:] == "").all()
    pred = predicted(rows)
    assert np.isnan(pred[0]) and np.isfinite(pred[1:]).all()


def test_a_chips_precision_class_is_its_16_bit_level_moved_by_a_difference_of_its_own():
    """A chip's 8-bit efficiency composes, in logit space, the class's shared value, the chip's
    16-bit offset (family and chip) and, where it has 8-bit rows, its own difference; a chip
    without that slot keeps the 16-bit offset alone, and fp4 (no own slot) follows it."""
    from llmsizer.calibration.fit import Slot, levels_of
    from llmsizer.cost.levels import from_space, to_space

    shared16, shared8 = Slot("matmul_efficiency", "shared", None), Slot("matmul_efficiency_8bit", "shared", None)
    family = Slot("matmul_efficiency", "family", "NVIDIA Hopper")
    h100, h200 = Slot("matmul_efficiency", "member", "H100-SXM5-80GB"), Slot("matmul_efficiency", "member", "H200-SXM-141GB")
    own = Slot("matmul_efficiency_8bit", "member", "H100-SXM5-80GB")
    x = {shared16: 0.2, shared8: 0.5, family: -0.3, h100: 0.4, h200: 0.1, own: -0.6}
    levels = levels_of(list(x), np.array(list(x.values())))
    assert levels.hardware["H100-SXM5-80GB"]["matmul_efficiency_8bit"] == pytest.approx(
        from_space("matmul_efficiency_8bit", 0.5 - 0.3 + 0.4 - 0.6), rel=1e-12)
    assert levels.hardware["H200-SXM-141GB"]["matmul_efficiency_8bit"] == pytest.approx(
        from_space("matmul_efficiency_8bit", 0.5 - 0.3 + 0.1), rel=1e-12)
    fp4 = float(to_space("matmul_efficiency_fp4", load_profile("default", None, fitted=False).matmul_efficiency_fp4))
    assert levels.hardware["H100-SXM5-80GB"]["matmul_efficiency_fp4"] == pytest.approx(
        from_space("matmul_efficiency_fp4", fp4 - 0.3 + 0.4), rel=1e-12)
    assert levels.hardware_families["NVIDIA Hopper"]["matmul_efficiency_8bit"] == pytest.approx(
        from_space("matmul_efficiency_8bit", 0.5 - 0.3), rel=1e-12)


def test_source_disagreement_reports_each_source_on_a_chip_that_several_measured():
    """A chip two sources measured lists both, each with its predicted over measured time (a
    throughput row inverted); a chip one source measured is left out, as are rows not scored."""
    import pandas as pd

    from llmsizer.calibration.report import source_disagreement

    frame = pd.DataFrame({
        "hardware": ["A", "A", "A", "A", "B"],
        "source": ["one", "one", "two", "two", "one"],
        "kind": ["ttft", "tpot", "throughput", "ttft", "ttft"],
        "value": [10.0, 20.0, 100.0, 5.0, 1.0],
        "error": ["", "", "", "cannot be estimated", ""],
    })
    predicted = np.array([20.0, 40.0, 50.0, np.nan, 3.0])  # source one 2x slow; two's throughput half: 2x slow
    table = source_disagreement(frame, {"fit": predicted})
    assert table[["hardware", "source", "rows"]].values.tolist() == [["A", "one", 2], ["A", "two", 1]]
    assert table["fit"].tolist() == pytest.approx([2.0, 2.0])
