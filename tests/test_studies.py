"""Platform studies: sweeps, requirements, goodput search, Pareto fronts, comparisons and plots."""

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from llmsizer.cli import main
from llmsizer.inference.estimate import estimate
from llmsizer.inference.scenario import scenario
from llmsizer.inference.workload import Workload
from llmsizer.search.goodput import minimum_devices, pareto_front, search, summary
from llmsizer.search.requirements import requirements
from llmsizer.search.sweep import run_sweep, swept_system
from llmsizer.usecases import load_usecase

#: sweeps compute in single precision: rows equal `estimate` (double precision) to its round-off
FLOAT32_ROUNDING = 1e-6

SPEC = {"model": "llama-3.1-8b", "hardware": "h100", "plan": {"tp": [1, 2]}, "weight_precision": ["bf16", "fp8"],
        "batch": [1, 16], "input": [256, 4096], "output": [64, 512],
        "scale": {"memory_bandwidth": [0.5, 1.0], "peak_flops": [1.0, 2.0]}, "chunk": 7}


def test_sweep_rows_equal_estimate_on_the_same_points():
    frame, skipped = run_sweep(SPEC)
    assert not skipped and len(frame) == 2 * 2 * 2 * 2 * 2 * 2 * 2
    rng = np.random.default_rng(0)
    for i in rng.choice(len(frame), 6, replace=False):
        row = frame.iloc[i]
        sc = scenario("llama-3.1-8b", "h100", tp=int(row.tp), weight_precision=row.weight_precision)
        from dataclasses import replace

        swept = replace(sc, system=swept_system(sc.system, {"scale_memory_bandwidth": np.array(row.scale_memory_bandwidth),
                                                             "scale_peak_flops": np.array(row.scale_peak_flops)}))
        est = estimate("llama-3.1-8b", batch=row.batch, input=row.input, output=row.output, hardware=None,
                       system=swept.system, tp=int(row.tp), weight_precision=row.weight_precision)
        assert row.ttft_ms == pytest.approx(float(est.ttft) * 1e3, rel=FLOAT32_ROUNDING)
        assert row.tpot_ms == pytest.approx(float(est.tpot) * 1e3, rel=FLOAT32_ROUNDING)


def test_sweep_reports_invalid_combinations_and_rejects_unknown_fields():
    frame, skipped = run_sweep({**SPEC, "plan": {"tp": [1, 3]}})
    assert len(skipped) == 2 and "must divide the attention heads" in skipped[0][1]
    from llmsizer.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown field\\(s\\) batches"):
        run_sweep({**SPEC, "batches": [1]})


CHAT = load_usecase("chat")


def test_requirements_meet_the_slo_and_ten_percent_less_does_not():
    sc = scenario("llama-3.1-70b", "h100", tp=8, weight_precision="fp8")
    work = Workload(1, CHAT.input_tokens, CHAT.output_tokens)
    found = {r.resource: r for r in requirements(sc, work, CHAT.ttft_slo_s, CHAT.tpot_slo_s)}
    key = {"compute": "scale_peak_flops", "memory_bandwidth": "scale_memory_bandwidth",
           "link_bandwidth": "scale_link_bandwidth", "memory_capacity": "scale_memory_capacity"}
    from dataclasses import replace

    from llmsizer.inference.batch import evaluate

    for resource, r in found.items():
        if resource == "link_latency" or not r.binding or r.required is None:
            continue
        scale = r.required / r.datasheet
        for factor, ok in ((1.0, True), (0.9, False)):
            system = swept_system(sc.system, {key[resource]: np.array(scale * factor)})
            est = evaluate(replace(sc, system=system), work)
            meets = float(est.ttft) <= CHAT.ttft_slo_s and float(est.tpot) <= CHAT.tpot_slo_s and bool(est.fits)
            assert meets == ok, (resource, factor)


