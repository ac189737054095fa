"""Prints configurations per second of a 1,000,000-point single-model sweep on this machine.

Llama-3.1-70B on 4 x H100 (TP 4): 100 batch sizes x 50 prompt lengths x 20 output lengths x
10 memory-bandwidth scales, every metric, fit and bound of every point.
Usage: python benchmarks/bench_sweep.py [POINTS_SCALE]
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

from llmsizer.search.sweep import run_sweep


def spec(scale: float = 1.0) -> dict:
    return {
        "model": "llama-3.1-70b", "hardware": "h100", "plan": {"tp": 4},
        "batch": np.unique(np.geomspace(1, 512, int(100 * scale)).round()).tolist()[: int(100 * scale)],
        "input": np.linspace(128, 32768, 50).round().tolist(),
        "output": np.linspace(16, 4096, 20).round().tolist(),
        "scale": {"memory_bandwidth": np.linspace(0.5, 3.0, 10).tolist()},
    }


def main() -> None:
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    s = spec(scale)
    s["batch"] = list(range(1, int(100 * scale) + 1))
    run_sweep({**s, "batch": [1], "input": [128], "output": [16]})  # load the zoos once
    rates = []
    for _ in range(3):
        start = time.perf_counter()
        frame, _ = run_sweep(s)
        rates.append(len(frame) / (time.perf_counter() - start))
    print(f"sweep: {len(frame):,} configurations (all metrics, fits and bounds); runs: "
          + ", ".join(f"{r:,.0f}" for r in rates) + f" configurations/s; median {np.median(rates):,.0f}/s")
    print(f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
