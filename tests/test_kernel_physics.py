"""Kernel-shape physics: small-M tiles, wave quantisation, attention by head size, fair chip
comparison, engines as versioned profiles and their public ordering."""

import numpy as np
import pytest

from llmsizer.cost.levels import family_of, fitted_levels, nearest_family
from llmsizer.cost.profile import engine_from_text, load_profile
from llmsizer.cost.fill import array_fill, attention_fill, matmul_fill
from llmsizer.cost.roofline import op_cost, precision_class
from llmsizer.hardware.zoo import list_accelerators
from llmsizer.inference.estimate import estimate
from llmsizer.ops.base import Op

GPUS_AND_ASICS = [a for a in list_accelerators() if a.memory_capacity >= 16e9]


def _ridge(acc) -> float:
    return acc.peak("bf16") / acc.memory_bandwidth


def test_matmul_fill_closed_forms():
    # one token of a 4096 x 4096 product on 132 units: an 8-row tile; 32 column tiles split 8 ways fill the chip
    assert matmul_fill(1.0, 4096.0, 8, 132, 4096.0) == pytest.approx(1 / 8)
    # a shard of 512 columns over K = 1024 at 8 tokens: 4 tiles x 2 splits keep 8 of 132 units busy;
    # twice the tokens, twice the tiles
    assert matmul_fill(8.0, 512.0, 8, 132, 1024.0) == pytest.approx(4 * 2 / 132)
    assert matmul_fill(16.0, 512.0, 8, 132, 1024.0) == pytest.approx(2 * 4 * 2 / 132)
    # enough tiles to fill the chip waste nothing, however many waves they take
    assert matmul_fill(128.0 * 133, 128.0, 8, 132, 4096.0) == pytest.approx(1.0)
    # without a unit count only the first tile's padding is charged
    assert matmul_fill(4.0, 4096.0, 8, None) == pytest.approx(0.5)
    assert matmul_fill(512.0, 4096.0, 8, None) == pytest.approx(1.0)


def test_product_time_never_falls_and_its_throughput_never_drops_as_tokens_grow():
    """Compute time ~ tokens / fill, throughput ~ fill: neither moves the wrong way with more tokens."""
    tokens = np.arange(1.0, 3000.0)
    for columns, units in ((1024.0, 132), (4096.0, 132), (512.0, 304), (14336.0, 78)):
        fill = matmul_fill(tokens, columns, 8, units, 4096.0)
        time = tokens / fill
        assert np.all(np.diff(time) >= -1e-9 * time[1:]) and np.all(np.diff(fill) >= -1e-12), (columns, units)


def test_attention_rate_by_head_size_and_phase():
    prefill = lambda hd: attention_fill(Op("a", "attention", "attention", 1, tokens=4096.0, head_dim=hd))  # noqa: E731
    assert prefill(128.0) == pytest.approx(1.0)
    assert prefill(64.0) < prefill(96.0) < prefill(128.0) < prefill(256.0)
    decode = attention_fill(Op("a", "attention", "attention", 1, tokens=8.0, head_dim=128.0))
    assert decode == pytest.approx(0.5)  # 8 query heads per KV head padded to 16 rows


def test_array_fill_closed_forms():
    assert array_fill((4096, 14336), 128) == 1.0 and array_fill((24, 4096), None) == 1.0
    assert array_fill((4096, 24), 128) == pytest.approx(24 / 128)  # an expert 1,536 wide over 64 cores
    assert array_fill((192, 2048), 128) == pytest.approx(192 / 256)  # a second tile half used
    assert array_fill((128,), 256) == pytest.approx(0.5)  # a head of 128 on a 256-deep MXU


