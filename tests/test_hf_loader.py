"""The Hugging Face loader on real config.json files, and its refusals."""

import json

import pytest

from conftest import FIXTURES
from llmsizer.errors import ConfigError
from llmsizer.models.hf import model_from_hf_config
from llmsizer.models.params import parameter_count
from llmsizer.models.spec import MLA, Attention, DenseFFN, Mamba, Mamba2, MoEFFN
from llmsizer.models.zoo import load_model

CONFIGS = sorted((FIXTURES / "hf_configs").glob("*.json"))


def read(name):
    return json.loads((FIXTURES / "hf_configs" / f"{name}.json").read_text())


def kinds(model):
    return {(type(layer.mixer).__name__, type(layer.ffn).__name__): n for layer, n in model.layer_kinds().items()}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_fixture_loads_from_its_path(path):
    model = load_model(str(path))
    assert model.num_layers > 0 and parameter_count(model).total > 0


def test_at_least_twenty_families_have_fixtures():
    assert len(CONFIGS) >= 20


def test_tinyllama_shape():
    m = model_from_hf_config(read("llama"))
    attn = m.layers[0].layer.mixer
    assert (m.hidden, m.num_layers, attn.num_heads, attn.num_kv_heads, attn.head_dim) == (2048, 22, 32, 4, 64)
    assert parameter_count(m).total == pytest.approx(1.1e9, rel=0.01)


def test_gemma2_alternates_sliding_and_global():
    m = model_from_hf_config(read("gemma2"))
    windows = [layer.mixer.window for layer in m.layer_sequence()]
    assert windows[0] == 4096 and windows[1] is None and len(set(windows[::2])) == 1


def test_gemma3_has_five_local_layers_per_global():
    m = model_from_hf_config(read("gemma3"))
    windows = [layer.mixer.window for layer in m.layer_sequence()]
    assert windows[:12] == ([512] * 5 + [None]) * 2


def test_deepseek_v3_is_mla_with_dense_first_layers():
    m = model_from_hf_config(read("deepseek_v3"))
    seq = m.layer_sequence()
    assert all(isinstance(layer.mixer, MLA) for layer in seq)
    assert [isinstance(layer.ffn, DenseFFN) for layer in seq[:4]] == [True, True, True, False]
    moe = seq[3].ffn
    assert (moe.num_experts, moe.top_k, moe.shared_intermediate) == (256, 8, 2048)


def test_jamba_schedule_of_attention_and_experts():
    m = model_from_hf_config(read("jamba"))
    seq = m.layer_sequence()
    assert [isinstance(l.mixer, Attention) for l in seq[:8]] == [False] * 4 + [True] + [False] * 3
    assert [isinstance(l.ffn, MoEFFN) for l in seq[:4]] == [False, True, False, True]


def test_mamba_families():
    assert isinstance(model_from_hf_config(read("mamba")).layers[0].layer.mixer, Mamba)
    assert isinstance(model_from_hf_config(read("falcon_mamba")).layers[0].layer.mixer, Mamba)
    assert isinstance(model_from_hf_config(read("mamba2")).layers[0].layer.mixer, Mamba2)


def test_unknown_model_type_lists_the_supported_ones():
    with pytest.raises(ConfigError, match=r"model_type 'bert' is not supported; supported: .*llama"):
        model_from_hf_config({"model_type": "bert", "hidden_size": 8})


def test_unknown_fields_are_refused_by_name():
    config = {**read("llama"), "magic_layers": 3, "secret_width": 5}
    with pytest.raises(ConfigError, match="cannot map field\\(s\\) magic_layers, secret_width"):
        model_from_hf_config(config)


def test_missing_required_field_is_named():
    config = read("llama")
    del config["intermediate_size"]
    with pytest.raises(ConfigError, match="required field intermediate_size is missing"):
        model_from_hf_config(config)


def test_heads_must_divide_hidden_when_head_dim_is_absent():
    config = {**read("llama"), "num_attention_heads": 30, "num_key_value_heads": 30}
    with pytest.raises(ConfigError, match="num_attention_heads = 30: must divide hidden_size \\(2048\\)"):
        model_from_hf_config(config)


def test_top_k_above_expert_count():
    config = {**read("mixtral"), "num_experts_per_tok": 9}
    with pytest.raises(ConfigError, match="MoEFFN.top_k = 9: must not exceed num_experts \\(8\\)"):
        model_from_hf_config(config)


def test_negative_sizes():
    config = {**read("llama"), "intermediate_size": -5}
    with pytest.raises(ConfigError, match="DenseFFN.intermediate = -5: must be a positive integer"):
        model_from_hf_config(config)


def test_kv_heads_must_divide_heads():
    config = {**read("llama"), "num_key_value_heads": 5}
    with pytest.raises(ConfigError, match="num_kv_heads = 5: must divide num_heads \\(32\\)"):
        model_from_hf_config(config)
