"""llmsizer: predict LLM inference latency, throughput and memory on AI platforms.

The top-level names are imported lazily so that `import llmsizer` (and the CLI start)
stays light; numpy and pandas load only when a computation needs them.
"""

from importlib import import_module

__version__ = "0.1.0"

_LAZY = {
    "load_model": "llmsizer.models.zoo",
    "list_models": "llmsizer.models.zoo",
    "load_accelerator": "llmsizer.hardware.zoo",
    "load_system": "llmsizer.hardware.zoo",
    "list_accelerators": "llmsizer.hardware.zoo",
    "list_systems": "llmsizer.hardware.zoo",
    "memory_breakdown": "llmsizer.inference.memory",
    "Workload": "llmsizer.inference.workload",
    "Plan": "llmsizer.parallel",
    "Precisions": "llmsizer.precision",
    "estimate": "llmsizer.inference.estimate",
    "predict": "llmsizer.inference.predict",
    "sweep": "llmsizer.search.sweep",
    "simulate": "llmsizer.serving.simulate",
    "load_usecase": "llmsizer.usecases",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'llmsizer' has no attribute {name!r}")
