"""Preset names as weight precisions, and schemes a chip cannot compute running weight-only."""

import pytest

import llmsizer
from llmsizer.errors import UnknownNameError
from llmsizer.hardware.zoo import load_accelerator
from llmsizer.inference.predict import predict
from llmsizer.inference.scenario import scenario
from llmsizer.precision import QUANT_PRESETS, WEIGHT_PRECISIONS, Precisions, quant_preset


@pytest.mark.parametrize("name", list(QUANT_PRESETS))
def test_every_preset_is_a_weight_precision(name):
    assert name in WEIGHT_PRECISIONS
    assert Precisions.from_weight_precision(name).weight_bytes() == quant_preset(name).weight_bytes()


def test_preset_name_keeps_an_explicit_kv_precision():
    p = Precisions.from_weight_precision("nvfp4", "bf16")
    assert (p.weights, p.activations, p.kv_cache, p.weight_group) == ("fp4", "fp4", "bf16", 16)


def test_unknown_weight_precision_names_the_closest():
    with pytest.raises(UnknownNameError, match="nvfp4"):
        Precisions.from_weight_precision("nvfp5")


def test_nvfp4_runs_natively_on_blackwell():
    p = quant_preset("nvfp4").on(load_accelerator("b200"))
    assert p.activations == "fp4" and p.note == ""


def test_nvfp4_on_hopper_runs_weight_only_and_says_so():
    h100 = load_accelerator("h100")
    p = quant_preset("nvfp4").on(h100)
    assert p.weights == "fp4" and p.activations == "bf16"
    assert "H100-SXM5-80GB has no fp4 matrix rate" in p.note and "weight-only" in p.note


def test_fp8_on_a100_runs_weight_only_with_a_16_bit_product():
    p = Precisions.from_weight_precision("fp8").on(load_accelerator("a100"))
    assert (p.weights, p.activations, p.kv_cache) == ("fp8", "bf16", "fp8") and "fp8" in p.note


def test_fp16_only_chip_dequantises_to_fp16():
    p = Precisions.from_weight_precision("fp8").on(load_accelerator("groq"))
    assert p.activations == "fp16"


def test_estimate_accepts_a_preset_name_and_reports_the_fallback():
    est = llmsizer.estimate("llama-3.1-8b", "h100", weight_precision="nvfp4", batch=8, input=512, output=64)
    precisions = est.to_dict()["precisions"]
    assert precisions["weights"] == "fp4" and precisions["activations"] == "bf16" and "weight-only" in precisions["note"]
    blackwell = llmsizer.estimate("llama-3.1-8b", "b200", weight_precision="nvfp4", batch=8, input=512, output=64)
    assert "note" not in blackwell.to_dict()["precisions"]


def test_weight_only_fallback_pays_for_dequantisation():
    """On Hopper, nvfp4 weights are read at 4.5 bits but their products run at the 16-bit rate with
    a conversion per weight: prefill costs more than fp8 W8A8, decode reads fewer bytes."""
    shape = dict(batch=16, input=2048, output=128)
    nvfp4 = llmsizer.estimate("llama-3.1-8b", "h100", weight_precision="nvfp4", **shape)
    fp8 = llmsizer.estimate("llama-3.1-8b", "h100", weight_precision="fp8", **shape)
    assert float(nvfp4.ttft) > float(fp8.ttft)
    assert nvfp4.memory.weights < fp8.memory.weights


def test_predict_rows_take_preset_names():
    import pandas as pd

    rows = [{"model": "llama-3.1-8b", "hardware": "h100", "num_devices": 1, "tp": 1, "pp": 1, "ep": 1,
             "weight_precision": name, "kv_precision": "bf16", "batch_size": 4, "input_len": 256, "output_len": 32}
            for name in ("nvfp4", "awq-int4", "mxfp4")]
    out = predict(pd.DataFrame(rows))
    assert (out["pred_error"] == "").all(), list(out["pred_error"])
    assert (out["pred_tpot_ms"] > 0).all()


def test_cli_accepts_a_preset_as_weight_precision():
    from click.testing import CliRunner

    from llmsizer.cli import main

    result = CliRunner().invoke(main, ["estimate", "-m", "llama-3.1-8b", "-H", "a100", "--weight-precision", "fp8",
                                       "--batch", "2", "--input", "128", "--output", "16"])
    assert result.exit_code == 0, result.output
    assert "no fp8 matrix rate" in result.output
    result = CliRunner().invoke(main, ["estimate", "-m", "llama-3.1-8b", "-H", "h100", "--weight-precision", "nvfp4",
                                       "--batch", "2", "--input", "128", "--output", "16", "--json"])
    assert result.exit_code == 0, result.output


def test_scenario_keeps_preset_groups_with_an_explicit_kv():
    sc = scenario("llama-3.1-8b", "b200", quant="nvfp4", kv_precision="bf16")
    assert sc.precisions.kv_cache == "bf16" and sc.precisions.weight_group == 16
