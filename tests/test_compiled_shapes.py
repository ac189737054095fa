"""Compiled shapes: a decode step on graphs compiled for a batch, and steps padded to an engine's
buckets, cost what the compiled or padded shape costs; nothing else moves."""

from dataclasses import replace

import numpy as np
import pytest
from click.testing import CliRunner

import llmsizer
from llmsizer.cli import main
from llmsizer.cost.profile import Profile, load_profile, profile_names
from llmsizer.errors import ConfigError
from llmsizer.inference.estimate import serving_memory
from llmsizer.inference.options import split_options
from llmsizer.inference.shapes import padded
from llmsizer.inference.step import step_cost
from llmsizer.ops.base import decode_step

MODEL, HARDWARE = "llama-3.1-8b", "h100"
LENGTHS = {"input": 1500, "output": 237}


def no_host_per_sequence():
    """The H100 default profile without per-sequence host work, so that device work is all that differs."""
    return replace(load_profile("default", "H100-SXM5-80GB"), sequence_overhead_s=0.0)


def estimate(**options):
    return llmsizer.estimate(MODEL, HARDWARE, **{**LENGTHS, **options})


def test_batch_one_on_a_graph_compiled_for_32_decodes_at_the_cost_of_32():
    profile = no_host_per_sequence()
    one, full = estimate(batch=1, compiled_batch=32, profile=profile), estimate(batch=32, profile=profile)
    assert one.tpot == pytest.approx(full.tpot, rel=1e-12)
    assert (1 / one.tpot) / (32 / full.tpot) == pytest.approx(1 / 32, rel=1e-12)  # tokens per second of decode


def test_host_work_is_paid_for_real_sequences_only():
    one, full = estimate(batch=1, compiled_batch=32), estimate(batch=32)
    per_sequence = one.scenario.profile.on_host(one.scenario.profile.sequence_overhead_s)
    assert per_sequence > 0
    assert one.tpot == pytest.approx(full.tpot - 31 * per_sequence, rel=1e-12)


def test_compiled_batch_changes_decode_and_cache_but_not_prefill():
    plain, compiled = estimate(batch=4), estimate(batch=4, compiled_batch=32)
    assert compiled.ttft == plain.ttft
    assert compiled.memory.kv_cache == pytest.approx(8 * plain.memory.kv_cache, rel=1e-12)
    assert compiled.memory.activations == plain.memory.activations
    e2e = compiled.ttft + (LENGTHS["output"] - 1) * compiled.tpot
    assert compiled.throughput == pytest.approx(4 * LENGTHS["output"] / e2e, rel=1e-12)


def test_the_compiled_batch_itself_changes_nothing():
    compiled = estimate(batch=32, compiled_batch=32).to_dict()
    plain = estimate(batch=32).to_dict()
    assert compiled.pop("compiled_batch") == 32 and plain.pop("compiled_batch") is None
    assert compiled == plain


def test_arrays_of_batches_on_one_compiled_graph():
    profile = no_host_per_sequence()
    swept = estimate(batch=np.array([1, 8, 32]), compiled_batch=32, profile=profile)
    assert np.allclose(swept.tpot, estimate(batch=32, profile=profile).tpot, rtol=1e-12)


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_compiled_batch_must_be_a_whole_number_from_one(bad):
    with pytest.raises(ConfigError, match="compiled_batch"):
        estimate(batch=1, compiled_batch=bad)


def test_a_batch_above_the_compiled_one_is_refused():
    with pytest.raises(ConfigError, match="must not exceed compiled_batch = 32"):
        estimate(batch=33, compiled_batch=32)
    with pytest.raises(ConfigError, match="must not exceed compiled_batch = 8"):
        estimate(batch=np.array([4, 16]), compiled_batch=8)


def test_speculative_decoding_on_compiled_graphs_is_refused_not_ignored():
    with pytest.raises(ConfigError, match="speculative"):
        estimate(batch=1, compiled_batch=8, draft="heads", draft_tokens=2, acceptance=0.7)


