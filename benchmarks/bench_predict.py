"""Prints rows per second of `predict` on generated rows, distinct scenarios per second, and the
wall time of a cold `llmsizer estimate` beside a cold `import numpy`.

Rows mix 8 models, 6 accelerators, 4 tensor-parallel degrees, 2 precisions and 3 engines (1,152
distinct scenarios) with random batches and lengths, like a table of deployment candidates; the
distinct-scenario figure predicts one row of each, so no two rows share a deployment. The cold
commands run with Python's bytecode cache on (as for an installed package), so the first of them
may compile the sources and the best of five does not.
Usage: python benchmarks/bench_predict.py [ROWS]
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from llmsizer.inference.predict import predict

MODELS = ["llama-3.1-8b", "llama-3.1-70b", "mixtral-8x7b", "qwen3-30b-a3b", "deepseek-v2-lite", "gemma-2-27b",
          "mistral-7b", "jamba-1.5-mini"]
HARDWARE = ["h100", "h200", "a100", "mi300x", "b200", "l40s"]


def generated_rows(n: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    tp = rng.choice([1, 2, 4, 8], n)
    precision = rng.choice(["bf16", "fp8"], n)
    return pd.DataFrame({
        "model": rng.choice(MODELS, n), "hardware": rng.choice(HARDWARE, n), "num_devices": tp, "tp": tp,
        "pp": 1, "ep": 1, "weight_precision": precision, "kv_precision": precision,
        "batch_size": rng.integers(1, 257, n), "input_len": rng.integers(16, 8193, n),
        "output_len": rng.integers(1, 2049, n), "framework": rng.choice(["vLLM", "TensorRT-LLM", "SGLang"], n),
    })


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    rows = generated_rows(n)
    predict(rows.head(50))  # load the zoos once, as a long-running process would have
    start = time.perf_counter()
    out = predict(rows)
    elapsed = time.perf_counter() - start
    groups = rows[["model", "hardware", "tp", "weight_precision", "framework"]].drop_duplicates().shape[0]
    print(f"predict: {n:,} rows ({groups} distinct scenarios) in {elapsed:.2f} s = {n / elapsed:,.0f} rows/s; "
          f"{(out['pred_error'] != '').sum():,} rows with an error")
    distinct = rows.drop_duplicates(["model", "hardware", "tp", "weight_precision", "framework"])
    start = time.perf_counter()
    predict(distinct)
    elapsed = time.perf_counter() - start
    print(f"predict, every row its own scenario: {len(distinct):,} rows in {elapsed:.2f} s = "
          f"{len(distinct) / elapsed:,.0f} scenarios/s")
    llmsizer = str(Path(sys.executable).with_name("llmsizer"))  # the command installed beside this Python
    estimate = _best_of([llmsizer, "estimate", "--model", "llama-3.1-8b", "--hardware", "h100"])
    numpy = _best_of([sys.executable, "-c", "import numpy"])
    print(f"cold `llmsizer estimate --model llama-3.1-8b --hardware h100`: {estimate:.2f} s; cold "
          f"`python -c 'import numpy'`: {numpy:.2f} s; ratio {estimate / numpy:.1f} (best of 5 new processes each)")
    print(f"load average while measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _best_of(command: list[str], runs: int = 5) -> float:
    env = {key: value for key, value in os.environ.items() if key != "PYTHONDONTWRITEBYTECODE"}
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True, env=env)
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    main()