def test_a_systolic_array_pays_for_the_share_of_its_tile_a_weight_shard_leaves_idle():
    """The same product on Trainium2 with and without its stated tile: compute time scales by the
    inverse fill, on a compute-bound product and on attention alike."""
    from dataclasses import replace

    from llmsizer.cost.profile import Profile
    from llmsizer.hardware.spec import System
    from llmsizer.hardware.zoo import load_accelerator

    trn2 = load_accelerator("trainium2")
    assert trn2.matrix_tile == 128 and load_accelerator("tpu-v6e").matrix_tile == 256
    assert load_accelerator("h100").matrix_tile is None
    one_core = replace(trn2, tensor_parallel_cores=None)
    tiled, free = System.single_node(one_core, 1), System.single_node(replace(one_core, matrix_tile=None), 1)
    profile = Profile()
    narrow = Op("down", "moe", "expert_matmul", 1, flops=2.0 * 4096 * 24 * 4096, tokens=4096.0, weight_shape=(24, 4096))
    assert op_cost(narrow, tiled, profile, {}).compute == pytest.approx(op_cost(narrow, free, profile, {}).compute * 128 / 24)
    attention = Op("a", "attention", "attention", 1, flops=1e12, tokens=4096.0, head_dim=64.0)
    assert op_cost(attention, tiled, profile, {}).compute == pytest.approx(op_cost(attention, free, profile, {}).compute * 2)


def test_each_tensor_parallel_core_fills_the_tile_with_its_share_of_the_chip_shard():
    """Trainium2 runs 4 logical NeuronCores as tensor-parallel ranks: Qwen3-235B's expert of 1,536
    over 16 chips leaves each chip 96 columns and each core 24; the row-parallel down product is
    split along its depth; a wide shard is untouched."""
    from dataclasses import replace

    from llmsizer.cost.fill import weight_fill
    from llmsizer.hardware.zoo import load_accelerator

    trn2 = load_accelerator("trainium2")
    assert trn2.tensor_parallel_cores == 4 and load_accelerator("inferentia2").tensor_parallel_cores == 2
    up = Op("up", "moe", "expert_matmul", 1, weight_shape=(4096, 96))
    down = Op("down", "moe", "expert_matmul", 1, weight_shape=(96, 4096))
    assert weight_fill(up, trn2) == pytest.approx(24 / 128) and weight_fill(down, trn2) == pytest.approx(24 / 128)
    assert weight_fill(up, replace(trn2, tensor_parallel_cores=None)) == pytest.approx(96 / 128)
    assert weight_fill(Op("ffn", "ffn", "matmul", 1, weight_shape=(4096, 14336)), trn2) == pytest.approx(1.0)
    assert weight_fill(up, load_accelerator("h100")) == 1.0
    per_head = Op("q_absorb", "attention", "matmul", 1, weight_shape=(128, 512), weight_split=False)
    assert weight_fill(per_head, trn2) == pytest.approx(1.0)  # heads are dealt out to the cores whole


def test_precision_classes():
    assert precision_class(Op("m", "b", "matmul", 1, precision="bf16")) == "16bit"
    assert precision_class(Op("m", "b", "matmul", 1, precision="fp8")) == "8bit"
    assert precision_class(Op("m", "b", "matmul", 1, precision="bf16", dequant_elements=1.0)) == "weight_only"
    assert precision_class(Op("m", "b", "matmul", 1, precision="fp4")) == "fp4"


@pytest.mark.parametrize("acc", [a for a in GPUS_AND_ASICS if _ridge(a) > 16], ids=lambda a: a.name)
def test_decode_of_a_16_bit_dense_model_at_batch_1_is_memory_bound(acc):
    """The roofline part of the step is memory: its products never turn compute-bound (on chips
    with fast memory the per-kernel gaps of a small model may outweigh both)."""
    est = estimate("llama-3.1-8b", acc.name, batch=1, input=1024, output=128)
    compute = sum(np.mean(c.compute) * c.op.count for c in est.decode.costs)
    memory = sum(np.mean(c.memory) * c.op.count for c in est.decode.costs)
    assert memory > compute and str(np.asarray(est.decode_bound).reshape(-1)[0]) in ("memory", "overhead")


