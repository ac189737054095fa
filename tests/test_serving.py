"""Serving optimisations: speculative decoding, chunked prefill, samples, prefix caching,
quantisation presets, offload and disaggregation, each against what must hold."""

import numpy as np
import pytest
from click.testing import CliRunner

from llmsizer.cli import main
from llmsizer.inference.batch import evaluate, prepare
from llmsizer.inference.estimate import estimate
from llmsizer.inference.scenario import scenario
from llmsizer.inference.speculative import Speculation, break_even_acceptance, expected_tokens, speculate
from llmsizer.inference.workload import Workload

SC = scenario("llama-3.1-8b", "h100")
WORK = Workload(4, 1000, 200)


def test_expected_tokens_follow_the_geometric_formula():
    assert expected_tokens(4, 0.0) == 1.0 and expected_tokens(4, 1.0) == 5.0
    assert expected_tokens(3, 0.5) == pytest.approx((1 - 0.5**4) / (1 - 0.5))


@pytest.mark.parametrize("draft", [None, "llama-3.2-1b"])
def test_acceptance_zero_is_never_faster_than_plain_decoding(draft):
    draft_sc = scenario(draft, "h100") if draft else None
    result = speculate(evaluate(SC, WORK), Speculation(4, 0.0, draft_sc)).serving["speculative"]
    assert float(result.tpot) >= float(result.plain_tpot)


def test_full_acceptance_with_layerless_heads_pays_only_their_output_head():
    plain = evaluate(SC, Workload(1, 1000, 200))
    result = speculate(plain, Speculation(3, 1.0, None, draft_layers=0.0)).serving["speculative"]
    assert float(result.tokens_per_step) == 4.0
    head_bytes = 128256 * 4096 * 2  # Llama-3.1-8B's output head in bf16, read by each proposal
    bandwidth = SC.system.accelerator.memory_bandwidth
    assert float(result.draft_s) >= 3 * head_bytes / bandwidth
    assert float(result.draft_s) < 3 * head_bytes / (0.5 * bandwidth)
    assert 3.0 < float(result.speedup) < 4.0


def test_draft_proposals_pay_the_engine_step_overhead_once():
    draft_sc = scenario("llama-3.2-1b", "h100")
    plain = evaluate(SC, WORK)
    result = speculate(plain, Speculation(4, 0.7, draft_sc)).serving["speculative"]
    draft_step = evaluate(draft_sc, WORK).decode  # the draft's own decode step, engine overhead included
    kernels = float(plain.mean_over_contexts(draft_step.time)) - draft_step.step_overhead_s
    assert float(result.draft_s) == pytest.approx(4 * kernels, rel=1e-6)
    assert float(result.tpot * result.tokens_per_step) == pytest.approx(float(result.verify_s + result.draft_s))


def test_break_even_acceptance_matches_plain_decoding():
    draft = scenario("llama-3.2-1b", "h100")
    result = speculate(evaluate(SC, WORK), Speculation(4, 0.5, draft)).serving["speculative"]
    at_break_even = speculate(evaluate(SC, WORK), Speculation(4, float(result.break_even), draft)).serving["speculative"]
    assert float(at_break_even.tpot) == pytest.approx(float(result.plain_tpot), rel=1e-6)
    assert np.isnan(break_even_acceptance(2, 5.0)) and break_even_acceptance(2, 0.5) == 0.0


def test_speculation_needs_an_explicit_acceptance_rate():
    result = CliRunner().invoke(main, ["estimate", "-m", "llama-3.1-8b", "-H", "h100", "--draft", "heads",
                                       "--draft-tokens", "2"])
    assert result.exit_code == 2 and "needs an acceptance rate" in result.output


def test_chunk_at_least_the_prompts_equals_unchunked_prefill():
    plain = estimate("llama-3.1-8b", "h100", batch=4, input=1000, output=50)
    chunked = estimate("llama-3.1-8b", "h100", batch=4, input=1000, output=50, chunk=4000)
    assert float(chunked.ttft) == pytest.approx(float(plain.ttft), rel=1e-9)


