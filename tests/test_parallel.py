"""Parallel plans: layout on the network, pipeline, expert and context parallelism, memory, plans."""

from dataclasses import replace

import pytest
from click.testing import CliRunner
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from llmsizer.cli import main
from llmsizer.errors import ConfigError
from llmsizer.hardware.spec import NetworkDim, System
from llmsizer.hardware.zoo import load_system
from llmsizer.inference.batch import evaluate, prepare
from llmsizer.inference.scenario import scenario
from llmsizer.inference.step import pipeline_factors
from llmsizer.inference.workload import Workload
from llmsizer.models.zoo import load_model
from llmsizer.parallel import Plan


def test_tensor_parallel_takes_the_innermost_dimension():
    system = load_system("hgx-h100-16node-ib")
    layout = Plan(tp=8, pp=2, dp=8).layout(system)
    assert [(s.dim.name, s.size) for s in layout["tp"]] == [("nvlink", 8)]
    assert [s.size for s in layout["pp"]] == [2] and layout["pp"][0].dim.name != "nvlink"
    # the order can put pipeline stages inside the node instead
    inside = Plan(tp=4, pp=2, dp=16, order=("pp", "tp", "cp", "dp")).layout(system)
    assert inside["pp"][0].dim.name == "nvlink" and inside["tp"][0].dim.name == "nvlink"


def test_experts_spanning_replicas_use_tp_and_dp_spans():
    layout = Plan(tp=8, dp=4, ep=32).layout(load_system("hgx-h100-16node-ib"))
    assert [(s.dim.name, s.size) for s in layout["ep"]] == [("nvlink", 8), ("ib", 4)]


def test_invalid_plans_name_the_rule():
    with pytest.raises(ConfigError, match="ep = 3: must divide tp"):
        Plan(tp=8, ep=3)
    with pytest.raises(ConfigError, match="ep = 16: must not exceed the experts plus redundant copies \\(8 \\+ 0\\)"):
        scenario("mixtral-8x7b", system="dgx-h100", tp=8, dp=2, ep=16, devices=16)
    with pytest.raises(ConfigError, match="tp = 12: must divide the attention heads \\(32\\)"):
        scenario("llama-3.1-8b", "h100", tp=12)
    with pytest.raises(ConfigError, match="cp = 2: context parallelism needs attention layers"):
        scenario("mamba-2.8b", "h100", cp=2)
    with pytest.raises(ConfigError, match="the plan needs more devices than dgx-h100 has"):
        scenario("llama-3.1-8b", system="dgx-h100", tp=8, dp=2, devices=16)
    with pytest.raises(ConfigError, match="has no experts"):
        scenario("llama-3.1-8b", "h100", tp=2, ep=2)


def test_pipeline_with_one_microbatch_has_no_overlap():
    assert pipeline_factors(Plan(pp=4, microbatches=1), 16) == (1.0, 1.0)
    fill, steady = pipeline_factors(Plan(pp=4), 16)  # four micro-batches
    assert fill == pytest.approx(7 / 4) and steady == pytest.approx(1.0)
    # one micro-batch on two stages walks every layer in turn: the unsplit time plus the send
    one = evaluate(scenario("llama-3.1-70b", "h100", tp=4), Workload(8, 1000, 100))
    two = evaluate(scenario("llama-3.1-70b", "h100", tp=2, pp=2, microbatches=1), Workload(8, 1000, 100))
    assert float(two.tpot) > float(one.tpot)


def test_more_microbatches_shorten_tpot_of_a_pipeline():
    one = evaluate(scenario("llama-3.1-70b", "h100", tp=2, pp=4, microbatches=1), Workload(64, 1000, 100))
    four = evaluate(scenario("llama-3.1-70b", "h100", tp=2, pp=4), Workload(64, 1000, 100))
    assert float(four.tpot) < float(one.tpot)


def test_expert_dispatch_sends_each_tokens_share_once_and_combines_in_bf16():
    sc = scenario("deepseek-v3", system="hgx-h100-16node-ib", tp=8, dp=4, ep=32, devices=32, weight_precision="fp8")
    batch, prompt = 16, 1000
    ops = prepare(sc, Workload(batch, prompt, 10)).prefill_ops
    dispatch = [op for op in ops if op.name == "moe_dispatch"]
    combine = [op for op in ops if op.name == "moe_combine"]
    moe_layers = 58
    assert sum(op.count for op in dispatch) == moe_layers
    tokens_per_rank = batch * prompt / 8
    assert float(dispatch[0].message_bytes) == tokens_per_rank * 7168 * 1  # one copy, hidden 7168, fp8
    assert float(combine[0].message_bytes) == tokens_per_rank * 7168 * 2  # back in bf16
    assert dispatch[0].extra["options"] == {"routing": (256, 8)}
    assert not any(op.name == "moe_all_reduce" and op.group == "ep" for op in ops)


def test_context_parallel_splits_prompt_work_and_cache():
    base = scenario("llama-3.1-8b", system="dgx-h100", tp=1, devices=1)
    split = scenario("llama-3.1-8b", system="dgx-h100", tp=1, cp=4, devices=4)
    work = Workload(1, 32768, 16)
    a, b = evaluate(base, work), evaluate(split, work)
    assert float(b.ttft) < float(a.ttft) / 2
    assert float(b.memory.kv_cache) == pytest.approx(float(a.memory.kv_cache) / 4)
    ring = [op for op in prepare(split, work).prefill_ops if op.name == "ring_attention_kv"]
    assert float(ring[0].message_bytes) == 32768 * 2 * 8 * 128 * 2  # K and V of the prompt, bf16


