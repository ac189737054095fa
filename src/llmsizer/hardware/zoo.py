"""Built-in accelerators and systems (data files under llmsizer/data/hardware) and name resolution."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..errors import ConfigError, unknown_name
from .spec import Accelerator, System


def _read_yaml(text: str, where: str) -> dict:
    import yaml

    try:
        data = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: cannot parse YAML ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    return data


def _data_files(kind: str):
    folder = resources.files("llmsizer.data").joinpath("hardware", kind)
    return sorted((p for p in folder.iterdir() if p.name.endswith(".yaml")), key=lambda p: p.name)


@lru_cache(maxsize=1)
def _accelerators() -> dict[str, Accelerator]:
    return {a.name: a for a in (Accelerator.from_dict(_read_yaml(p.read_text(), p.name)) for p in _data_files("accelerators"))}


@lru_cache(maxsize=1)
def _systems() -> dict[str, System]:
    systems = {}
    for path in _data_files("systems"):
        data = _read_yaml(path.read_text(), path.name)
        systems[data["name"]] = System.from_dict(data, load_accelerator(data["accelerator"]))
    return systems


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


def load_accelerator(name_or_path: str | Accelerator) -> Accelerator:
    """A built-in accelerator by name or alias (case-insensitive), or a YAML hardware file."""
    if isinstance(name_or_path, Accelerator):
        return name_or_path
    found = _lookup(_accelerators(), str(name_or_path))
    if found is not None:
        return found
    path = Path(str(name_or_path))
    if path.is_file():
        return Accelerator.from_dict(_read_yaml(path.read_text(), str(path)))
    raise unknown_name("hardware", str(name_or_path), [a.name for a in _accelerators().values()])


def load_system(name_or_path: str | System) -> System:
    """A built-in system by name or alias, or a YAML system file."""
    if isinstance(name_or_path, System):
        return name_or_path
    found = _lookup(_systems(), str(name_or_path))
    if found is not None:
        return found
    path = Path(str(name_or_path))
    if path.is_file():
        data = _read_yaml(path.read_text(), str(path))
        return System.from_dict(data, load_accelerator(data["accelerator"]))
    raise unknown_name("system", str(name_or_path), [s.name for s in _systems().values()])