def test_awq_decode_at_batch_1_is_memory_bound_on_h100():
    est = estimate("llama-3.1-8b", "h100", batch=1, input=1024, output=128, quant="awq-int4")
    compute = sum(np.mean(c.compute) * c.op.count for c in est.decode.costs)
    memory = sum(np.mean(c.memory) * c.op.count for c in est.decode.costs)
    assert memory > 2 * compute


def _prefill_seconds(name: str) -> float:
    est = estimate("llama-3.1-8b", name, batch=8, input=2048, output=1)
    return float(np.asarray(est.prefill.time).reshape(-1)[0])


def _use_of_peak(name: str) -> float:
    """(TTFT_H100 / TTFT_chip) / (peak_chip / peak_H100) for Llama-3.1-8B prefill, 8 x 2,048, bf16."""
    acc, ref = (next(a for a in list_accelerators() if a.name == n) for n in (name, "H100-SXM5-80GB"))
    return (_prefill_seconds(ref.name) / _prefill_seconds(acc.name)) / (acc.peak("bf16") / ref.peak("bf16"))


def _measured_of(family: str | None) -> list[str]:
    return [name for name in fitted_levels().hardware if family_of(name) == family]


@pytest.mark.parametrize("acc", [a for a in GPUS_AND_ASICS if a.name not in fitted_levels().hardware],
                         ids=lambda a: a.name)
def test_no_chip_without_rows_uses_its_peak_better_than_h100(acc):
    """An unmeasured chip uses its peak in compute-bound prefill at most 1.15x as well as H100 does,
    or as the best measured chip of its family (or of the family whose kernels it runs) where those
    were measured above H100 (A100 and Gaudi 2 are)."""
    family = family_of(acc.name)
    measured = _measured_of(family) or _measured_of(nearest_family(family))
    best = max([1.0] + [_use_of_peak(m) for m in measured])
    assert _use_of_peak(acc.name) <= 1.15 * best, (acc.name, best)


@pytest.mark.parametrize("acc", list_accelerators(), ids=lambda a: a.name)
def test_a_chip_without_rows_takes_its_family_level_or_the_shared_one(acc):
    """No unmeasured chip is assumed to use its peak better than the fitted level it belongs to."""
    levels = fitted_levels()
    if acc.name in levels.hardware:
        pytest.skip("measured")
    family = family_of(acc.name)
    level = levels.hardware_families.get(family) or levels.hardware_families.get(nearest_family(family)) or levels.shared
    profile = load_profile("trtllm/0.x", acc.name)
    for name in ("memory_efficiency", "matmul_efficiency", "matmul_efficiency_8bit", "attention_efficiency"):
        assert getattr(profile, name) == pytest.approx(level[name], rel=1e-3), name


@pytest.mark.parametrize("text, profile", [
    ("TensorRT-LLM 0.9.0 (gptSessionBenchmark)", "trtllm/0.x"), ("TensorRT-LLM 0.21.0rc2", "trtllm/0.17"),
    ("TensorRT-LLM 1.0.0", "trtllm/1.x"),
    ("NVIDIA FasterTransformer (2022)", "trtllm/0.x"), ("vLLM 0.8.3", "vllm/v1"), ("vLLM 0.5.2", "vllm/v0"),
    ("vllm", "vllm"), ("vLLM 0.9.2 (V0 engine forced with VLLM_USE_V1=0)", "vllm/v0"),
    ("vLLM 0.6.1 (V0 engine)", "vllm/v0"), ("vLLM 0.2.1 (V0 engine)", "vllm/v0-eager"),
    ("vLLM 0.6.1 (ROCm build from the v0.6.1 Dockerfile.rocm, V0 engine)", "vllm/v0-rocm-upstream"),
    ("vLLM 0.9.1 (built from Dockerfile.rocm)", "vllm/v1"), ("SGLang v0.4.1", "sglang/0.4"), ("lmdeploy v0.1.0a1 TurboMind", "lmdeploy/0.1"),
    ("TGI 2.0.4", "tgi/v2"), ("transformers 4.40", "hf"), ("Intel Gaudi software 1.18.0, Optimum-Habana", "optimum-habana"),
    ("something else", None)])