def _memory(model, **plan):
    sc = scenario(model, "h100", **plan)
    return float(evaluate(sc, Workload(32, 2048, 512)).memory.total)


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["llama-3.1-70b", "mixtral-8x7b", "deepseek-v2-lite"]),
       st.sampled_from(["tp", "pp", "ep", "dp", "cp"]), st.sampled_from([1, 2]), st.sampled_from([1, 2]))
def test_per_device_memory_never_grows_when_a_degree_grows(model, degree, tp, pp):
    plan = {"tp": tp, "pp": pp}
    m = load_model(model)
    if degree == "ep" and not m.is_moe:
        return
    bigger = {**plan, degree: plan.get(degree, 1) * 2}
    try:
        grown = _memory(model, **bigger)
    except ConfigError:  # that degree cannot grow from this plan (ep must fit inside tp)
        assume(False)
    assert grown <= _memory(model, **plan) * (1 + 1e-12)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from([(8, 1, 1, 4, 32), (4, 2, 1, 4, 1), (2, 1, 2, 8, 1), (8, 1, 1, 4, 1)]),
       st.floats(1.0, 10.0), st.floats(0.0, 1.0), st.integers(0, 1))
def test_more_link_bandwidth_or_less_latency_never_slower(degrees, factor, shrink, which):
    tp, pp, cp, dp, ep = degrees
    model = "deepseek-v2-lite" if ep > 1 else "llama-3.1-70b"
    sc = scenario(model, system="hgx-h100-16node-ib", tp=tp, pp=pp, cp=cp, dp=dp, ep=ep, devices=tp * pp * cp * dp)
    faster_net = tuple(
        NetworkDim(d.name, d.size, d.bandwidth * (factor if i == which else 1.0),
                   d.latency * (shrink if i == which else 1.0), d.topology)
        for i, d in enumerate(sc.system.network))
    faster = replace(sc, system=System(sc.system.name, sc.system.accelerator, faster_net))
    work = Workload(8, 1500, 64)
    a, b = evaluate(sc, work), evaluate(faster, work)
    assert float(b.ttft) <= float(a.ttft) * (1 + 1e-12) and float(b.tpot) <= float(a.tpot) * (1 + 1e-12)


def test_data_parallel_replicas_scale_throughput_not_latency():
    one = evaluate(scenario("llama-3.1-8b", "h100"), Workload(8, 512, 64))
    four = evaluate(scenario("llama-3.1-8b", "h100", dp=4), Workload(8, 512, 64))
    assert float(four.throughput) == pytest.approx(4 * float(one.throughput))
    assert float(four.tpot) == pytest.approx(float(one.tpot))


def test_plans_command_ranks_and_marks_plans_that_do_not_fit():
    result = CliRunner().invoke(main, ["plans", "-m", "llama-3.1-70b", "-s", "dgx-h100", "--batch", "64", "--input",
                                       "4096", "--output", "512", "--json"])
    assert result.exit_code == 0, result.output
    import json

    rows = json.loads(result.output)
    fitting = [r for r in rows if r["fits"]]
    assert fitting and any(not r["fits"] and "needs" in r["why"] for r in rows)
    per_device = [r["throughput_per_device"] for r in fitting]
    assert per_device == sorted(per_device, reverse=True)
    assert all(r["tp"] * r["pp"] * r["dp"] * r["cp"] == 8 for r in rows)
    table = CliRunner().invoke(main, ["plans", "-m", "mixtral-8x7b", "-s", "dgx-h100", "--objective", "tpot"])
    assert table.exit_code == 0 and "valid plans" in table.output


@pytest.mark.parametrize("plan, heads, kv, q_per_device, kv_per_device", [
    (Plan(tp=8, head_ranks=4), 56, 8, 8, 4),    # 32 ranks: 56 -> 64 query heads, KV replicated to one per rank
    (Plan(tp=12, head_ranks=2), 64, 8, 6, 2),   # 24 ranks: 64 -> 72, KV 8 -> 24
    (Plan(tp=6, head_ranks=2), 64, 8, 12, 12),  # 12 ranks, which 8 KV heads do not divide: one per query head
    (Plan(tp=1, head_ranks=4), 32, 8, 32, 8),   # 4 ranks: nothing padded, two KV heads a rank
    (Plan(tp=16, head_ranks=4), 40, 40, 4, 4),  # multi-head attention: KV heads padded as the query heads
    (Plan(tp=4), 32, 8, 8, 2),                  # no padding: the plain split
    (Plan(tp=16), 32, 8, 2, 1),                 # no padding: KV replicated to one per device
])
def test_heads_per_device_follow_neuronx_distributed_gqa_sharding(plan, heads, kv, q_per_device, kv_per_device):
    """get_shardable_head_counts in optimum-neuron's gqa.py, its docstring's 32-rank example first."""
    assert plan.heads_per_device(heads) == q_per_device
    assert plan.kv_heads_per_device(kv, heads) == kv_per_device


def test_an_engine_that_pads_heads_runs_a_tp_that_does_not_divide_them():
    scout = "meta-llama/Llama-4-Scout-17B-16E-Instruct"  # 40 query heads, 8 KV heads
    with pytest.raises(ConfigError, match="tp = 16: must divide the attention heads \\(40\\)"):
        scenario(scout, "trainium2", tp=16)
    sc = scenario(scout, "trainium2", tp=16, engine="neuron")
    assert sc.plan.head_ranks == 4  # a Trainium2 chip runs 4 NeuronCores as ranks
    attention = next(layer.mixer for layer in sc.model.layer_kinds() if layer.mixer is not None)
    assert attention.shard(sc.plan).num_heads == 4 and attention.shard(sc.plan).num_kv_heads == 4
