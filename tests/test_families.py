"""The 2025 families: each loads from its Hugging Face config.json fixture with the layout its
model card describes, and counts its parameters within a stated tolerance of the card."""

import json

import pytest

from conftest import FIXTURES
from llmsizer.errors import ConfigError
from llmsizer.models.hf import SUPPORTED_MODEL_TYPES, model_from_hf_config
from llmsizer.models.params import layer_params, mtp_params, parameter_count
from llmsizer.models.spec import model_from_dict, model_to_dict
from llmsizer.models.zoo import zoo_entries

NEW_TYPES = ["gpt_oss", "qwen3_next", "deepseek_v32", "kimi_k2", "glm4_moe", "nemotron_h", "minimax_m1",
             "minimax_m2", "falcon_h1"]


def fixture(model_type):
    return model_from_hf_config(json.loads((FIXTURES / "hf_configs" / f"{model_type}.json").read_text()), model_type)


def tables(model):
    return model.vocab * model.hidden * (1 if model.tied_embeddings else 2)


#: (zoo name, tolerance on the total, how the card counts active parameters or None when it only
#: rounds: "all", "no input table" (the output head computes, the gather does not), "no tables")
CARDS = [
    ("gpt-oss-120b", 0.01, "no input table"), ("gpt-oss-20b", 0.01, "no input table"),
    ("Qwen3-Next-80B-A3B", 0.01, None), ("Kimi-K2-Instruct", 0.04, "all"), ("GLM-4.7", 0.01, "no tables"),
    ("GLM-4.5-Air", 0.01, "no tables"),
    ("MiniMax-M1-80k", 0.01, "no tables"), ("MiniMax-M2.5", 0.01, "no tables"),
    ("Nemotron-H-56B-Base-8K", 0.01, None), ("Gemma-3-1B", 0.01, None), ("Gemma-3-4B", 0.01, None),
    ("Gemma-3-12B", 0.01, None), ("Gemma-3-27B", 0.01, None), ("Phi-4", 0.01, None),
    ("Mistral-Small-24B-Base-2501", 0.02, None), ("Qwen3-32B", 0.01, None),
]


@pytest.mark.parametrize("name,tolerance,active", CARDS)
def test_parameters_match_the_model_card(name, tolerance, active):
    entry = zoo_entries()[name]
    model = entry.model()
    count = parameter_count(model)
    assert count.total == pytest.approx(entry.published_parameters, rel=tolerance)
    if active is not None:
        dropped = {"all": 0, "no input table": model.vocab * model.hidden, "no tables": tables(model)}[active]
        assert count.active - dropped == pytest.approx(entry.published_active_parameters, rel=0.04)


def test_deepseek_v32_card_counts_its_mtp_module():
    """685B = the main model (671B and the indexers) + one MTP module; 37B activated per token."""
    entry = zoo_entries()["DeepSeek-V3.2"]
    model = entry.model()
    assert model.mtp_layers == 1
    count, mtp = parameter_count(model), mtp_params(model)
    assert count.total + mtp.total == pytest.approx(entry.published_parameters, rel=0.01)
    assert count.active - tables(model) == pytest.approx(entry.published_active_parameters, rel=0.02)


def test_falcon_h1_count_is_exact_by_hand():
    """Per layer: attention (8 heads, 2 KV heads of 64) + Mamba-2 (24 heads of 64, state 128,
    one group, conv 4 with bias, no gated norm) + gated MLP 2048 + two norms; the card's 0.5B is a
    rounded size class (the count is 4.3% above it)."""
    m = fixture("falcon_h1")
    h, d, n = 1024, 24 * 64, 128
    attention = h * 512 + 2 * h * 128 + 512 * h
    mamba = h * (2 * d + 2 * n + 24) + (d + 2 * n) * 5 + 3 * 24 + d * h
    layer = attention + mamba + 3 * h * 2048 + 2 * h
    assert parameter_count(m).total == 36 * layer + 2 * 32784 * h + h
    assert parameter_count(m).total == pytest.approx(zoo_entries()["Falcon-H1-0.5B-Base"].published_parameters, rel=0.05)