def test_framework_text_maps_to_engine_family_and_version(text, profile):
    assert engine_from_text(text) == profile


def test_a_version_like_another_starts_from_its_parameters():
    """vLLM's upstream ROCm build is documented as V0 is (its own fitted level sets it apart)."""
    from llmsizer.cost.profile import prior_values

    assert prior_values("vllm/v0-rocm-upstream") == prior_values("vllm/v0") != prior_values("vllm")


def test_families_cover_the_built_in_accelerators():
    assert family_of("H20-96GB") == "NVIDIA Hopper" and family_of("MI355X-288GB") == "AMD CDNA4"
    assert family_of("B200-180GB") == "NVIDIA Blackwell" and family_of("TPU-v6e") == "Google TPU"
    assert all(family_of(a.name) for a in list_accelerators())


def _decode(engine: str, batch: int) -> float:
    est = estimate("llama-3.1-8b", "h100", batch=batch, input=1024, output=256, engine=engine)
    return float(np.asarray(est.tpot).reshape(-1)[0])


@pytest.mark.parametrize("batch", [1, 64])
def test_engine_ordering_follows_public_head_to_head_benchmarks(batch):
    """TensorRT-LLM and SGLang decode faster than vLLM V1, V1 faster than V0, and vLLM V1, LMDeploy
    and TGI faster than eager transformers (the comparisons cited in the profile files); at a large
    batch LMDeploy too is ahead of vLLM V1."""
    tpot = {e: _decode(e, batch) for e in ("trtllm/1.x", "lmdeploy/0.x", "sglang/0.4", "vllm/v1", "vllm/v0", "tgi/v3",
                                           "hf")}
    assert max(tpot["trtllm/1.x"], tpot["sglang/0.4"]) < tpot["vllm/v1"] < tpot["vllm/v0"], tpot
    assert max(tpot["vllm/v1"], tpot["lmdeploy/0.x"], tpot["tgi/v3"]) < tpot["hf"], tpot
    if batch > 1:
        assert tpot["lmdeploy/0.x"] < tpot["vllm/v1"], tpot


def test_per_sequence_engine_work_grows_with_batch():
    profile = load_profile("vllm/v0", "H100-SXM5-80GB")
    step_1, step_128 = _decode("vllm/v0", 1), _decode("vllm/v0", 128)
    assert step_128 - step_1 > 127 * profile.on_host(profile.sequence_overhead_s) * 0.99


def test_each_worker_beyond_the_first_adds_its_host_work_to_every_step():
    """A driver sending each worker its inputs: tensor parallelism over 8 devices pays 7 workers'
    host work per decode step, over 1 device none (closed form against a profile without it)."""
    from dataclasses import replace

    base = load_profile("vllm/v0-eager", "H100-SXM5-80GB")
    assert base.worker_overhead_s >= 1e-3  # Ray remote calls per worker before vLLM PR 2221

    def tpot(profile, tp):
        est = estimate("llama-3.1-70b", "h100", devices=tp, tp=tp, batch=4, input=512, output=64, profile=profile)
        return float(np.asarray(est.tpot).reshape(-1)[0])

    none = replace(base, worker_overhead_s=0.0)
    assert tpot(base, 8) - tpot(none, 8) == pytest.approx(7 * base.on_host(base.worker_overhead_s), rel=1e-6)
    assert tpot(replace(base, worker_overhead_s=1e-3), 1) == pytest.approx(tpot(none, 1), rel=1e-9)


