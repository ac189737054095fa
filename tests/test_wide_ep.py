"""Plans on rack-scale systems: part of a network dimension, expert parallelism as typed,
redundant experts, attention data parallelism, and node-deduplicated expert dispatch."""

import math

import numpy as np
import pytest

import llmsizer
from llmsizer.cost.collectives import collective, destinations, routed_copies
from llmsizer.errors import ConfigError
from llmsizer.hardware.spec import NetworkDim, Span
from llmsizer.hardware.zoo import load_system
from llmsizer.inference.batch import evaluate, prepare
from llmsizer.inference.scenario import scenario
from llmsizer.inference.memory import weight_bytes_per_device
from llmsizer.inference.workload import Workload
from llmsizer.models.params import dense_ffn_params
from llmsizer.models.zoo import load_model
from llmsizer.ops.base import Sizes
from llmsizer.parallel import Plan
from llmsizer.precision import Precisions


def _spans(spans):
    return [(s.dim.name, s.size) for s in spans]


def test_a_job_may_use_part_of_a_network_dimension():
    nvl72, cluster = load_system("gb200-nvl72"), load_system("hgx-h100-16node-ib")
    layout = Plan(tp=8, dp=2).layout(nvl72)
    assert _spans(layout["tp"]) == [("nvlink", 8)] and _spans(layout["dp"]) == [("nvlink", 2)]
    assert _spans(Plan(tp=16).layout(nvl72)["tp"]) == [("nvlink", 16)]
    assert _spans(Plan(dp=64, ep=64).layout(nvl72)["ep"]) == [("nvlink", 64)]
    assert _spans(Plan(tp=8, dp=3).layout(cluster)["dp"]) == [("ib", 3)]
    # a group larger than what is left of a dimension takes the largest divisor of its degree that fits
    assert _spans(Plan(dp=12).layout(cluster)["dp"]) == [("nvlink", 6), ("ib", 2)]
    with pytest.raises(ConfigError, match="dp = 20: cannot be laid out"):
        Plan(tp=6, dp=20).layout(cluster)  # 120 devices, but six per node leave room for 16 replicas only
    for devices, degrees in ((16, {"tp": 8}), (64, {"ep": 64}), (16, {"tp": 16}), (72, {"ep": 72})):
        est = llmsizer.estimate("deepseek-v3", system="gb200-nvl72", devices=devices, weight_precision="fp8", **degrees)
        assert est.scenario.plan.devices == devices and float(est.tpot) > 0
    assert llmsizer.estimate("llama-3.1-70b", system="hgx-h100-16node-ib", devices=24, tp=8).scenario.plan.dp == 3


def _memory(devices, **degrees):
    est = llmsizer.estimate("deepseek-v3", "h100", devices=devices, weight_precision="fp8", **degrees)
    return float(est.memory.total)


def test_ep_places_experts_on_exactly_that_many_devices():
    eight = _memory(8, tp=1, ep=8)
    for devices in (16, 32, 64):
        assert _memory(devices, tp=1, ep=8) == pytest.approx(eight, rel=1e-12)
    assert _memory(64, tp=1, ep=64) < eight / 3  # experts spread over every device only when typed so
    # the weights that differ between ep 8 and ep 64: the routed experts each device holds
    m = load_model("deepseek-v3")
    sizes = Sizes.of(Precisions.from_weight_precision("fp8"))
    ffn = next(layer.ffn for layer in m.layer_kinds() if layer.ffn.kind == "moe")
    expert = dense_ffn_params(ffn.expert_intermediate, m.hidden, ffn.gated, False) * sizes.expert_weight
    moe_layers = sum(count for layer, count in m.layer_kinds().items() if layer.ffn.kind == "moe")
    gap = weight_bytes_per_device(m, Plan(dp=8, ep=8), sizes) - weight_bytes_per_device(m, Plan(dp=64, ep=64), sizes)
    assert gap == pytest.approx(moe_layers * (256 / 8 - 256 / 64) * expert, rel=1e-12)


