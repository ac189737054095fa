"""SRAM-first machines run under their own step-overhead profile, checked against published
per-user decode speeds (sources in llmsizer/data/profiles/sram.yaml)."""

import pytest

import llmsizer
from llmsizer.hardware.zoo import list_accelerators, load_accelerator
from llmsizer.inference.scenario import scenario

#: Artificial Analysis, Sept 2024 (tabulated at sambanova.ai/blog/sn40l-chip-best-inference-solution):
#: Llama-3.1-70B on Groq, 8-bit weights, output tokens/s per user
GROQ_LLAMA31_70B = 250.0
#: Groq's own figure for Llama-2-70B at 4,096 tokens of context (Nov 2023)
GROQ_LLAMA2_70B = 300.0


def test_sram_machines_choose_the_sram_profile_when_no_engine_is_named():
    sram = {a.name for a in list_accelerators() if a.default_engine == "sram"}
    assert sram == {"Groq-LPU", "Cerebras-WSE-3", "SambaNova-SN40L"}
    assert scenario("llama-3.1-8b", system="groq-lpu-576", tp=8, pp=9, devices=72).profile.name == "sram"
    assert scenario("llama-3.1-8b", "h100").profile.name == "default"
    assert scenario("llama-3.1-8b", system="groq-lpu-576", tp=8, pp=9, devices=72, engine="vllm").profile.name == "vllm"


def test_sram_profile_has_no_gpu_step_overheads():
    profile = scenario("llama-3.1-8b", "cerebras-wse-3").profile
    default = scenario("llama-3.1-8b", "h100").profile
    assert profile.step_overhead_s < default.step_overhead_s / 10
    assert profile.kernel_overhead_s < default.kernel_overhead_s / 10


def _per_user_speed(model, tp, pp, profile=None):
    est = llmsizer.estimate(model, system="groq-lpu-576", devices=tp * pp, tp=tp, pp=pp, weight_precision="int8",
                            kv_precision="bf16", batch=1, input=1024, output=256, profile=profile)
    assert est.fits
    return 1.0 / float(est.tpot)


def test_llama31_70b_on_groq_within_a_factor_of_two_of_the_measured_speed():
    """Tensor parallel over four 8-chip nodes, pipelined over 18 such groups: the smallest tensor-
    parallel group whose shards of the 128k-vocabulary head fit the 230 MB of SRAM."""
    speed = _per_user_speed("llama-3.1-70b", tp=32, pp=18)
    assert GROQ_LLAMA31_70B / 2 < speed < GROQ_LLAMA31_70B * 2


def test_llama2_70b_on_groq_within_25_percent_of_groqs_figure():
    """Tensor parallel inside each 8-chip node (fully connected C2C links), pipelined over 72 nodes."""
    speed = _per_user_speed("llama-2-70b", tp=8, pp=72)
    assert GROQ_LLAMA2_70B / 1.25 < speed < GROQ_LLAMA2_70B * 1.25


def test_gpu_step_overheads_would_leave_groq_far_below_its_figure():
    assert _per_user_speed("llama-2-70b", tp=8, pp=72, profile="default") < GROQ_LLAMA2_70B / 2


@pytest.mark.parametrize("name", ["groq-lpu", "cerebras-wse-3", "sn40l"])
def test_sram_machines_state_every_figure(name):
    acc = load_accelerator(name)
    assert acc.peak("bf16") > 0 and acc.memory_capacity > 0 and acc.memory_bandwidth > 0
