"""Parameter counts against the figures their publishers give (within 1%)."""

import pytest

from llmsizer.models.params import parameter_count
from llmsizer.models.zoo import zoo_entries

#: (zoo name, whether the published active count is exact enough to check): dense, GQA, MLA,
#: MoE, Mamba, Mamba-2 and hybrid models whose publishers give more than a round number
CHECKED = [
    ("Llama-2-7B", False), ("Llama-2-70B", False), ("Llama-3.1-8B", False), ("Llama-3.1-70B", False),
    ("Llama-3.1-405B", False), ("Mistral-7B-v0.1", False), ("Gemma-2-9B", False), ("Gemma-7B", False),
    ("Qwen2.5-72B", False), ("Qwen3-8B", False), ("GPT-J-6B", False), ("GPT-NeoX-20B", False),
    ("Pythia-6.9B", False), ("Phi-3-medium-4k", False), ("GPT-3-175B", False),
    ("DeepSeek-V3", False), ("DeepSeek-V2", False),
    ("Mixtral-8x7B-v0.1", True), ("Mixtral-8x22B-v0.1", True), ("Qwen3-30B-A3B", False),
    ("Qwen3-235B-A22B", True), ("Qwen1.5-MoE-A2.7B", True), ("Llama-4-Maverick-17B-128E", False),
    ("Falcon-Mamba-7B", False), ("Mamba2-2.7B", False),
    ("Jamba-1.5-Mini", True), ("Jamba-1.5-Large", True), ("DBRX-Base", False),
]


@pytest.mark.parametrize("name,check_active", CHECKED)
def test_parameter_count_matches_published(name, check_active):
    entry = zoo_entries()[name]
    count = parameter_count(entry.model())
    assert count.total == pytest.approx(entry.published_parameters, rel=0.01)
    if check_active:
        assert count.active == pytest.approx(entry.published_active_parameters, rel=0.01)


def test_llama2_7b_exact_count():
    """32 x (4 x 4096^2 + 3 x 4096 x 11008 + 2 x 4096) + 2 x 32000 x 4096 + 4096."""
    expected = 32 * (4 * 4096**2 + 3 * 4096 * 11008 + 2 * 4096) + 2 * 32000 * 4096 + 4096
    assert parameter_count(zoo_entries()["Llama-2-7B"].model()).total == expected == 6_738_415_616


def test_zoo_has_every_required_model():
    from llmsizer.models.zoo import load_model

    required = ["llama-2-7b", "llama-2-13b", "llama-2-70b", "llama-3.1-8b", "llama-3.1-70b", "llama-3.1-405b",
                "llama-3.3-70b", "llama-4-scout", "llama-4-maverick", "mistral-7b", "mixtral-8x7b", "mixtral-8x22b",
                "qwen2.5-7b", "qwen2.5-72b", "qwen3-8b", "qwen3-32b", "qwen3-30b-a3b", "qwen3-235b-a22b",
                "deepseek-v2", "deepseek-v3", "deepseek-r1", "gemma-2-9b", "gemma-2-27b", "gemma-3-27b",
                "phi-3-mini", "phi-3-medium", "falcon-7b", "falcon-40b", "falcon-180b", "gpt-j-6b", "opt-6.7b",
                "opt-13b", "opt-30b", "opt-66b", "opt-175b", "gpt-3-175b", "mamba-2.8b", "mamba2-2.7b",
                "falcon-mamba-7b", "jamba-1.5-mini", "jamba-1.5-large", "dbrx", "grok-1", "nemotron-4-340b"]
    for name in required:
        load_model(name)
    assert len(zoo_entries()) >= 50
