"""Load studies on the simulator: the most load meeting percentile SLOs is the edge, and sweeps
give one row per load point."""

import pytest

from llmsizer.errors import ConfigError
from llmsizer.serving.capacity import load_sweep, max_concurrency, max_rate, meets, parse_limits
from llmsizer.serving.simulate import simulate

COMMON = dict(requests=300, input=512, output=128, lengths="lognormal", seed=3)


def test_max_concurrency_is_the_edge_of_the_limit():
    limits = {"itl_ms_p90": 12.0}
    found = max_concurrency("llama-3.1-8b", "h100", limits=limits, **COMMON)
    assert found.load >= 1 and found.summary["itl_ms_p90"] <= 12.0
    beyond = simulate("llama-3.1-8b", "h100", concurrency=int(found.load) + 1, **COMMON).summary
    assert not meets(beyond, limits)


def test_max_rate_meets_its_limit_and_a_tighter_limit_allows_less():
    loose = max_rate("llama-3.1-8b", "h100", limits={"ttft_ms_p99": 400.0}, **COMMON)
    tight = max_rate("llama-3.1-8b", "h100", limits={"ttft_ms_p99": 80.0}, **COMMON)
    assert loose.summary["ttft_ms_p99"] <= 400.0 and tight.summary["ttft_ms_p99"] <= 80.0
    assert 0 < tight.load < loose.load and loose.per_device == loose.load


def test_load_sweep_and_limits_parsing():
    frame = load_sweep("llama-3.1-8b", "h100", rates=[2.0, 6.0], concurrencies=[4], **COMMON)
    assert len(frame) == 3 and frame.loc[0, "ttft_ms_p99"] <= frame.loc[1, "ttft_ms_p99"]
    assert parse_limits(["ttft_ms_p99=500", "itl_ms_p90 = 50"]) == {"ttft_ms_p99": 500.0, "itl_ms_p90": 50.0}
    with pytest.raises(ConfigError, match="STAT=MS"):
        parse_limits(["ttft_p99=500"])


def test_sweep_specs_with_load_axes_run_the_simulator(tmp_path):
    from click.testing import CliRunner

    from llmsizer import sweep
    from llmsizer.cli import main

    spec = {"model": "llama-3.1-8b", "hardware": "h100", "plan": {"tp": [1, 2]}, "input": 512, "output": 64,
            "rate": [3, 9], "requests": 150}
    frame = sweep(spec)
    assert len(frame) == 4 and set(frame["tp"]) == {1, 2} and (frame["error"] == "").all()
    one = frame[(frame["tp"] == 1) & (frame["rate"] == 9)].iloc[0]
    alone = simulate("llama-3.1-8b", "h100", rate=9, requests=150, input=512, output=64).summary
    assert one["ttft_ms_p99"] == pytest.approx(alone["ttft_ms_p99"])
    path = tmp_path / "load.yaml"
    path.write_text("model: llama-3.1-8b\nhardware: h100\ninput: 256\noutput: 32\nconcurrency: [1, 4]\nrequests: 40\n")
    result = CliRunner().invoke(main, ["sweep", str(path), "-o", str(tmp_path / "out.csv")])
    assert result.exit_code == 0, result.output
    assert "2 load points" in result.output and (tmp_path / "out.csv").exists()
