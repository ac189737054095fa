"""Uploaded model and hardware files, read as data only (JSON or safe YAML, never executed).

Each loader returns the object or raises ConfigError with a message fit to show as is.
"""

from __future__ import annotations

from ..datafile import parse_json, parse_yaml, read_text
from ..hardware.spec import Accelerator
from ..models.hf import model_from_hf_config
from ..models.spec import Model
from ..models.zoo import check_counts

#: largest upload accepted; real config.json and hardware files are a few KiB
MAX_UPLOAD_BYTES = 256 * 1024


def _text(data: bytes | str, what: str) -> str:
    return read_text(data.encode() if isinstance(data, str) else data, what, MAX_UPLOAD_BYTES)


def upload_name(config: dict, what: str) -> str:
    """A model's name from its file: the file name without `.json`, or the config's own
    `_name_or_path` when the file is the usual `config.json` (or pasted text)."""
    stem = what.rsplit("/", 1)[-1].removesuffix(".json")
    if stem in ("config", "pasted config") and isinstance(config, dict) and config.get("_name_or_path"):
        return str(config["_name_or_path"]).rstrip("/").rsplit("/", 1)[-1]
    return stem


def model_from_upload(data: bytes | str, what: str = "config.json") -> Model:
    """A Hugging Face config.json (bytes or pasted text) as a Model named by its file (`upload_name`)."""
    config = parse_json(_text(data, what), what)
    return model_from_hf_config(check_counts(config, what), name=upload_name(config, what))


def accelerator_from_upload(data: bytes | str, what: str = "hardware YAML") -> Accelerator:
    """An accelerator YAML file in the schema of the built-in ones (docs/hardware.md)."""
    return Accelerator.from_dict(parse_yaml(_text(data, what), what))