def test_padding_takes_the_smallest_bucket_holding_the_value():
    buckets = (64, 128, 256)
    assert padded(np.array([1, 64, 65, 200, 256, 300]), buckets).tolist() == [64, 64, 128, 256, 256, 300]
    assert padded(7.0, ()) == 7.0


def test_a_bucketed_prefill_costs_the_padded_tokens():
    bucketed = replace(no_host_per_sequence(), token_buckets=(1024, 2048, 4096))
    for batch, prompt, padded_prompt in ((1, 1500, 2048), (2, 1500, 2048), (4, 900, 1024)):  # 3,600 -> 4,096
        short = llmsizer.estimate(MODEL, HARDWARE, batch=batch, input=prompt, output=2, profile=bucketed)
        plain = replace(bucketed, token_buckets=())
        padded_cost = llmsizer.estimate(MODEL, HARDWARE, batch=batch, input=padded_prompt, output=2, profile=plain)
        assert short.ttft == pytest.approx(padded_cost.ttft, rel=1e-12)


def test_a_bucketed_decode_batch_costs_the_next_bucket():
    bucketed = replace(no_host_per_sequence(), batch_buckets=(1, 2, 4, 8, 16))
    five = estimate(batch=5, profile=bucketed)
    eight = estimate(batch=8, profile=replace(bucketed, batch_buckets=()))
    assert five.tpot == pytest.approx(eight.tpot, rel=1e-12)
    assert estimate(batch=5, compiled_batch=16, profile=bucketed).tpot == pytest.approx(
        estimate(batch=16, profile=bucketed).tpot, rel=1e-12)  # one compiled graph overrides the buckets


def test_only_engines_documenting_buckets_have_them():
    with_buckets = {name for name in profile_names() if load_profile(name, "H100-SXM5-80GB").token_buckets}
    assert {name.split("/")[0] for name in with_buckets} == {"sglang-jax"}
    sglang_jax = load_profile("sglang-jax", "TPU-v6e")
    assert sglang_jax.token_buckets == tuple(2**i for i in range(6, 14))
    assert sglang_jax.batch_buckets == tuple(2**i for i in range(0, 9))


@pytest.mark.parametrize("bad", [(0, 8), (16, 8), (8, 8)])
def test_buckets_must_be_ascending_whole_numbers(bad):
    with pytest.raises(ConfigError, match="token_buckets"):
        Profile(token_buckets=bad)


def test_command_line_flag():
    runner = CliRunner()
    base = ["estimate", "-m", MODEL, "-H", HARDWARE, "--batch", "1", "--json"]
    plain = runner.invoke(main, base)
    compiled = runner.invoke(main, [*base, "--compiled-batch", "32"])
    assert plain.exit_code == 0 and compiled.exit_code == 0, compiled.output
    assert '"compiled_batch": 32' in compiled.output and '"compiled_batch": null' in plain.output
    refused = runner.invoke(main, ["estimate", "-m", MODEL, "-H", HARDWARE, "--batch", "64", "--compiled-batch", "32"])
    assert refused.exit_code != 0 and "compiled_batch = 32" in refused.output


def table_row(**cells):
    return {"model": MODEL, "hardware": HARDWARE, "num_devices": 1, "tp": 1, "pp": 1, "ep": 1,
            "weight_precision": "bf16", "kv_precision": "bf16", "batch_size": 1, "input_len": LENGTHS["input"],
            "output_len": LENGTHS["output"], **cells}


def test_a_table_column_states_the_compiled_batch():
    import pandas as pd

    from llmsizer.inference.predict import predict

    out = predict(pd.DataFrame([table_row(compiled_batch=32), table_row(compiled_batch=""), table_row(compiled_batch=0),
                                table_row(batch_size=64, compiled_batch=32)]))
    assert out["pred_tpot_ms"][0] == pytest.approx(estimate(batch=1, compiled_batch=32).tpot * 1e3, rel=1e-9)
    assert out["pred_tpot_ms"][1] == pytest.approx(estimate(batch=1).tpot * 1e3, rel=1e-9)
    assert "compiled_batch" in out["pred_error"][2] and "compiled_batch = 32" in out["pred_error"][3]


