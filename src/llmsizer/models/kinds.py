"""What every layer part (a token mixer or a feed-forward kind) answers for itself.

Each kind is a frozen dataclass registered here under the tag the native schema uses. It is the
one home of its own rules, so the rest of llmsizer dispatches on the part instead of asking what
it is:

- `params(hidden)`: weights it holds (an int for a mixer; total and active for a feed-forward);
- `shard(plan)`: the slice one device holds under a parallel plan;
- `check(plan)`: the plan rules it imposes (raises ConfigError naming the rule);
- `cache_elements(context, plan)`: per sequence on one device, elements cached per token
  history (KV, at the KV precision) and recurrent state (at the activation precision);
- `activation_width(plan)`: the widest projection output per token on one device.

Its operators live in `llmsizer.ops` (registered with `ops.registry.mixer_ops`), as counting
belongs to that layer. `plan` is any object with the fields of `llmsizer.parallel.Plan`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import require

#: native schema tag -> class, filled by `register`
MIXERS: dict[str, type] = {}
FFNS: dict[str, type] = {}


def register(table: dict, tag: str):
    """Class decorator: file a kind under its schema tag."""

    def add(cls):
        table[tag] = cls
        cls.tag = tag
        return cls

    return add


@dataclass(frozen=True)
class ParamCount:
    """Parameters of a layer part: all of them, and those one token uses."""

    total: int
    active: int


def positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        require(isinstance(value, int) and not isinstance(value, bool) and value > 0,
                f"{type(obj).__name__}.{name}", value, "must be a positive integer")


def non_negative(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        require(isinstance(value, int) and not isinstance(value, bool) and value >= 0,
                f"{type(obj).__name__}.{name}", value, "must be a non-negative integer")


def optional_positive(obj, *names: str) -> None:
    for name in names:
        value = getattr(obj, name)
        require(value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0),
                f"{type(obj).__name__}.{name}", value, "must be a positive integer or null")


def split_rule(plan, units: int, what: str) -> None:
    """Tensor parallelism splits `units` (heads, channels) evenly."""
    require(units % plan.tp == 0, "tp", plan.tp, f"must divide the {what} ({units})")


def sequential_rule(plan, what: str) -> None:
    """A recurrent mixer scans tokens in order, so a prompt cannot be split over devices."""
    require(plan.cp == 1, "cp", plan.cp, f"context parallelism needs attention layers; {what} layers scan in order")