def test_smaller_chunks_trade_ttft_for_background_tpot():
    def run(chunk):
        result = estimate("llama-3.1-8b", "h100", batch=8, input=4000, output=200, chunk=chunk, background=32)
        return float(result.ttft), float(result.serving["chunked_prefill"].background_tpot)

    (ttft_small, tpot_small), (ttft_big, tpot_big) = run(512), run(8192)
    assert ttft_small > ttft_big and tpot_small < tpot_big


def test_one_sample_equals_plain_decoding_and_samples_share_the_prompt():
    one = evaluate(SC, Workload(4, 1000, 200, samples=1))
    plain = evaluate(SC, Workload(4, 1000, 200))
    assert float(one.tpot) == float(plain.tpot)
    shared = evaluate(SC, Workload(4, 1000, 200, samples=4))
    separate = evaluate(SC, Workload(16, 1000, 200))
    assert float(shared.memory.kv_cache) < float(separate.memory.kv_cache)
    assert float(shared.tpot) < float(separate.tpot)  # the shared prompt's cache is read once per request
    per_token = 32 * 2 * 8 * 128 * 2
    assert float(shared.memory.kv_cache) == pytest.approx(4 * (1000 + 4 * 200) * per_token)


def test_full_prefix_hit_leaves_only_the_last_tokens_prefill():
    ops = prepare(SC, Workload(4, 1000, 200, cached_prefix=999)).prefill_ops
    qkv = next(op for op in ops if op.name == "qkv_proj")
    assert float(qkv.tokens) == 4  # one token per request
    hit, miss = evaluate(SC, Workload(4, 1000, 200, cached_prefix=999)), evaluate(SC, WORK)
    work = [float(sum(c.total for c in est.prefill.costs)) for est in (hit, miss)]  # the engine's fixed work aside
    assert work[0] < work[1] / 10 and float(hit.ttft) < float(miss.ttft)


def test_offloading_nothing_costs_nothing():
    fits = estimate("llama-3.1-8b", "h100", batch=4, input=1000, output=200)
    offload = estimate("llama-3.1-8b", "h100", batch=4, input=1000, output=200, offload="weights")
    assert float(offload.ttft) == float(fits.ttft) and float(offload.tpot) == float(fits.tpot)
    assert not any(op.kind == "offload" for op in prepare(scenario("llama-3.1-8b", "h100", offload="kv"), WORK).decode_ops)


def test_offloaded_weights_stream_over_the_host_link_as_their_own_bound():
    est = estimate("llama-3.1-70b", "h100", batch=1, input=100, output=10, offload="weights")
    streamed = float(est.memory.offloaded_weights)
    assert streamed > 0 and bool(est.fits)
    assert est.to_dict()["decode_bound"] == "offload"
    assert float(est.tpot) > streamed / 64e9  # PCIe Gen5 x16, 64 GB/s per direction


def test_disaggregated_ttft_grows_with_the_kv_sent_over_the_link():
    def transfer(kv):
        est = estimate("llama-3.1-70b", "h100", tp=4, batch=8, input=8000, output=100, weight_precision="fp8",
                       kv_precision=kv, prefill_devices=4, prefill_tp=4)
        return est.serving["disaggregated"]

    bf16, fp8 = transfer("bf16"), transfer("fp8")
    assert float(bf16.kv_bytes) == pytest.approx(8 * 8000 * 80 * 2 * 8 * 128 * 2)
    assert float(bf16.transfer) > float(fp8.transfer)
    est = estimate("llama-3.1-70b", "h100", tp=4, batch=8, input=8000, output=100, weight_precision="fp8",
                   kv_precision="bf16", prefill_devices=4, prefill_tp=4)
    assert float(est.ttft) == pytest.approx(float(bf16.prefill.ttft) + float(bf16.transfer))


def test_every_serving_option_is_in_estimate_help():
    text = CliRunner().invoke(main, ["estimate", "--help"]).output
    for option in ("--chunk", "--background", "--draft", "--draft-tokens", "--acceptance", "--samples",
                   "--quant", "--offload", "--cached-prefix", "--prefill-devices", "--prefill-tp"):
        assert option in text