def test_a_prompt_step_runs_eagerly_and_pays_each_kernels_host_launch():
    """Engines capture graphs for decode only: the prefill pays each kernel's host launch beyond
    its device gap, a graph-replayed decode step does not (closed form over the step's kernels)."""
    from dataclasses import replace

    base = load_profile("sglang/0.4", "H100-SXM5-80GB")
    assert base.decode_graphs and base.on_host(base.host_launch_s) > base.kernel_overhead_s
    no_launch = replace(base, host_launch_s=base.kernel_overhead_s)
    run = dict(batch=1, input=256, output=16)
    eager, hidden = (estimate("llama-3.1-8b", "h100", profile=p, **run) for p in (base, no_launch))
    kernels = sum(c.op.count for c in eager.prefill.costs)
    launch = base.on_host(base.host_launch_s) - base.kernel_overhead_s
    assert float(eager.ttft - hidden.ttft) == pytest.approx(kernels * launch, rel=1e-9)
    assert float(eager.tpot) == pytest.approx(float(hidden.tpot), rel=1e-12)


def test_a_faster_host_shortens_the_engines_host_work_and_nothing_else():
    """host_speed divides the host's seconds (per step, sequence and worker, the prefill set-up,
    each kernel's launch) and leaves the device's (kernel gaps, the operators) alone: closed forms
    for an eager decode step and a prompt."""
    from dataclasses import replace

    base = replace(load_profile("vllm/v0-eager", "A100-SXM4-80GB"), host_speed=1.0)
    fast = replace(base, host_speed=2.0)
    run = dict(batch=4, input=256, output=16, tp=2, devices=2)
    slow_est, fast_est = (estimate("llama-3.1-8b", "a100", profile=p, **run) for p in (base, fast))
    kernels = sum(c.op.count for c in slow_est.decode.costs)
    host = base.step_overhead_s + 4 * base.sequence_overhead_s + base.worker_overhead_s
    launches = kernels * (max(base.host_launch_s - base.kernel_overhead_s, 0.0)
                          - max(base.host_launch_s / 2 - base.kernel_overhead_s, 0.0))
    assert float(slow_est.tpot - fast_est.tpot) == pytest.approx(host / 2 + launches, rel=1e-9)
    prompt_host = float(slow_est.prefill.step_overhead_s - fast_est.prefill.step_overhead_s)
    assert float(slow_est.ttft - fast_est.ttft) == pytest.approx(prompt_host + base.prefill_overhead_s / 2, rel=1e-9)
    device = [float(np.sum(c.total)) for c in slow_est.decode.costs]
    assert device == pytest.approx([float(np.sum(c.total)) for c in fast_est.decode.costs], rel=1e-12)


def test_eager_decode_pays_host_launches():
    graphs = load_profile("hf", "H100-SXM5-80GB")
    assert not graphs.decode_graphs
    est = estimate("llama-3.2-1b", "h100", batch=1, input=128, output=64, engine="hf")
    kernels = sum(c.op.count for c in est.decode.costs)
    assert float(np.asarray(est.tpot).reshape(-1)[0]) >= kernels * graphs.on_host(graphs.host_launch_s)


def _decode_launch_s(est, profile) -> float:
    """Host seconds one decode step of `est` spends launching its kernels one by one."""
    kernels = sum(c.op.count for c in est.decode.costs)
    return kernels * (profile.on_host(profile.host_launch_s) - profile.kernel_overhead_s)


def test_an_eager_deployment_decodes_eagerly_and_pays_each_kernels_host_launch():
    """`eager` (vLLM --enforce-eager) turns the captured decode graphs off: each decode step pays
    its kernels' host launches (closed form); the prompt step pays them either way."""
    profile = load_profile("sglang/0.4", "H100-SXM5-80GB")
    run = dict(batch=2, input=512, output=32, engine="sglang/0.4")
    graphs, eager = (estimate("llama-3.1-8b", "h100", eager=flag, **run) for flag in (False, True))
    assert float(eager.tpot - graphs.tpot) == pytest.approx(_decode_launch_s(graphs, profile), rel=1e-9)
    assert float(eager.ttft) == pytest.approx(float(graphs.ttft), rel=1e-12)


