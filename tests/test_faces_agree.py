"""Every face tells the same numbers: the API, `estimate --json`, `memory --json`, a sweep point
and a `predict` row, on random scenarios with every serving option."""

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmsizer.cli import main
from llmsizer.economics import IDLE_FRACTION, energy_per_token
from llmsizer.inference.estimate import estimate
from llmsizer.inference.predict import predict
from llmsizer.search.sweep import run_sweep


@st.composite
def scenarios(draw):
    model = draw(st.sampled_from(["llama-3.1-8b", "qwen2.5-7b", "mixtral-8x7b"]))
    options = {"model": model, "hardware": draw(st.sampled_from(["h100", "mi300x", "a100"])),
               "tp": draw(st.sampled_from([1, 2])), "batch": draw(st.integers(1, 16)),
               "input": draw(st.integers(64, 4096)), "output": draw(st.integers(2, 512)),
               "samples": draw(st.integers(1, 3))}
    options["cached_prefix"] = draw(st.integers(0, options["input"] - 1))
    if draw(st.booleans()):
        options["chunk"] = draw(st.sampled_from([256, 1024, 8192]))
        options["background"] = draw(st.integers(0, 8))
    draft = draw(st.sampled_from([None, "heads"] + (["llama-3.2-1b"] if model == "llama-3.1-8b" else [])))
    if draft is not None:
        options.update(draft=draft, draft_tokens=draw(st.integers(1, 4)),
                       acceptance=draw(st.floats(0.0, 1.0, allow_nan=False)))
    return options


def _flags(options: dict, names) -> list[str]:
    out = []
    for name in names:
        if name in options and name != "model":
            out += [f"--{name.replace('_', '-')}", str(options[name])]
    return ["-m", options["model"], *out]


def _cli(args):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_api_cli_memory_and_sweep_agree(options):
    est = estimate(**options)
    shown = _cli(["estimate", "--json", *_flags(options, options)])
    assert shown["ttft_ms"] == pytest.approx(float(est.ttft) * 1e3, rel=1e-9)
    assert shown["tpot_ms"] == pytest.approx(float(est.tpot) * 1e3, rel=1e-9)
    assert shown["memory_per_device_gb"] == pytest.approx(float(est.memory.total) / 1e9, rel=1e-9)
    memory_flags = ("hardware", "tp", "batch", "input", "output", "samples", "chunk", "draft")
    memory = _cli(["memory", "--json", *_flags(options, memory_flags)])
    assert memory["total_gb"] == pytest.approx(float(est.memory.total) / 1e9, rel=1e-9)
    assert memory["fits"] == bool(est.fits)

    energy = energy_per_token(est)  # power stays between idle and TDP whatever the serving mode
    tdp = est.scenario.system.accelerator.tdp_w
    assert IDLE_FRACTION * tdp - 1e-6 <= float(energy.average_power_w) <= tdp + 1e-6

    spec = {"model": options["model"], "hardware": options["hardware"], "plan": {"tp": options["tp"]},
            "batch": options["batch"], "input": options["input"], "output": options["output"],
            "samples": options["samples"], "cached_prefix": options["cached_prefix"],
            **({"prefill_chunk": options["chunk"], "background": options["background"]} if "chunk" in options else {}),
            **({k: options[k] for k in ("draft", "draft_tokens", "acceptance")} if "draft" in options else {})}
    frame, skipped = run_sweep(spec)
    assert not skipped
    row = frame.iloc[0]
    assert row["ttft_ms"] == pytest.approx(float(est.ttft) * 1e3, rel=1e-4)  # sweeps run in single precision
    assert row["tpot_ms"] == pytest.approx(float(est.tpot) * 1e3, rel=1e-4)
    assert row["memory_per_device_gb"] == pytest.approx(float(est.memory.total) / 1e9, rel=1e-4)


@settings(max_examples=10, deadline=None)
@given(st.sampled_from(["llama-3.1-8b", "mixtral-8x7b"]), st.sampled_from(["h100", "mi300x"]),
       st.integers(1, 64), st.integers(16, 8192), st.integers(1, 1024))
def test_predict_rows_equal_estimate(model, hardware, batch, prompt, output):
    row = {"model": model, "hardware": hardware, "num_devices": 2, "tp": 2, "pp": 1, "ep": 1,
           "weight_precision": "bf16", "kv_precision": "bf16", "batch_size": batch, "input_len": prompt,
           "output_len": output, "framework": "SGLang"}
    out = predict(pd.DataFrame([row])).iloc[0]
    est = estimate(model, hardware, tp=2, devices=2, batch=batch, input=prompt, output=output, engine="sglang")
    assert out["pred_error"] == ""
    for column, value in (("pred_ttft_ms", est.ttft * 1e3), ("pred_tpot_ms", est.tpot * 1e3),
                          ("pred_memory_per_device_gb", est.memory.total / 1e9)):
        assert out[column] == pytest.approx(float(value), rel=1e-9)
    assert bool(out["pred_fits"]) == bool(np.asarray(est.fits))
