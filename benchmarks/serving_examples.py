"""The serving-under-load examples of the README, with the figures it quotes, and the timeline
image docs/images/simulate-timeline.png. Run: python benchmarks/serving_examples.py"""

from pathlib import Path

from llmsizer.serving.simulate import find_saturation, simulate

LOAD = dict(requests=2000, input=1024, output=256, lengths="lognormal", seed=0)
IMAGE = Path(__file__).resolve().parent.parent / "docs" / "images" / "simulate-timeline.png"


def main():
    at12 = simulate("llama-3.1-8b", "h100", rate=12, **LOAD)
    s = at12.summary
    print(f"1. Llama-3.1-8B, 1 x H100, vLLM, 12 requests/s: TTFT p99 {s['ttft_ms_p99']:.0f} ms, "
          f"ITL p99 {s['itl_ms_p99']:.1f} ms, {s['output_throughput_tokens_per_s']:.0f} output tokens/s")
    at12.plot(IMAGE)
    print(f"   timeline -> {IMAGE.relative_to(IMAGE.parents[2])}")
    print("2. Llama-3.1-70B, 8 x H100 (tp 8), closed loop: ITL p90 by concurrency")
    for users in (64, 128, 256, 512):
        r = simulate("llama-3.1-70b", "h100", tp=8, concurrency=users, **LOAD).summary
        print(f"   {users:4d} users: ITL p90 {r['itl_ms_p90']:.1f} ms, TTFT p90 {r['ttft_ms_p90']:.0f} ms, "
              f"{r['output_throughput_tokens_per_s']:.0f} output tokens/s")
    found = find_saturation("llama-3.1-8b", "h100", **LOAD)
    print(f"3. Llama-3.1-8B, 1 x H100 saturates at {found.rate:.1f} requests/s "
          f"(all at once: {found.offline_rate:.1f} requests/s)")
    long = dict(LOAD, input=4096, output=512, lengths="uniform", spread=0.2)
    print("4. Llama-3.1-70B on 8 x H100 at 3 requests/s, 4096 in / 512 out (uniform, 20% spread):")
    for label, options in (("tp 8, vLLM (chunks of 8192)", dict(tp=8)),
                           ("tp 8, chunks of 2048", dict(tp=8, max_num_batched_tokens=2048)),
                           ("tp 8, TensorRT-LLM (whole prompts)", dict(tp=8, scheduler="trtllm")),
                           ("prefill 4 + decode 4 (tp 4 each)", dict(tp=4, devices=4, prefill_devices=4, prefill_tp=4))):
        r = simulate("llama-3.1-70b", "h100", rate=3, **options, **long).summary
        print(f"   {label:36s} TTFT p90 {r['ttft_ms_p90']:6.0f} ms  ITL p90 {r['itl_ms_p90']:5.1f} ms")


if __name__ == "__main__":
    main()
