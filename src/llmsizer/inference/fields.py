"""Option fields: how a value a user gives is declared once (help, flag, kind, range, choices)
and checked once, at the edge, against that declaration.

The option objects (options.py, workload.py) declare their fields with `option(...)` and call
`check_fields` as they are built: a number must be of its kind (whole where it counts things;
numpy integers and whole floats accepted), finite, and within its range; a choice must be one
of its values. A refusal is a ConfigError naming the field, the value and what is allowed.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import field, fields

from ..errors import require

#: the largest batch, token count or chunk an option takes (larger is a typing error, and would
#: overflow the counts of a step)
LARGEST_WHOLE = 2**31
#: the most devices a deployment, a degree or a pool may span
MAX_DEVICES = 2**20
#: the largest platform a goodput search sizes (its device counts are the powers of two up to it)
MAX_SEARCH_DEVICES = 4096
#: the most tokens a draft may propose per step
MAX_DRAFT_TOKENS = 64
#: the most sequences one request may decode (parallel samples or beams)
MAX_SAMPLES = 4096
#: the largest busiest-over-average expert load, and draft cost in target layers, an option takes
MAX_RATIO = 1000.0


def option(default, help: str, *, flag: str | None = None, short: str | None = None, kind=None, choices=None,
           minimum=None, maximum=None, required: bool = False, memory: bool = False):
    """A dataclass field that is also a command-line option (`--flag`, typed and bounded); `memory`
    marks a serving option that changes memory (the `memory` command offers it too)."""
    return field(default=default, metadata={"help": help, "flag": flag, "short": short, "kind": kind,
                                            "choices": choices, "min": minimum, "max": maximum,
                                            "required": required, "memory": memory})


def checked(name: str, value, meta):
    """`value` as its field declares it: whole where it must be (numpy integers and whole floats
    accepted), finite, within its range, one of its choices; else a ConfigError naming the field,
    the value and what is allowed. Arrays (sweeps, tables) are checked elementwise and kept."""
    kind, low, high = meta["kind"], meta["min"], meta["max"]
    if kind in (int, float):
        allowed = ("a whole number" if kind is int else "a finite number") + (
            f" from {low:,} to {high:,}" if low is not None and high is not None else
            f" >= {low:,}" if low is not None else f" <= {high:,}" if high is not None else "")
        if getattr(value, "ndim", 0):
            return _checked_array(name, value, kind, low, high, allowed)
        good = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value) and (
            kind is float or float(value).is_integer())
        good = good and (low is None or value >= low) and (high is None or value <= high)
        require(good, name, value, f"must be {allowed}")
        return int(value) if kind is int else float(value)
    if kind is bool:
        require(isinstance(value, bool) or type(value).__name__ == "bool_", name, value, "must be true or false")
        return bool(value)
    choices = meta["choices"]
    if choices is not None:  # names: checked against their list here, or where they resolve
        require(isinstance(value, str), name, value, "must be a name")
    if isinstance(choices, tuple):
        require(value in choices, name, value, f"must be one of {', '.join(choices)}")
    elif kind is None and isinstance(value, str):
        require(bool(value.strip()), name, value, "must not be empty")
    return value


def _checked_array(name, value, kind, low, high, allowed):
    import numpy as np

    array = np.asarray(value)
    good = np.issubdtype(array.dtype, np.number) and not np.issubdtype(array.dtype, np.complexfloating)
    with np.errstate(invalid="ignore"):
        good = good and bool(np.all(np.isfinite(array)) and (kind is float or np.all(array == np.round(array)))
                             and (low is None or np.all(array >= low)) and (high is None or np.all(array <= high)))
    require(good, name, value, f"must be {allowed} everywhere")
    return value


def check_fields(instance) -> None:
    """Check every declared field of an option object (in its __post_init__), normalising numbers;
    None given for a field with a default stands for that default."""
    for spec in fields(instance):
        value = getattr(instance, spec.name)
        if value is None and spec.default is not None:
            object.__setattr__(instance, spec.name, spec.default)
        elif value is not None and spec.metadata:
            object.__setattr__(instance, spec.name, checked(spec.name, value, spec.metadata))


#: the `Workload` fields (workload.py) as options, with their help texts and bounds
WORKLOAD_OPTIONS = {
    "batch": option(1, "Requests in the static batch (of each data-parallel replica).", kind=int, minimum=1,
                    maximum=LARGEST_WHOLE),
    "input": option(1024, "Prompt tokens per request.", kind=int, minimum=1, maximum=LARGEST_WHOLE),
    "output": option(256, "Generated tokens per request.", kind=int, minimum=1, maximum=LARGEST_WHOLE),
    "samples": option(1, "Sequences per request sharing the prompt's KV cache (parallel sampling or beams).",
                      kind=int, minimum=1, maximum=MAX_SAMPLES),
    "cached_prefix": option(0, "Prompt tokens already in the prefix cache (their prefill is skipped).", kind=int,
                            minimum=0, maximum=LARGEST_WHOLE),
}