def test_ep_72_on_nvl72_with_and_without_redundant_experts():
    plain, redundant = Plan(dp=72, ep=72), Plan(dp=72, ep=72, redundant_experts=32)
    assert plain.expert_slots(256) == 4 == redundant.expert_slots(256)  # ceil(256/72), and 288/72
    assert plain.placement_imbalance(256) == pytest.approx(4 * 72 / 256)
    assert redundant.placement_imbalance(256) == 1.0
    work = Workload(64, 2000, 200)

    def expert_flops(plan_kw):
        sc = scenario("deepseek-v3", system="gb200-nvl72", devices=72, ep=72, weight_precision="fp8", **plan_kw)
        ops = prepare(sc, work).decode_ops
        return sum(float(np.asarray(op.flops).flat[0]) * op.count for op in ops if op.name.startswith("experts_"))

    # equal slots per device: the copies only spread the busiest device's work
    assert expert_flops({}) == pytest.approx(expert_flops({"redundant_experts": 32}) * 4 * 72 / 256, rel=1e-12)
    with pytest.raises(ConfigError, match="redundant_experts = 8: copies of experts need expert parallelism"):
        Plan(redundant_experts=8)
    with pytest.raises(ConfigError, match="ep = 16: must not exceed the experts plus redundant copies"):
        scenario("mixtral-8x7b", system="dgx-h100", dp=16, ep=16, devices=16)


def test_redundant_copies_cost_their_weights():
    m = load_model("deepseek-v3")
    sizes = Sizes.of(Precisions.from_weight_precision("fp8"))
    ffn = next(layer.ffn for layer in m.layer_kinds() if layer.ffn.kind == "moe")
    expert = dense_ffn_params(ffn.expert_intermediate, m.hidden, ffn.gated, False) * sizes.expert_weight
    moe_layers = sum(count for layer, count in m.layer_kinds().items() if layer.ffn.kind == "moe")
    extra = (weight_bytes_per_device(m, Plan(dp=32, ep=32, redundant_experts=32), sizes)
             - weight_bytes_per_device(m, Plan(dp=32, ep=32), sizes))
    assert extra == pytest.approx(moe_layers * (288 / 32 - 256 / 32) * expert, rel=1e-12)


R1 = dict(system="dgx-b200", weight_precision="fp8", input=1000, output=1000)


def test_attention_data_parallel_fits_deepseek_r1_on_eight_b200_at_a_large_batch():
    spread = llmsizer.estimate("deepseek-r1", tp=8, ep=8, attention_dp=True, batch=3072, **R1)
    assert bool(spread.fits)
    assert not bool(llmsizer.estimate("deepseek-r1", tp=8, ep=8, batch=3072, **R1).fits)  # MLA's cache on every TP rank
    # the same deployment written as eight replicas of one device each, 384 requests apiece
    ranks = llmsizer.estimate("deepseek-r1", tp=1, dp=8, ep=8, batch=384, **R1)
    assert float(spread.memory.total) == pytest.approx(float(ranks.memory.total), rel=1e-12)
    assert float(spread.tpot) == pytest.approx(float(ranks.tpot), rel=1e-12)
    assert float(spread.throughput) == pytest.approx(float(ranks.throughput), rel=1e-12)
    assert int(spread.memory.max_batch) == 8 * int(ranks.memory.max_batch)
    assert spread.to_dict()["plan"]["attention_dp"] is True
    with pytest.raises(ConfigError, match="ep = 3: must divide the attention-data-parallel ranks"):
        Plan(tp=8, ep=3, attention_dp=True)


E, K, H = 256, 8, 7168  # DeepSeek-V3: routed experts, top-k, hidden


def test_dispatch_copies_per_token_by_hand_for_ep16_over_two_nodes():
    node, gpu = math.comb(E - 128, K) / math.comb(E, K), math.comb(E - 16, K) / math.comb(E, K)
    nvlink, ib = routed_copies([8, 2], E, K)
    assert ib == pytest.approx(2 * (1 - node) / 2, rel=1e-12)  # the other node, once, if any expert is there
    assert nvlink == pytest.approx(16 * (1 - gpu) * 7 / 8, rel=1e-12)  # each other GPU holding one, once
    assert destinations(16, E, 1) == pytest.approx(1.0)
    # per routed copy (no deduplication) the inter-node share is top_k x 1/2 of the tokens: ~4x more
    assert K / 2 / ib == pytest.approx(4.0, rel=0.01)


def test_dispatch_time_over_two_spans_by_hand():
    nv, ib = NetworkDim("nvlink", 8, 450e9, 1e-6), NetworkDim("ib", 16, 50e9, 5e-6)
    tokens = 4096
    message = tokens * H * 1  # fp8, one copy per token
    c_nv, c_ib = routed_copies([8, 2], E, K)
    expected = 1e-6 + 5e-6 + max(message * c_nv / 450e9, message * c_ib / 50e9)
    cost = collective("dispatch", message, [Span(nv, 8), Span(ib, 2)], routing=(E, K))
    assert float(cost.time) == pytest.approx(expected, rel=1e-12)
    assert cost.algorithm == "deduplicated"
    # with one expert per token a dispatch is an all-to-all of the same tokens
    one = collective("dispatch", message, [Span(nv, 8)], routing=(E, 1)).time
    assert one == pytest.approx(collective("all_to_all", message, [Span(nv, 8)]).time, rel=1e-12)
    with pytest.raises(ValueError, match="routing"):
        collective("dispatch", message, [Span(nv, 8)])