@pytest.mark.parametrize("model_type", NEW_TYPES)
def test_new_model_types_are_accepted_and_round_trip(model_type):
    assert model_type in SUPPORTED_MODEL_TYPES
    model = fixture(model_type)
    assert model_from_dict(model_to_dict(model)) == model


def test_gpt_oss_alternates_128_token_windows_with_sinks_and_biased_experts():
    m = fixture("gpt_oss")
    seq = m.layer_sequence()
    assert [layer.mixer.window for layer in seq[:4]] == [128, None, 128, None]
    attn, moe = seq[0].mixer, seq[0].ffn
    assert attn.sinks and attn.qkv_bias and attn.out_bias
    assert (moe.num_experts, moe.top_k, moe.expert_bias, moe.router_bias) == (128, 4, True, True)
    # sinks add one logit per head; expert biases 2 x 2880 (gate, up) + 2880 (down) per expert
    plain = type(attn)(64, 8, 64, qkv_bias=True, out_bias=True)
    assert attn.params(m.hidden) - plain.params(m.hidden) == 64
    assert moe.params(m.hidden).total - type(moe)(128, 4, 2880, router_bias=True).params(m.hidden).total == 128 * 3 * 2880


def test_qwen3_next_has_three_gated_deltanet_layers_per_gated_attention_layer():
    m = fixture("qwen3_next")
    kinds = [layer.mixer.kind for layer in m.layer_sequence()]
    assert kinds[:4] == ["GatedDeltaNet"] * 3 + ["GQA"] and kinds.count("GQA") == 12
    attn = m.layer_sequence()[3].mixer
    assert attn.output_gate and attn.qk_norm and attn.head_dim == 256


def test_nemotron_h_pattern_gives_mamba_attention_and_mlp_blocks():
    m = fixture("nemotron_h")
    by_kind = {(l.mixer.kind if l.mixer else None, l.ffn.kind if l.ffn else None): n for l, n in m.layer_kinds().items()}
    assert by_kind == {("Mamba2", None): 54, (None, "dense"): 54, ("GQA", None): 10}
    mlp = next(l for l in m.layer_kinds() if l.mixer is None)
    assert layer_params(mlp, m).total == 2 * 8192 * 32768 + 8192  # squared-ReLU MLP, not gated, one norm


def test_falcon_h1_runs_attention_and_mamba2_side_by_side():
    layer = fixture("falcon_h1").layers[0].layer
    assert layer.mixer.kind == "GQA+Mamba2" and not layer.mixer.parts[1].gated_norm


def test_deepseek_v32_adds_an_indexer_and_kimi_k2_loads_as_mla():
    mla = fixture("deepseek_v32").layers[0].layer.mixer
    assert (mla.index_heads, mla.index_head_dim, mla.index_topk) == (64, 128, 2048)
    assert mla.indexer_params(7168) == 1536 * 64 * 128 + 7168 * 128 + 2 * 128 + 7168 * 64
    kimi = fixture("kimi_k2")
    assert kimi.layers[0].layer.mixer.kind == "MLA" and kimi.layers[-1].layer.ffn.num_experts == 384


def test_minimax_m1_is_one_softmax_layer_in_eight_lightning_layers():
    kinds = [layer.mixer.kind for layer in fixture("minimax_m1").layer_sequence()]
    assert kinds[:8] == ["LinearAttention"] * 7 + ["GQA"] and kinds.count("GQA") == 10


def test_mtp_layers_are_exposed_as_an_optional_draft():
    assert fixture("minimax_m2").mtp_layers == 3
    assert fixture("deepseek_v32").mtp_layers == 1
    assert fixture("gpt_oss").mtp_layers == 0
    assert mtp_params(fixture("gpt_oss")).total == 0


def test_bad_hybrid_patterns_are_refused_by_field():
    config = json.loads((FIXTURES / "hf_configs" / "nemotron_h.json").read_text())
    with pytest.raises(ConfigError, match="hybrid_override_pattern"):
        model_from_hf_config({**config, "hybrid_override_pattern": "MX" * 59})
    config = json.loads((FIXTURES / "hf_configs" / "minimax_m1.json").read_text())
    with pytest.raises(ConfigError, match="attn_type_list"):
        model_from_hf_config({**config, "attn_type_list": [0] * 79})
