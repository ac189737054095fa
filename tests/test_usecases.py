"""Use cases: built-ins as cited, name resolution, file validation, SLO checks on arrays."""

import numpy as np
import pytest

from llmsizer.errors import ConfigError, UnknownNameError
from llmsizer.inference.estimate import estimate
from llmsizer.usecases import UseCase, list_usecases, load_usecase, meets_slo

#: GenZ (arXiv:2406.01698) use-case requirements: input, output tokens, TTFT s, TPOT s
GENZ = {
    "qa": (1000, 200, 0.2, 0.010),
    "chat": (3000, 1000, 0.2, 0.010),
    "rag": (10000, 200, 0.4, 0.010),
    "summarization": (15000, 1000, 2.0, 0.020),
    "code-generation": (20000, 50, 5.0, 0.020),
}


def test_builtins_have_sources_and_unique_names():
    cases = list_usecases()
    names = [u.name.lower() for u in cases]
    assert len(names) == len(set(names)) and len(cases) >= 8
    for u in cases:
        assert u.source and u.description, u.name
        assert u.input_tokens >= 1 and u.output_tokens >= 1
        assert u.ttft_slo_s > 0 and u.tpot_slo_s > 0


@pytest.mark.parametrize("name", sorted(GENZ))
def test_genz_use_cases_copy_the_paper(name):
    u = load_usecase(name)
    assert (u.input_tokens, u.output_tokens) == GENZ[name][:2]
    assert (u.ttft_slo_s, u.tpot_slo_s) == pytest.approx(GENZ[name][2:])
    assert "2406.01698" in u.source


def test_reasoning_and_agentic_shapes():
    reasoning = load_usecase("reasoning")
    assert reasoning.output_tokens > 2000 and reasoning.output_tokens > reasoning.input_tokens
    assert (reasoning.ttft_slo_s, reasoning.tpot_slo_s) == pytest.approx((2.0, 0.080))  # MLPerf DeepSeek-R1 server
    assert load_usecase("reasoning-interactive").tpot_slo_s == pytest.approx(0.015)
    agentic = load_usecase("agentic")
    assert agentic.input_tokens > 10_000 and agentic.output_tokens < 1000
    assert agentic.input_spec["use"] == "mean" and agentic.input_spec["max"] == 150000


def test_names_are_case_insensitive_and_unknown_names_suggest():
    assert load_usecase("CHAT") is load_usecase("chat")
    assert load_usecase(load_usecase("qa")).name == "qa"
    with pytest.raises(UnknownNameError, match="Closest matches: chat.*`llmsizer usecases`"):
        load_usecase("chatt")


def write(tmp_path, text):
    path = tmp_path / "case.yaml"
    path.write_text(text)
    return str(path)


def test_user_file_with_a_distribution_uses_the_named_statistic(tmp_path):
    path = write(tmp_path, """
name: my-chat
input: {distribution: lognormal, mean: 1024, p50: 800, p99: 4000, use: p50}
output: {tokens: 256}
slo: {ttft_ms: 500, tpot_ms: 50}
""")
    u = load_usecase(path)
    assert isinstance(u, UseCase)
    assert (u.input_tokens, u.output_tokens) == (800, 256)
    assert (u.ttft_slo_s, u.tpot_slo_s) == pytest.approx((0.5, 0.05))
    assert u.input_spec["p99"] == 4000


GOOD = {"input": "{tokens: 100}", "output": "{tokens: 10}", "slo": "{ttft_ms: 500, tpot_ms: 50}"}


@pytest.mark.parametrize("field, value, message", [
    ("input", "{tokens: 0}", r"x.input.tokens = 0: must be a positive"),
    ("output", "{tokens: -5}", r"x.output.tokens = -5: must be a positive"),
    ("input", "{tokens: 10, mean: 20}", r"x.input: unknown field\(s\) mean"),
    ("input", "{distribution: lognormal, mean: 100}", r"x.input.use = None: must name the statistic"),
    ("input", "{distribution: lognormal, mean: 100, use: p99}", r"x.input.use = 'p99': names a statistic"),
    ("input", "{distribution: lognormal, mean: 100, max: 50, use: mean}", r"x.input.mean = 100: must lie between"),
    ("input", "{distribution: zipf, mean: 100, use: mean}", r"x.input.distribution = 'zipf': must be one of"),
    ("slo", "{ttft_ms: 0, tpot_ms: 50}", r"x.slo.ttft_ms = 0: must be a positive"),
    ("slo", "{ttft_ms: 500}", r"x.slo.tpot_ms = None: is required"),
    ("slo", "{ttft_ms: 500, tpot_ms: 50, e2e_ms: 9}", r"x.slo: unknown field\(s\) e2e_ms"),
])
def test_bad_files_name_the_field_and_rule(tmp_path, field, value, message):
    body = "\n".join(f"{k}: {value if k == field else v}" for k, v in GOOD.items())
    with pytest.raises(ConfigError, match=message):
        load_usecase(write(tmp_path, "name: x\n" + body))


def test_unknown_top_level_field_and_missing_field_are_refused(tmp_path):
    body = "\n".join(f"{k}: {v}" for k, v in GOOD.items())
    with pytest.raises(ConfigError, match=r"unknown field\(s\) batch"):
        load_usecase(write(tmp_path, "name: x\nbatch: 4\n" + body))
    with pytest.raises(ConfigError, match=r"slo = None: is required"):
        load_usecase(write(tmp_path, "name: x\ninput: {tokens: 1}\noutput: {tokens: 1}\n"))


def test_meets_slo_works_on_arrays_and_names():
    ttft = np.array([0.1, 0.1, 0.3, 0.2])
    tpot = np.array([0.005, 0.02, 0.005, 0.010])
    assert meets_slo(ttft, tpot, "qa").tolist() == [True, False, False, True]
    grid = meets_slo(ttft[:, None], tpot[None, :], load_usecase("qa"))
    assert grid.shape == (4, 4)
    assert bool(meets_slo(0.1, 0.005, "chat")) and not bool(meets_slo(3.0, 0.005, "chat"))


def test_use_case_lengths_drive_an_estimate():
    u = load_usecase("qa")
    est = estimate("llama-3.1-8b", "h100", batch=1, input=u.input_tokens, output=u.output_tokens)
    assert est.workload.input == 1000 and est.workload.output == u.output_tokens
    assert bool(meets_slo(est.ttft, est.tpot, u)) == (float(est.ttft) <= u.ttft_slo_s and float(est.tpot) <= u.tpot_slo_s)
    slow = estimate("llama-3.1-70b", "l4", batch=1, input=u.input_tokens, output=u.output_tokens, offload="weights")
    assert not bool(meets_slo(slow.ttft, slow.tpot, u))  # weights streamed over PCIe every step miss a 20 ms TPOT