def test_deepseek_v3_ep16_over_two_nodes_dispatch_and_combine():
    sc = scenario("deepseek-v3", system="hgx-h100-16node-ib", devices=16, ep=16, weight_precision="fp8")
    est = evaluate(sc, Workload(1, 4096, 2))
    costs = {c.op.name: c for c in est.prefill.costs if c.op.name in ("moe_dispatch", "moe_combine")}
    dispatch, combine = costs["moe_dispatch"], costs["moe_combine"]
    assert float(dispatch.op.message_bytes) == 4096 * H * 1
    assert float(combine.op.message_bytes) == 4096 * H * 2
    assert float(combine.time) > 1.9 * float(dispatch.time)  # twice the bytes over the same links


def test_predict_reads_dp_and_attention_dp_columns():
    import pandas as pd

    from llmsizer.inference.predict import predict

    row = dict(model="deepseek-r1", hardware="B200-180GB", num_devices=8, tp=8, pp=1, ep=8, weight_precision="fp8",
               kv_precision="fp8", batch_size=3072, input_len=1000, output_len=1000)
    frame = pd.DataFrame([{**row, "attention_dp": "true"}, {**row, "attention_dp": ""}, {**row, "dp": 1},
                          {**row, "dp": 2}, {**row, "attention_dp": "maybe"}])
    out = predict(frame)
    assert list(out["pred_fits"][:3]) == [True, False, False]
    assert out["pred_memory_per_device_gb"][1] == out["pred_memory_per_device_gb"][2]
    assert "dp = 2: must equal devices" in out["pred_error"][3]
    assert "attention_dp = 'maybe': must be true or false" in out["pred_error"][4]


def test_cli_flags_for_redundant_experts_and_attention_dp():
    import json

    from click.testing import CliRunner

    from llmsizer.cli import main

    args = ["estimate", "-m", "deepseek-v3", "-s", "gb200-nvl72", "-n", "72", "--ep", "72", "--weight-precision", "fp8",
            "--redundant-experts", "32", "--attention-dp", "--json"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)["plan"]
    assert plan["redundant_experts"] == 32 and plan["attention_dp"] is True and plan["dp"] == 72


def test_two_batch_overlap_hides_the_expert_exchange_behind_the_other_half():
    options = dict(system="hgx-h100-16node-ib", devices=16, ep=16, weight_precision="fp8")
    work = Workload(4, 4096, 64)
    plain = evaluate(scenario("deepseek-v3", **options), work)
    tbo = evaluate(scenario("deepseek-v3", two_batch_overlap=True, **options), work)
    by_name = lambda est: {c.op.name: c for c in est.prefill.costs}  # noqa: E731
    half, whole = by_name(tbo), by_name(plain)
    # two half steps: every operator twice, on half the tokens
    assert half["moe_dispatch"].op.count == 2 * whole["moe_dispatch"].op.count
    assert float(half["moe_dispatch"].op.message_bytes) == float(whole["moe_dispatch"].op.message_bytes) / 2
    exchange = sum(c.total for c in tbo.prefill.costs if c.op.name in ("moe_dispatch", "moe_combine"))
    rest = sum(c.total for c in tbo.prefill.costs) - exchange
    step = float(tbo.prefill.time) - tbo.prefill.step_overhead_s
    assert step == pytest.approx(max(float(exchange), float(rest)), rel=1e-9)
    assert float(tbo.ttft) < float(plain.ttft)
    assert "two-batch-overlap" in tbo.scenario.plan.label
    with pytest.raises(ConfigError, match="two_batch_overlap = True: overlaps the expert all-to-all"):
        Plan(tp=8, ep=8, two_batch_overlap=True)


def test_plan_search_finds_the_attention_data_parallel_deployment():
    """tp 8 with attention-DP costs as tp 1 over 8 replicas, which the search already holds."""
    from llmsizer.search.plans import ranked, search_plans

    results = search_plans("deepseek-r1", "dgx-b200", batch=3072, input=1000, output=1000, weight_precision="fp8")
    best = ranked(results, "throughput-per-device").iloc[0]
    assert best["fits"] and (best["tp"], best["dp"], best["ep"]) == (1, 8, 8)
    same = llmsizer.estimate("deepseek-r1", tp=8, ep=8, attention_dp=True, batch=3072, **R1)
    assert best["throughput_per_device"] == pytest.approx(float(same.throughput) / 8, rel=1e-9)
