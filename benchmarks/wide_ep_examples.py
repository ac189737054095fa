"""The wide expert-parallel examples of docs/method.md ("Parallel plans"), with the figures it
quotes. Run: python benchmarks/wide_ep_examples.py"""

import llmsizer
from llmsizer.cost.collectives import routed_copies
from llmsizer.units import GB, MS

FP8 = dict(weight_precision="fp8")


def gb(**options) -> str:
    est = llmsizer.estimate("deepseek-v3", **FP8, **options)
    return f"{float(est.memory.total) / GB:.1f} GB per device"


def main():
    print("1. DeepSeek-V3 fp8 on H100, tp 1, ep 8: experts on exactly 8 devices however many replicas")
    for devices in (8, 16, 32, 64):
        print(f"   {devices:2d} devices: {gb(hardware='h100', devices=devices, ep=8)}")
    print("2. DeepSeek-V3 fp8 on part of and all of a GB200 NVL72")
    for devices, degrees in ((16, dict(tp=8)), (16, dict(tp=16)), (64, dict(ep=64)), (72, dict(ep=8)),
                             (72, dict(ep=72)), (72, dict(ep=72, redundant_experts=32))):
        label = " ".join(f"{k.replace('_', '-')} {v}" for k, v in degrees.items())
        print(f"   {devices:2d} devices, {label}: {gb(system='gb200-nvl72', devices=devices, **degrees)}")
    print("3. DeepSeek-R1 fp8 on 8 x B200, tp 8, ep 8, batch 3072 x (1000 + 1000) tokens")
    for attention_dp in (False, True):
        est = llmsizer.estimate("deepseek-r1", system="dgx-b200", tp=8, ep=8, attention_dp=attention_dp, batch=3072,
                                input=1000, output=1000, **FP8)
        print(f"   attention-dp {attention_dp!s:5}: {float(est.memory.total) / GB:.1f} GB per device, "
              f"fits {bool(est.fits)}, {float(est.throughput):.0f} output tokens/s")
    nvlink, ib = routed_copies([8, 2], 256, 8)
    print("4. DeepSeek-V3 (256 experts, top 8) EP16 over two 8-GPU nodes, copies of a token per dispatch:")
    print(f"   across nodes {ib:.3f} (one per routed copy: {8 / 2:.1f}, {8 / 2 / ib:.2f}x more); "
          f"inside a node {nvlink:.2f} (one per routed copy: {8 * 7 / 8:.1f})")
    options = dict(system="hgx-h100-16node-ib", devices=16, ep=16, input=4096, output=64, batch=4, **FP8)
    for tbo in (False, True):
        est = llmsizer.estimate("deepseek-v3", two_batch_overlap=tbo, **options)
        print(f"5. the same, batch 4 x 4096 prompt tokens, two-batch overlap {tbo!s:5}: "
              f"TTFT {float(est.ttft) / MS:.0f} ms, TPOT {float(est.tpot) / MS:.1f} ms")


if __name__ == "__main__":
    main()
