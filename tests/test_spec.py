"""Native model schema: round trip, and a clear message for each kind of bad input."""

import pytest

from llmsizer.errors import ConfigError
from llmsizer.models.spec import Attention, MoEFFN, model_from_dict, model_to_dict
from llmsizer.models.zoo import load_model


@pytest.mark.parametrize("name", ["llama-3.1-8b", "deepseek-v3", "jamba-1.5-mini", "gemma-2-9b", "mamba2-2.7b"])
def test_native_round_trip(name):
    model = load_model(name)
    assert model_from_dict(model_to_dict(model)) == model


def test_native_file_loads(tmp_path):
    import yaml

    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(model_to_dict(load_model("llama-3.2-1b"))))
    assert load_model(str(path)) == load_model("llama-3.2-1b")


def test_unknown_native_field():
    data = model_to_dict(load_model("llama-3.2-1b"))
    data["layers"][0]["mixer"]["rotary"] = True
    with pytest.raises(ConfigError, match="layers\\[0\\].mixer: unknown field\\(s\\) rotary"):
        model_from_dict(data)


def test_unknown_mixer_type():
    data = model_to_dict(load_model("llama-3.2-1b"))
    data["layers"][0]["mixer"]["type"] = "rwkv"
    with pytest.raises(ConfigError, match="mixer.type = 'rwkv': must be one of attention, mla, mamba, mamba2"):
        model_from_dict(data)


def test_bad_values_name_field_and_rule():
    with pytest.raises(ConfigError, match="Attention.head_dim = 0: must be a positive integer"):
        Attention(8, 8, 0)
    with pytest.raises(ConfigError, match="Attention.window = -1"):
        Attention(8, 8, 64, window=-1)
    with pytest.raises(ConfigError, match="MoEFFN.shared_intermediate = -1: must be a non-negative integer"):
        MoEFFN(8, 2, 128, shared_intermediate=-1)


def test_unknown_model_name_suggests_closest():
    from llmsizer.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="Closest matches: .*Llama-3.1-8B"):
        load_model("llama-3.1-8")


def test_names_resolve_case_insensitively_by_id_and_alias():
    a = load_model("META-LLAMA/LLAMA-3.1-70B")
    assert a == load_model("llama-3.1-70b") == load_model("meta-llama/Llama-3.1-70B-Instruct")