def test_a_table_column_states_the_compiled_sequence():
    import pandas as pd

    from llmsizer.inference.predict import predict

    out = predict(pd.DataFrame([table_row(compiled_sequence=4096), table_row(compiled_sequence=""),
                                table_row(compiled_sequence=1024)]))
    assert out["pred_ttft_ms"][0] == pytest.approx(estimate(batch=1, compiled_sequence=4096).ttft * 1e3, rel=1e-9)
    assert out["pred_ttft_ms"][1] == pytest.approx(estimate(batch=1).ttft * 1e3, rel=1e-9)
    assert out["pred_ttft_ms"][0] > 2 * out["pred_ttft_ms"][1]  # 4,096 tokens encoded for a prompt of 1,500
    assert "compiled_sequence = 1024" in out["pred_error"][2] and out["pred_error"][:2].eq("").all()


def test_measured_neuron_rows_run_on_their_compiled_shapes():
    from llmsizer.calibration.measurements import prepare_rows, read_measurements

    frame = read_measurements()
    rows = prepare_rows(frame[frame["id"].str.startswith("optneuron-trainium2-00")])
    compiled = {int(g.prepared.scenario.compiled_batch) for g in rows.groups}
    assert compiled == {2, 16, 32} and (rows.frame["error"] == "").all()
    assert {g.prepared.scenario.compiled_sequence for g in rows.groups} == {4096}


def test_the_simulator_refuses_half_a_compiled_shape_rather_than_ignoring_it():
    from llmsizer.serving.simulate import simulate

    with pytest.raises(ConfigError, match="both are stated"):
        simulate(MODEL, HARDWARE, compiled_batch=8, rate=1.0, requests=4)
    with pytest.raises(ConfigError, match="scheduler = 'vllm': must be compiled"):
        simulate(MODEL, HARDWARE, compiled_batch=8, compiled_sequence=4096, scheduler="vllm", rate=1.0, requests=4)
    with pytest.raises(ConfigError, match="must not exceed compiled_sequence = 1024"):
        simulate(MODEL, HARDWARE, compiled_batch=8, compiled_sequence=1024, rate=1.0, requests=4, **LENGTHS)


@pytest.mark.parametrize("model, hardware, batch", [("llama-3.1-8b", "trainium2", 32),
                                                    ("qwen/qwen3-30b-a3b", "trainium2", 16)])
def test_one_request_alone_on_compiled_graphs_equals_the_estimate(model, hardware, batch):
    from llmsizer.serving.simulate import simulate

    shapes = dict(engine="neuron", compiled_batch=batch, compiled_sequence=4096)
    est = llmsizer.estimate(model, hardware, batch=1, **shapes, **LENGTHS)
    s = simulate(model, hardware, concurrency=1, requests=3, **shapes, **LENGTHS).summary
    assert s["ttft_ms_mean"] == pytest.approx(float(est.ttft) * 1e3, rel=1e-9)
    assert s["itl_ms_mean"] == pytest.approx(float(est.tpot) * 1e3, rel=1e-9)


def test_compiled_graphs_run_one_prompt_a_step_and_at_most_the_compiled_batch():
    from llmsizer.serving.simulate import simulate

    run = simulate("llama-3.1-8b", "trainium2", engine="neuron", compiled_batch=8, compiled_sequence=4096,
                   concurrency=20, requests=60, **LENGTHS)
    assert run.limits.engine == "compiled" and run.limits.max_num_seqs == 8
    steps = run.steps_frame()
    prompts = steps[steps["prefill_tokens"] > 0]
    assert (steps["running"] <= 8).all() and steps["running"].max() == 8
    assert (prompts["prefill_tokens"] == LENGTHS["input"]).all() and (prompts["decode_seqs"] == 0).all()
    # every prompt step costs one padded prompt whatever the queue; every decode step the compiled batch's
    assert prompts["duration"].nunique() == 1
    decodes = steps[steps["decode_seqs"] == 8]
    full = llmsizer.estimate("llama-3.1-8b", "trainium2", batch=8, compiled_batch=8, compiled_sequence=4096,
                             engine="neuron", **LENGTHS)
    assert np.allclose(decodes["duration"], float(full.tpot), rtol=1e-9)


