"""The built-in model zoo (data files under llmsizer/data/models) and name resolution.

A name resolves, case-insensitively, by zoo name, Hugging Face id or alias; a path to a
config.json (Hugging Face) or a native model file (JSON or YAML with `layers`) loads that file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..datafile import parse_json, parse_yaml, read_text
from ..errors import require, unknown_name
from .hf import model_from_hf_config
from .spec import Model, model_from_dict


@dataclass(frozen=True)
class ZooEntry:
    """One zoo file: its names, its source and the parameter counts its publisher gives."""

    name: str
    hf_id: str
    aliases: tuple[str, ...]
    source: str
    published_parameters: float | None
    published_active_parameters: float | None
    published_source: str
    config: dict

    def model(self) -> Model:
        return model_from_hf_config(self.config, name=self.name, source=self.source,
                                    aliases=(self.hf_id, *self.aliases))


@lru_cache(maxsize=1)
def zoo_entries() -> dict[str, ZooEntry]:
    """Every zoo entry, keyed by its name."""
    entries = {}
    for item in sorted(resources.files("llmsizer.data").joinpath("models").iterdir(), key=lambda p: p.name):
        if not item.name.endswith(".json"):
            continue
        data = json.loads(item.read_text())
        published = data.get("published", {})
        entries[data["name"]] = ZooEntry(
            name=data["name"],
            hf_id=data.get("hf_id") or "",
            aliases=tuple(data.get("aliases", ())),
            source=data["source"],
            published_parameters=published.get("parameters"),
            published_active_parameters=published.get("active_parameters"),
            published_source=published.get("source", ""),
            config=data["config"],
        )
    return entries


@lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    index = {}
    for entry in zoo_entries().values():
        for key in (entry.name, entry.hf_id, *entry.aliases):
            if key:
                index[key.lower()] = entry.name
    return index


def list_models() -> list[ZooEntry]:
    return list(zoo_entries().values())


@lru_cache(maxsize=256)
def _zoo_model(name: str) -> Model:
    return zoo_entries()[name].model()


def load_model(name_or_path: str | Model) -> Model:
    """Resolve a zoo name, Hugging Face id or alias, or load a config file from a path."""
    if isinstance(name_or_path, Model):
        return name_or_path
    key = str(name_or_path).strip()
    if key.lower() in _index():
        return _zoo_model(_index()[key.lower()])
    path = Path(key)
    if path.exists():
        return load_model_file(path)
    known = [e.name for e in zoo_entries().values()] + [e.hf_id for e in zoo_entries().values() if e.hf_id]
    raise unknown_name("model", key, known)


def load_model_file(path: Path) -> Model:
    """A Hugging Face config.json, or llmsizer's native model schema in JSON or YAML."""
    if path.is_dir():
        path = path / "config.json"
    text = read_text(path, str(path))
    data = parse_yaml(text, str(path)) if path.suffix in (".yaml", ".yml") else parse_json(text, str(path))
    if "layers" in data:
        return model_from_dict(data)
    name = data.get("_name_or_path") or (path.parent.name if path.name == "config.json" else path.stem)
    return model_from_hf_config(check_counts(data, str(path)), name=str(name), source=str(path))


#: the most layers a model file may state (the largest published models have under 200)
MAX_LAYERS = 1024
#: Hugging Face config fields that count layers, and others that count or size things (at least 1)
LAYER_FIELDS = ("num_hidden_layers", "n_layer", "num_layers")
COUNT_FIELDS = ("num_attention_heads", "n_head", "num_key_value_heads", "head_dim", "hidden_size", "n_embd",
                "intermediate_size", "vocab_size")
LARGEST_COUNT = 2**31


def check_counts(config: dict, where: str) -> dict:
    """Refuse a config whose family is not a name, or whose layer count or sizes are not whole
    numbers in range, before building anything from it (10 million layers would take minutes)."""
    model_type = config.get("model_type")
    require(model_type is None or isinstance(model_type, str), f"{where}: model_type", model_type, "must be a name")
    for section, prefix in ((config, ""), (config.get("text_config") or {}, "text_config.")):
        if not isinstance(section, dict):
            continue
        for key in LAYER_FIELDS + COUNT_FIELDS:
            value, high = section.get(key), MAX_LAYERS if key in LAYER_FIELDS else LARGEST_COUNT
            require(value is None or (isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= high),
                    f"{where}: {prefix}{key}", value, f"must be a whole number from 1 to {high:,}")
    return config