def test_search_finds_the_minimum_platform_and_a_non_dominated_front():
    frame = search("llama-3.1-8b", "h100", CHAT, max_devices=4)
    front = pareto_front(frame)
    fitting = frame[frame["fits"]]
    for _, p in front.iterrows():
        dominated = ((fitting["throughput_per_device"] > p["throughput_per_device"])
                     & (fitting["tokens_per_s_per_user"] > p["tokens_per_s_per_user"]))
        assert not dominated.any()
    least = minimum_devices(frame)
    assert least is not None
    assert not (frame[(frame["devices"] < least)]["meets_slo"] & frame[(frame["devices"] < least)]["fits"]).any()
    best = summary(frame).iloc[0]
    assert best["meets_slo"] and best["fits"]


def test_doubling_the_price_doubles_dollars_per_token():
    from llmsizer.economics import cost_per_million_tokens

    assert cost_per_million_tokens(1000.0, 8, 4.0) == pytest.approx(2 * cost_per_million_tokens(1000.0, 8, 2.0))


def test_study_commands_run_and_draw(tmp_path):
    runner = CliRunner()
    spec = tmp_path / "spec.yaml"
    import yaml

    spec.write_text(yaml.safe_dump({k: v for k, v in SPEC.items() if k != "chunk"}))
    out = runner.invoke(main, ["sweep", str(spec), "-o", str(tmp_path / "out.parquet"), "--quiet"])
    assert out.exit_code == 0, out.output
    assert len(pd.read_parquet(tmp_path / "out.parquet")) == 128
    out = runner.invoke(main, ["requirements", "-m", "llama-3.1-8b", "-H", "h100", "-u", "chat", "--plot",
                               str(tmp_path / "req.png")])
    assert out.exit_code == 0 and "memory_bandwidth" in out.output and (tmp_path / "req.png").stat().st_size > 10_000
    out = runner.invoke(main, ["search", "-m", "llama-3.1-8b", "-H", "h100", "-u", "chat", "--max-devices", "2",
                               "--price", "2", "--plot", str(tmp_path / "pareto.svg")])
    assert out.exit_code == 0 and "minimum platform" in out.output and (tmp_path / "pareto.svg").exists()
    out = runner.invoke(main, ["compare", "-m", "llama-3.1-8b", "-u", "chat", "-s", "dgx-h100", "-s", "dgx-a100"])
    assert out.exit_code == 0 and "dgx-a100" in out.output
    assert runner.invoke(main, ["usecases"]).exit_code == 0


def test_a_dask_cluster_gives_the_same_rows():
    distributed = pytest.importorskip("dask.distributed")
    local, _ = run_sweep(SPEC)
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None) as client:
        remote, _ = run_sweep(SPEC, dask_client=client)
    pd.testing.assert_frame_equal(local.reset_index(drop=True), remote.reset_index(drop=True))


def test_serving_options_are_sweep_axes_equal_to_estimate():
    spec = {"model": "llama-3.1-8b", "hardware": "h100", "batch": [2, 8], "input": 2000, "output": 100,
            "samples": [1, 2], "cached_prefix": [0, 1000], "prefill_chunk": 1024, "background": 16,
            "draft": "heads", "draft_tokens": 2, "acceptance": [0.5, 0.9]}
    frame, skipped = run_sweep(spec)
    assert not skipped and len(frame) == 2 * 2 * 2 * 2
    for _, row in frame.iterrows():
        est = estimate("llama-3.1-8b", "h100", batch=int(row.batch), input=2000, output=100, samples=int(row.samples),
                       cached_prefix=int(row.cached_prefix), chunk=1024, background=16, draft="heads", draft_tokens=2,
                       acceptance=float(row.acceptance))
        assert row.ttft_ms == pytest.approx(float(est.ttft) * 1e3, rel=FLOAT32_ROUNDING)
        assert row.tpot_ms == pytest.approx(float(est.tpot) * 1e3, rel=FLOAT32_ROUNDING)
    from llmsizer.errors import ConfigError

    with pytest.raises(ConfigError, match="acceptance has no default"):
        run_sweep({k: v for k, v in spec.items() if k != "acceptance"})