def test_a_compiled_sequence_prefills_each_prompt_at_its_length_one_after_another():
    profile = no_host_per_sequence()
    compiled = estimate(batch=3, compiled_sequence=4096, profile=profile)
    one = llmsizer.estimate(MODEL, HARDWARE, batch=1, input=4096, output=1, profile=profile)
    assert compiled.prefill_steps == 3
    assert compiled.ttft == pytest.approx(3 * one.prefill.time + profile.on_host(profile.prefill_overhead_s), rel=1e-12)


def test_a_compiled_sequence_decodes_over_the_whole_cache_and_allocates_it():
    profile = no_host_per_sequence()
    compiled = estimate(batch=2, compiled_sequence=4096, profile=profile)
    # every step reads the whole compiled cache: 4,095 cached tokens beside the new one
    last = step_cost(compiled.scenario, decode_step(2, 4095.0)).time
    assert np.allclose(compiled.decode.time, last, rtol=1e-12) and compiled.tpot == pytest.approx(last, rel=1e-12)
    per_token = estimate(batch=1).memory.kv_cache / (LENGTHS["input"] + LENGTHS["output"])
    assert compiled.memory.kv_cache == pytest.approx(2 * 4096 * per_token, rel=1e-12)


def test_compiled_batch_and_sequence_together_allocate_their_product():
    both = estimate(batch=1, compiled_batch=8, compiled_sequence=2048)
    per_token = estimate(batch=1).memory.kv_cache / (LENGTHS["input"] + LENGTHS["output"])
    assert both.memory.kv_cache == pytest.approx(8 * 2048 * per_token, rel=1e-12)


def test_a_sequence_longer_than_the_compiled_one_is_refused():
    with pytest.raises(ConfigError, match="must not exceed compiled_sequence = 1024"):
        estimate(batch=1, compiled_sequence=1024)
    with pytest.raises(ConfigError, match="compiled_sequence"):
        estimate(batch=1, compiled_sequence=0)
    deployment, workload, _ = split_options({"model": MODEL, "hardware": HARDWARE, "compiled_sequence": 1024, **LENGTHS})
    with pytest.raises(ConfigError, match="compiled_sequence = 1024"):
        serving_memory(deployment, workload)  # the memory account alone refuses it too


def test_padding_rows_copy_a_real_row_so_they_reach_its_experts_and_no_others():
    """Batch 1 on a graph compiled for 16: the experts' products run 16 rows (FLOPs of 16 tokens)
    over the experts one token reaches (top_k of them, their weights alone read)."""
    one = llmsizer.estimate("qwen3-30b-a3b", HARDWARE, batch=1, compiled_batch=16, **LENGTHS)
    full = llmsizer.estimate("qwen3-30b-a3b", HARDWARE, batch=16, **LENGTHS)
    (up,) = [c.op for c in one.decode.costs if c.op.name == "experts_up_gate"]
    (up_full,) = [c.op for c in full.decode.costs if c.op.name == "experts_up_gate"]
    top_k = next(iter(one.scenario.model.layer_kinds())).ffn.top_k
    assert float(np.asarray(up.extra["experts_touched"]).reshape(-1)[0]) == pytest.approx(top_k, rel=1e-9)
    assert float(np.asarray(up_full.extra["experts_touched"]).reshape(-1)[0]) > 4 * top_k
    assert float(np.asarray(up.flops).reshape(-1)[0]) == pytest.approx(float(np.asarray(up_full.flops).reshape(-1)[0]),
                                                                         rel=1e-12)