def test_vllm_v0_decodes_eagerly_beyond_its_captured_sequence_length():
    """vLLM V0 captured decode graphs for sequences up to max_seq_len_to_capture (8,192): a decode
    step with a longer sequence pays its host launches, a shorter one does not; V1 has no limit."""
    from dataclasses import replace

    v0 = load_profile("vllm/v0", "H100-SXM5-80GB")
    assert v0.graph_max_context == 8192 and load_profile("vllm/v1", "H100-SXM5-80GB").graph_max_context == 0
    unlimited = replace(v0, graph_max_context=0)

    def tpot(profile, input, output=4):
        return estimate("llama-3.1-8b", "h100", batch=1, input=input, output=output, profile=profile)

    short, long = tpot(v0, 4096), tpot(v0, 16384)
    assert float(short.tpot) == pytest.approx(float(tpot(unlimited, 4096).tpot), rel=1e-12)
    assert float(long.tpot - tpot(unlimited, 16384).tpot) == pytest.approx(_decode_launch_s(long, v0), rel=1e-9)
    # a batch whose decode crosses the limit pays the launches only at the contexts beyond it
    crossing, free = tpot(v0, 8000, 400), tpot(unlimited, 8000, 400)
    assert 0 < float(crossing.tpot - free.tpot) < _decode_launch_s(crossing, v0)
    assert crossing.to_dict()["decode_bound"] in ("memory", "overhead")


def test_a_table_and_the_measurement_set_read_the_eager_column():
    """An `eager` cell runs the row's deployment eagerly (as `estimate(eager=True)`); a cell that
    is not true or false, or a compiled shape that is not a whole number, fails its own row, in a
    predict table and in the measurement set alike."""
    import pandas as pd

    from llmsizer.calibration.measurements import prepare_rows
    from llmsizer.inference.predict import predict

    row = dict(model="llama-3.1-8b", hardware="H100-SXM5-80GB", num_devices=1, tp=1, pp=1, ep=1,
               weight_precision="bf16", kv_precision="bf16", batch_size=2, input_len=512, output_len=32,
               framework="SGLang 0.4")
    out = predict(pd.DataFrame([{**row, "eager": "true"}, {**row, "eager": ""}, {**row, "eager": "maybe"}]))
    for i, eager in enumerate((True, False)):
        est = estimate("llama-3.1-8b", "h100", batch=2, input=512, output=32, engine="sglang/0.4", eager=eager)
        assert out["pred_tpot_ms"][i] == pytest.approx(float(est.tpot) * 1e3, rel=1e-9)
    assert "eager = 'maybe': must be true or false" in out["pred_error"][2]
    measured = dict(row, id="x", metric="tpot_ms", value=10.0)
    rows = prepare_rows(pd.DataFrame([{**measured, "eager": "true"}, {**measured, "eager": "maybe"},
                                      {**measured, "compiled_batch": 2.5}]))
    assert [g.prepared.scenario.eager for g in rows.groups] == [True]
    assert list(rows.frame["error"]) == ["", "eager = 'maybe': must be true or false",
                                         "compiled_batch = 2.5: must be a whole number from 1 to 2147483648"]



def test_an_eager_step_keeps_a_single_precision_sweep_single():
    """A step's host launches are one plain number when the whole step runs eagerly (a step with a
    prompt): a float32 sweep stays float32 (a NumPy scalar would widen every array it meets); per
    decode context they are an array, zero where the graph is replayed."""
    from llmsizer.cost.roofline import host_work

    profile = load_profile("vllm", "H100-SXM5-80GB")
    ops = [Op("qkv", "attention", "matmul", 3, flops=1.0, tokens=1.0)]
    sequences = np.array([1.0, 4.0], dtype=np.float32)
    assert host_work(ops, profile, sequences, graphs=False).dtype == np.float32
    launch = 3 * (profile.on_host(profile.host_launch_s) - profile.kernel_overhead_s)
    base = profile.on_host(profile.step_overhead_s)
    assert host_work(ops, profile, graphs=np.array([True, False])) == pytest.approx([base, base + launch], rel=1e-12)
