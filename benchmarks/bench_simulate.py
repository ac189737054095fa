"""Speed of the serving simulator: 100,000 requests of Llama-3.1-8B on one H100 (vLLM V1 limits)
at 80% of the saturation rate, log-normal lengths around 1024 prompt and 256 output tokens.
Prints the saturation search, three timed runs and their median, and how closely the step-cost
tables match `step_cost`."""

import statistics
import time

import numpy as np

from llmsizer.inference.options import Deployment
from llmsizer.serving.simulate import find_saturation, simulate
from llmsizer.serving.stepmodel import step_model_error

WORKLOAD = dict(input=1024, output=256, lengths="lognormal", spread=0.5)


def main():
    start = time.perf_counter()
    saturation = find_saturation("llama-3.1-8b", "h100", requests=2000, **WORKLOAD)
    print(f"saturation rate {saturation.rate:.2f} requests/s ({saturation.runs} runs of 2,000 requests, "
          f"{time.perf_counter() - start:.1f} s); offline {saturation.offline_rate:.2f} requests/s")
    rate = 0.8 * saturation.rate
    seconds, cpu = [], []
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = simulate("llama-3.1-8b", "h100", rate=rate, requests=100_000, **WORKLOAD)
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    steps = sum(len(t["start"]) for t in result.timelines)
    s = result.summary
    print(f"100,000 requests at {rate:.2f} requests/s: {steps:,} steps; runs "
          + ", ".join(f"{x:.2f}" for x in seconds) + f" s; median {statistics.median(seconds):.2f} s wall, "
          f"{statistics.median(cpu):.2f} s CPU (the machine's other load shows in the gap)")
    print(f"  TTFT mean {s['ttft_ms_mean']:.0f} ms p99 {s['ttft_ms_p99']:.0f} ms; ITL mean {s['itl_ms_mean']:.1f} ms "
          f"p99 {s['itl_ms_p99']:.1f} ms; {s['output_throughput_tokens_per_s']:.0f} output tokens/s")
    sc = Deployment(model="llama-3.1-8b", hardware="h100").resolve()
    errors = np.abs(step_model_error(sc, result.step_model, samples=600))
    print(f"step-cost tables vs step_cost on 600 random steps: mean |error| {errors.mean():.2e}, "
          f"max {errors.max():.2e}")


if __name__ == "__main__":
    main()
