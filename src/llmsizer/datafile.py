"""YAML and JSON documents (model, hardware, system, profile, use case and sweep files, uploads),
read as data with bounds, and their fields checked by name.

Every document is read the same way, so a small file can never grow without bound:
- at most MAX_DOCUMENT_BYTES of UTF-8 text (a binary or UTF-16 file is refused, not guessed);
- safe YAML only (no objects, no code), and at most MAX_NODES values once anchors and aliases
  are expanded, nested at most MAX_DEPTH deep (an alias that refers to itself is refused);
- JSON nested at most MAX_DEPTH deep;
- a mapping at the top level.
Each refusal is a ConfigError naming the file and the bound.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .errors import ConfigError

#: the largest document read (the built-in files are a few KiB; uploads have their own, smaller limit)
MAX_DOCUMENT_BYTES = 1024 * 1024
#: values in a YAML document once every alias is expanded (a large sweep spec has a few hundred)
MAX_NODES = 100_000
#: nesting depth of mappings and lists
MAX_DEPTH = 32
#: the largest count a document may state (devices in a domain, compute units)
LARGEST_COUNT = 2**31


def read_text(source: str | Path | bytes, where: str, limit: int = MAX_DOCUMENT_BYTES) -> str:
    """The text of a file (a path) or of uploaded bytes, refused when too large or not UTF-8."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if path.is_dir():
            raise ConfigError(f"{where}: is a folder, not a file")
        if not path.is_file():
            raise ConfigError(f"{where}: no such file")
        if path.stat().st_size > limit:
            raise ConfigError(f"{where} is {path.stat().st_size / 1024:,.0f} KiB; the limit is {limit // 1024:,} KiB")
        raw = path.read_bytes()
    else:
        raw = bytes(source)
    if len(raw) > limit:
        raise ConfigError(f"{where} is {len(raw) / 1024:,.0f} KiB; the limit is {limit // 1024:,} KiB")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ConfigError(f"{where}: not UTF-8 text") from None


def parse_yaml(text: str, where: str) -> dict:
    """A YAML document as a mapping, refused past MAX_NODES expanded values or MAX_DEPTH levels."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_size(node, where)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML ({' '.join(str(exc).split())})") from None
    finally:
        loader.dispose()
    return _mapping(data, where)


def _check_size(root, where: str) -> None:
    """Walk the node graph as the constructor will expand it, stopping at the bounds."""
    from yaml.nodes import MappingNode, SequenceNode

    count, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise ConfigError(f"{where}: more than {MAX_NODES:,} values once its aliases are expanded")
        if depth > MAX_DEPTH:
            raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, MappingNode):
            stack.extend((child, depth + 1) for pair in node.value for child in pair)
        elif isinstance(node, SequenceNode):
            stack.extend((child, depth + 1) for child in node.value)


def parse_json(text: str, where: str) -> dict:
    """A JSON document as a mapping, refused past MAX_DEPTH levels."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:  # nesting outside strings, counted before the parser recurses into it
        if in_string:
            escaped, in_string = (False, True) if escaped else (char == "\\", char != '"')
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    if deepest > MAX_DEPTH:
        raise ConfigError(f"{where}: nested more than {MAX_DEPTH} levels deep")
    try:
        data = json.loads(text)  # NaN and Infinity stay readable: real configs use them (time step limits)
    except ValueError as exc:
        raise ConfigError(f"{where} is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} must hold a JSON object (a mapping) at the top level")
    return data


def load_document(source: str | Path, where: str | None = None) -> dict:
    """A YAML or JSON file (by its extension; YAML otherwise) as a checked mapping."""
    where = where or str(source)
    text = read_text(source, where)
    return parse_json(text, where) if str(source).endswith(".json") else parse_yaml(text, where)


def _mapping(data, where: str) -> dict:
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    return data


def check_fields(data, allowed, where: str, required=()) -> dict:
    """`data` as a mapping whose keys are all `allowed` and include every `required` one."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    unknown = sorted(str(key) for key in set(data) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")
    missing = [key for key in required if key not in data]
    if missing:
        raise ConfigError(f"{where}: missing required field(s) {', '.join(missing)}")
    return data


#: marks a field that has no default: it must be given
REQUIRED = object()


def _given(data: dict, key: str, where: str, default):
    value = data.get(key)
    if value is None and default is REQUIRED:
        raise ConfigError(f"{where}: required field {key!r} is missing")
    return default if value is None else value


def number(data: dict, key: str, where: str, default=REQUIRED, minimum: float = 0.0, strict: bool = False,
           whole: bool = False):
    """A field as a finite number >= `minimum` (> with `strict`; a whole number up to LARGEST_COUNT
    with `whole`), or `default` when the field is absent."""
    value = _given(data, key, where, default)
    if value is default:
        return value
    good = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value) and (
        value > minimum if strict else value >= minimum) and (not whole or (float(value).is_integer()
                                                                            and value <= LARGEST_COUNT))
    if not good:
        kind = f"a whole number up to {LARGEST_COUNT:,}" if whole else "a finite number"
        raise ConfigError(f"{where}.{key} = {value!r}: must be {kind} {'>' if strict else '>='} {minimum:g}")
    return int(value) if whole else float(value)


def text(data: dict, key: str, where: str, default=REQUIRED) -> str:
    """A field as a non-empty string, or `default` when the field is absent."""
    value = _given(data, key, where, default)
    if value is not default and not (isinstance(value, str) and value.strip()):
        raise ConfigError(f"{where}.{key} = {value!r}: must be a non-empty string")
    return value


def texts(data: dict, key: str, where: str) -> tuple[str, ...]:
    """A field as a list of strings (empty when absent)."""
    values = _given(data, key, where, ())
    if not (isinstance(values, (list, tuple)) and all(isinstance(v, str) for v in values)):
        raise ConfigError(f"{where}.{key} = {values!r}: must be a list of strings")
    return tuple(values)
