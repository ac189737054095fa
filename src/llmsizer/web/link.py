"""The sidebar's scenario as URL query parameters, so that a link reproduces the page.

Only values that differ from the defaults are written; reading ignores unknown names and values
that do not parse or are not among a field's choices (the default stays), so an old or edited
link never breaks the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping

NONE = "none"


@dataclass(frozen=True)
class Field:
    """A sidebar value: its type (int, float or str), default, and its choices or bounds."""

    kind: type
    default: object = None
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None


def to_query(values: Mapping[str, object], fields: Mapping[str, Field]) -> dict[str, str]:
    """Query parameters of the values that differ from their field's default (an emptied
    optional field is written as `none`)."""
    out = {}
    for key, spec in fields.items():
        value = values.get(key, spec.default)
        if value == spec.default:
            continue
        out[key] = NONE if value is None else (f"{value:g}" if isinstance(value, float) else str(value))
    return out


def _parse(text: str, spec: Field):
    if text == NONE and spec.kind is not str:
        return None
    value = spec.kind(float(text)) if spec.kind is int else spec.kind(text)
    if spec.kind is int and str(value) != text.strip():
        raise ValueError(text)  # "2.5" is not a whole number
    if spec.choices is not None and value not in spec.choices:
        raise ValueError(text)
    if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
        raise ValueError(text)
    return value


def from_query(params: Mapping[str, str], fields: Mapping[str, Field]) -> dict[str, object]:
    """The fields a link sets, typed; anything that does not parse is left out."""
    out = {}
    for key, text in params.items():
        spec = fields.get(key)
        if spec is None:
            continue
        try:
            out[key] = _parse(str(text), spec)
        except ValueError:
            continue
    return out
