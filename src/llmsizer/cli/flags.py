"""Command-line flags generated from the option objects' field metadata (inference/options.py).

`scenario_flags` gives a command every deployment, workload and serving flag, typed and bounded
as the field declares, and hands the command the three objects built once: a new option declared
in options.py appears on every command that takes its object, with no change here.
"""

from __future__ import annotations

import functools
from dataclasses import Field, fields

import click

from ..inference.fields import WORKLOAD_OPTIONS
from ..inference.options import Deployment, Serving
from .common import FiniteRange

#: storage precisions a user may name (the `choices="precisions"` of a field)
PRECISIONS = ["fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4"]
#: names of the quantisation presets (kept here so --help needs no import of the precision module)
QUANT_PRESETS = ["bf16", "fp8", "fp8-kv16", "int8", "w8a16", "awq-int4", "gptq-int4", "nvfp4", "mxfp4", "kv-fp8",
                 "kv-int4"]
CHOICES = {"precisions": PRECISIONS, "quant": QUANT_PRESETS,
           "weight_precisions": PRECISIONS + [p for p in QUANT_PRESETS if p not in PRECISIONS]}


def click_option(name: str, spec: Field):
    """One `click.option` from a field declared with `options.option(...)`."""
    meta = spec.metadata
    declared = [meta["flag"] or "--" + name.replace("_", "-"), *([meta["short"]] if meta["short"] else []), name]
    if meta["kind"] is bool:  # a switch: given or not
        return click.option(*declared, is_flag=True, default=spec.default, help=meta["help"])
    if meta["choices"] is not None:
        kind = click.Choice(list(CHOICES.get(meta["choices"], meta["choices"])) if isinstance(meta["choices"], str)
                            else list(meta["choices"]))
    elif meta["kind"] is int:
        kind = click.IntRange(meta["min"], meta["max"])
    elif meta["kind"] is float:
        kind = FiniteRange(meta["min"], meta["max"])
    else:
        kind = None
    return click.option(*declared, default=spec.default, show_default=spec.default is not None, type=kind,
                        required=meta.get("required", False), help=meta["help"])


def named_flags(*names: str):
    """The named deployment and workload fields as flags, for a command that takes only some of
    them (it receives them as plain values)."""
    specs = {**{spec.name: spec for spec in fields(Deployment)}, **WORKLOAD_OPTIONS}
    return _add([(name, specs[name]) for name in names])


def _add(items):
    def decorate(command):
        for name, spec in reversed(items):
            command = click_option(name, spec)(command)
        return command

    return decorate


def scenario_flags(memory_only: bool = False):
    """Every deployment, workload and serving flag; the command receives `deployment`, `workload`
    and `serving` built from them. `memory_only` keeps the serving flags that change memory."""
    deployment = [(spec.name, spec) for spec in fields(Deployment)]
    workload = list(WORKLOAD_OPTIONS.items())
    serving = [(spec.name, spec) for spec in fields(Serving) if spec.metadata.get("memory") or not memory_only]

    def decorate(command):
        @functools.wraps(command)
        def built(**values):
            from ..inference.workload import Workload

            if (values["hardware"] is None) == (values["system"] is None):
                raise click.UsageError("give exactly one of --hardware or --system")
            take = lambda items: {name: values.pop(name) for name, _ in items}  # noqa: E731
            return command(deployment=Deployment(**take(deployment)), workload=Workload(**take(workload)),
                           serving=Serving(**take(serving)), **values)

        return _add(deployment + workload + serving)(built)

    return decorate
