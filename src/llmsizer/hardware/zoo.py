"""Built-in accelerators and systems (data files under llmsizer/data/hardware) and name resolution."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..datafile import load_document, parse_yaml, text
from ..errors import unknown_name
from .spec import Accelerator, System


def _data_files(kind: str):
    folder = resources.files("llmsizer.data").joinpath("hardware", kind)
    return sorted((p for p in folder.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)


@lru_cache(maxsize=1)
def _accelerators() -> dict[str, Accelerator]:
    return {a.name: a for a in (_accelerator_file(p) for p in _data_files("accelerators"))}


@lru_cache(maxsize=None)
def _accelerator_file(path) -> Accelerator:
    return Accelerator.from_dict(parse_yaml(path.read_text(), path.name))


@lru_cache(maxsize=2)
def names_index(kind: str) -> dict[str, object]:
    """Each data file by its lower-case name and aliases, read from the file's first two lines
    (every hardware file opens with `name:` and `aliases:`), so that finding one accelerator reads
    one file rather than all of them: a command starts faster."""
    index = {}
    for path in _data_files(kind):
        with path.open() as handle:
            header = parse_yaml(handle.readline() + handle.readline(), path.name) or {}
        for key in [header.get("name", ""), *(header.get("aliases") or [])]:
            index[str(key).strip().lower()] = path
    return index


@lru_cache(maxsize=1)
def _systems() -> dict[str, System]:
    return {s.name: s for s in (_system_file(p) for p in _data_files("systems"))}


@lru_cache(maxsize=None)
def _system_file(path) -> System:
    return _system_from_data(parse_yaml(path.read_text(), path.name))


def _lookup(items: dict, key: str):
    key = key.strip().lower()
    for item in items.values():
        if key == item.name.lower() or key in (a.lower() for a in item.aliases):
            return item
    return None


def list_accelerators() -> list[Accelerator]:
    return list(_accelerators().values())


def list_systems() -> list[System]:
    return list(_systems().values())


def _resolve(kind: str, items: dict, key, from_data, listing: str):
    """A built-in item by name or alias (case-insensitive), or one read from a YAML file path."""
    found = _lookup(items, str(key))
    if found is not None:
        return found
    path = Path(str(key))
    if path.is_file():
        return from_data(load_document(path))
    raise unknown_name(kind, str(key), [item.name for item in items.values()], listing)


def _system_from_data(data: dict) -> System:
    return System.from_dict(data, load_accelerator(text(data, "accelerator", "system")))


def load_accelerator(name_or_path: str | Accelerator) -> Accelerator:
    """A built-in accelerator by name or alias, or a YAML hardware file."""
    if isinstance(name_or_path, Accelerator):
        return name_or_path
    path = names_index("accelerators").get(str(name_or_path).strip().lower())
    if path is not None:
        return _accelerator_file(path)
    return _resolve("hardware", _accelerators(), name_or_path, Accelerator.from_dict, "`llmsizer hardware`")


def load_system(name_or_path: str | System) -> System:
    """A built-in system by name or alias, or a YAML system file."""
    if isinstance(name_or_path, System):
        return name_or_path
    path = names_index("systems").get(str(name_or_path).strip().lower())
    if path is not None:
        return _system_file(path)
    return _resolve("system", _systems(), name_or_path, _system_from_data, "`llmsizer hardware --systems`")
