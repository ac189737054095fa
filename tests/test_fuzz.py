"""Bad input, generated: every value, flag, cell, config field and document a user can hand over
ends in an answer with finite numbers or in the project's error, never a traceback or a hang.

Laws checked (docs/reliability.md lists them with the bounds):
- API: `estimate(...)` returns finite metrics or raises LlmsizerError;
- CLI: exit 0 with valid JSON of finite numbers, or exit 2 with one error line and no traceback;
- uploads and data files: a model, an accelerator, a mapping, or ConfigError, within the bounds;
- tables: a bad cell fails its own row; the good rows beside it keep the numbers they get alone.
Each law runs a quick profile in `make test` and a long one marked slow; `-s` prints the tally.
"""

import json
import math
from collections import Counter, defaultdict
from dataclasses import fields

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import FIXTURES, ROOT
from llmsizer.cli import main
from llmsizer.cost.profile import Profile
from llmsizer.datafile import MAX_NODES, parse_yaml
from llmsizer.errors import ConfigError, LlmsizerError
from llmsizer.hardware.spec import Accelerator
from llmsizer.inference.estimate import estimate
from llmsizer.inference.options import WORKLOAD_OPTIONS, Deployment, Serving
from llmsizer.inference.predict import predict
from llmsizer.models.spec import Model
from llmsizer.web.uploads import accelerator_from_upload, model_from_upload

PROFILES = [pytest.param(12, id="quick"), pytest.param(300, id="long", marks=pytest.mark.slow)]
TALLY: dict[str, Counter] = defaultdict(Counter)
MODEL, HARDWARE = "llama-3.2-1b", "h100"
H100_YAML = ROOT / "src" / "llmsizer" / "data" / "hardware" / "accelerators" / "h100-sxm5-80gb.yaml"
CONFIG = json.loads((FIXTURES / "hf_configs" / "llama.json").read_text())


def run_examples(examples: int, strategy, check) -> None:
    """Run `check` on `examples` values drawn from `strategy`."""
    settings(max_examples=examples, deadline=None, derandomize=False, database=None,
             suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])(given(strategy)(check))()


def tally(category: str, call):
    """Call and count: an answer, a clean error (LlmsizerError, returned) or a traceback (raised)."""
    try:
        result = call()
    except LlmsizerError as exc:
        TALLY[category]["clean error"] += 1
        return exc
    except Exception:
        TALLY[category]["traceback"] += 1
        raise
    TALLY[category]["answer"] += 1
    return result


@pytest.fixture(scope="module", autouse=True)
def print_tally():
    yield
    for category, counts in sorted(TALLY.items()):
        print(f"\nfuzz {category}: {sum(counts.values())} inputs, " + ", ".join(f"{v} {k}" for k, v in counts.items()))


# --- values ----------------------------------------------------------------------------------

BAD_NUMBERS = [0, -1, 0.5, 2.5, 1e300, -0.0, float("nan"), float("inf"), -float("inf"), 2**40, "abc", "", "1,000",
               None, True, np.int64(2), np.float64(4.0), np.float32(0.5), [2], {}]
numbers = st.one_of(st.sampled_from(BAD_NUMBERS), st.integers(1, 16), st.integers(1, 16), st.integers(-10, 2**33),
                    st.floats(allow_nan=True, allow_infinity=True))
#: the same values as a YAML or JSON file can hold them (no numpy scalars)
plain_numbers = numbers.filter(lambda v: not isinstance(v, np.generic))
NUMERIC = {f.name: f for f in (*fields(Deployment), *fields(Serving)) if f.metadata.get("kind") in (int, float, bool)}
NUMERIC.update(WORKLOAD_OPTIONS)
options = st.dictionaries(st.sampled_from(sorted(NUMERIC)), numbers, min_size=1, max_size=3)


def finite_metrics(est) -> None:
    for value in (est.ttft, est.tpot, est.e2e, est.throughput, est.memory.total):
        assert np.all(np.isfinite(value)), value


@pytest.mark.parametrize("examples", PROFILES)
def test_api_answers_finite_numbers_or_the_projects_error(examples):
    def check(chosen):
        result = tally("API option values", lambda: estimate(MODEL, HARDWARE, **chosen))
        if not isinstance(result, LlmsizerError):
            finite_metrics(result)

    run_examples(examples, options, check)


def test_numpy_numbers_are_accepted_and_equal_python_ones():
    ours = estimate(MODEL, HARDWARE, tp=np.int64(2), batch=np.int32(4), input=np.float64(512.0), moe_imbalance=np.float32(1))
    plain = estimate(MODEL, HARDWARE, tp=2, batch=4, input=512)
    assert float(ours.ttft) == float(plain.ttft) and float(ours.tpot) == float(plain.tpot)


@pytest.mark.parametrize("chosen, message", [
    ({"tp": 2.5}, "tp = 2.5: must be a whole number from 1"),
    ({"devices": 2.9}, "devices = 2.9: must be a whole number"),
    ({"input": float("inf")}, "input = inf: must be a whole number"),
    ({"moe_imbalance": float("inf")}, "moe_imbalance = inf: must be a finite number"),
    ({"cp": 8, "devices": 8, "input": 4}, "cp = 8: must not exceed the prompt tokens"),
    ({"pp": 2, "microbatches": 8, "batch": 2}, "microbatches = 8: must not exceed the batch"),
    ({"acceptance": 0.7}, "acceptance = 0.7: only applies with speculative decoding"),
    ({"background": 4}, "background = 4: only applies with chunked prefill"),
    ({"draft": "qwen2.5-7b", "draft_tokens": 4, "acceptance": 0.7}, "must share the target's vocabulary"),
    ({"attention_dp": "yes"}, "attention_dp = 'yes': must be true or false"),
])
def test_each_refusal_names_the_field_the_value_and_the_rule(chosen, message):
    with pytest.raises(LlmsizerError, match=message.replace("(", r"\(").replace(".", r"\.")):
        estimate(MODEL, HARDWARE, **chosen)


@pytest.mark.parametrize("values, message", [
    ({"matmul_efficiency": 5e-324}, "matmul_efficiency = 5e-324: must be in [0.001, 1]"),
    ({"step_overhead_s": 1e300}, "step_overhead_s = 1e+300: must be in [0, 60] seconds"),
    ({"moe_kernel": "blocked"}, "moe_kernel = 'blocked': must be one of grouped, nxd"),
])
def test_a_profile_keeps_its_values_within_physical_bounds(values, message):
    """A subnormal efficiency or an astronomically long overhead would turn times infinite or NaN."""
    with pytest.raises(LlmsizerError, match=message.replace("[", r"\[").replace(".", r"\.").replace("+", r"\+")):
        Profile().with_values(values, "profile")


# --- the command line ------------------------------------------------------------------------

FLAGS = ["--tp", "--pp", "--ep", "--dp", "--cp", "--devices", "--microbatches", "--batch", "--input", "--output",
         "--samples", "--cached-prefix", "--chunk", "--background", "--moe-imbalance", "--draft-tokens",
         "--acceptance", "--draft-tp", "--draft-layers", "--prefill-devices", "--prefill-tp", "--price", "--order",
         "--weight-precision", "--kv-precision", "--offload", "--engine", "--model", "--hardware", "--redundant-experts"]
flag_text = st.one_of(st.integers(1, 8).map(str), st.integers(-5, 2**33).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                      st.sampled_from(["nan", "inf", "-inf", "1e300", "0.5", "", "abc", "1,000", "0x10", "tp,pp",
                                       "fp8", "h1000", "/no/such/file.yaml", "."]),
                      st.text(max_size=6))
flag_sets = st.lists(st.tuples(st.sampled_from(FLAGS), flag_text), min_size=1, max_size=3)


def assert_clean(result, category: str) -> None:
    """Exit 0 with finite JSON, or exit 2 with one error line (a usage error keeps its usage line)."""
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        TALLY[category]["answer"] += 1
        data = json.loads(result.output, parse_constant=lambda name: pytest.fail(f"{name} in the JSON"))
        for key in ("ttft_ms", "tpot_ms", "throughput_tokens_per_s", "total_gb"):
            if key in data:
                assert math.isfinite(data[key])
        return
    TALLY[category]["clean error"] += 1
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.lower().startswith("error")]
    assert len(errors) == 1, result.output
    if errors[0].startswith("error:"):  # the project's error: the whole output is that line
        assert result.output.strip() == errors[0]


@pytest.mark.parametrize("command", ["estimate", "memory"])
@pytest.mark.parametrize("examples", PROFILES)
def test_cli_flags_end_in_json_or_one_line(command, examples):
    def check(chosen):
        args = [command, "-m", MODEL, "-H", HARDWARE, "--json"]
        for flag, text in chosen:
            args += [flag, text]
        assert_clean(CliRunner().invoke(main, args), f"CLI {command} flags")

    run_examples(examples, flag_sets, check)


@pytest.mark.parametrize("args", [
    ["estimate", "-m", MODEL, "-H", HARDWARE, "--plot", "/no/such/folder/plot.png"],
    ["estimate", "-m", MODEL, "-H", HARDWARE, "--plot", "plot.pdf"],
    ["estimate", "-m", MODEL, "-H", HARDWARE, "--price", "nan"],
    ["estimate", "-m", MODEL, "-H", HARDWARE, "--moe-imbalance", "inf"],
    ["predict", str(H100_YAML), "-o", "/no/such/folder/out.csv"],
    ["sweep", str(H100_YAML), "-o", "/no/such/folder/out.parquet"],
    ["search", "-m", MODEL, "-H", HARDWARE, "-u", "chat", "--max-devices", str(2**40)],
    ["estimate", "-m", str(FIXTURES), "-H", HARDWARE],
    ["estimate", "-m", MODEL, "-H", str(FIXTURES / "hf_configs" / "SOURCES.md")],
])
def test_bad_paths_and_values_are_refused_before_any_work(args):
    assert_clean(CliRunner().invoke(main, args), "CLI paths")


def test_a_sweep_above_the_bound_needs_force(tmp_path):
    spec = tmp_path / "big.yaml"
    spec.write_text(yaml.safe_dump({"model": MODEL, "hardware": HARDWARE, "batch": list(range(1, 1001)),
                                    "input": list(range(1, 3001))}))
    result = CliRunner().invoke(main, ["sweep", str(spec), "--quiet"])
    assert result.exit_code == 2 and "3,000,000 configurations" in result.output and "--force" in result.output


spec_values = st.one_of(plain_numbers, st.lists(plain_numbers, max_size=3), st.sampled_from(["x", "", [], {}, {"a": 1}]))


@pytest.mark.parametrize("examples", PROFILES)
def test_sweep_specs_end_in_rows_or_one_line(examples, tmp_path_factory):
    folder = tmp_path_factory.mktemp("specs")
    keys = ["batch", "input", "output", "devices", "chunk", "decode_points", "samples", "cached_prefix",
            "prefill_chunk", "background", "plan", "scale", "set", "weight_precision", "nonsense"]

    def check(changes):
        spec = {"model": MODEL, "hardware": HARDWARE, "batch": [1, 4], "input": [128], "output": [16], **changes}
        path = folder / "spec.yaml"
        path.write_text(yaml.safe_dump(spec, default_flow_style=True, allow_unicode=True))
        result = CliRunner().invoke(main, ["sweep", str(path), "--quiet"])
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        TALLY["CLI sweep specs"]["answer" if result.exit_code == 0 else "clean error"] += 1
        assert result.exit_code in (0, 2) and "Traceback" not in result.output

    run_examples(examples, st.dictionaries(st.sampled_from(keys), spec_values, max_size=2), check)


# --- uploads and documents -------------------------------------------------------------------

json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                                     st.floats(allow_nan=False), st.text(max_size=5)),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
                           max_leaves=6)


@pytest.mark.parametrize("examples", PROFILES)
def test_config_uploads_give_a_model_or_a_config_error(examples):
    def check(case):
        key, value, raw = case
        data = raw if raw is not None else json.dumps({**CONFIG, key: value}).encode()
        result = tally("upload config.json", lambda: model_from_upload(data))
        assert isinstance(result, (Model, ConfigError))

    keys = st.sampled_from(sorted(CONFIG) + ["num_hidden_layers", "num_attention_heads", "head_dim", "unknown_field"])
    raw = st.one_of(st.none(), st.none(), st.binary(max_size=64), st.sampled_from([b"", b"[]", b"{", "\ufeff{}".encode(),
                                                                                   "{}".encode("utf-16")]))
    run_examples(examples, st.tuples(keys, st.one_of(plain_numbers, json_values), raw), check)


H100 = yaml.safe_load(H100_YAML.read_text())


def leaves(data, prefix=()):
    for key, value in data.items():
        if isinstance(value, dict):
            yield from leaves(value, (*prefix, key))
        else:
            yield (*prefix, key)


def with_leaf(data, path, value):
    out = dict(data)
    if len(path) == 1:
        out[path[0]] = value
    else:
        out[path[0]] = with_leaf(data[path[0]], path[1:], value)
    return out


@pytest.mark.parametrize("examples", PROFILES)
def test_hardware_uploads_give_an_accelerator_or_a_config_error(examples):
    def check(case):
        path, value = case
        text = yaml.safe_dump(with_leaf(H100, path, value), allow_unicode=True)
        result = tally("upload hardware YAML", lambda: accelerator_from_upload(text))
        assert isinstance(result, (Accelerator, ConfigError))
        if isinstance(result, Accelerator):
            assert result.memory_capacity > 0 and result.memory_bandwidth > 0
            assert all(math.isfinite(v) and v > 0 for v in result.peak_flops.values())
            assert result.reserve is None or 0 <= result.reserve < result.memory_capacity

    run_examples(examples, st.tuples(st.sampled_from(list(leaves(H100))), st.one_of(plain_numbers, json_values)), check)


SYSTEM = yaml.safe_load((H100_YAML.parents[1] / "systems" / "arc-pro-b60-8.yaml").read_text())


@pytest.mark.parametrize("kind, base", [("-H", H100), ("-s", SYSTEM)])
@pytest.mark.parametrize("examples", PROFILES)
def test_hardware_and_system_files_end_in_json_or_one_line(kind, base, examples, tmp_path_factory):
    path = tmp_path_factory.mktemp("hardware") / "file.yaml"

    def check(case):
        where, value = case
        if where == ("network",):
            value = [value]  # one dimension of any shape
        path.write_text(yaml.safe_dump(with_leaf(base, where, value), allow_unicode=True))
        assert_clean(CliRunner().invoke(main, ["memory", "-m", MODEL, kind, str(path), "--json"]),
                     f"CLI {'hardware' if kind == '-H' else 'system'} files")

    run_examples(examples, st.tuples(st.sampled_from(list(leaves(base))), st.one_of(plain_numbers, json_values)), check)


PROFILE = yaml.safe_load((H100_YAML.parents[2] / "profiles" / "vllm.yaml").read_text())
PROFILE_KEYS = ["kernel_overhead_s", "step_overhead_s", "prefill_overhead_s", "matmul_efficiency",
                "memory_efficiency", "overlap", "tile_tokens", "fp8_experts", "no_such_parameter"]


@pytest.mark.parametrize("examples", PROFILES)
def test_profile_files_end_in_json_or_one_line(examples, tmp_path_factory):
    folder = tmp_path_factory.mktemp("profiles")

    def check(case):
        key, value = case
        path = folder / f"profile-{len(list(folder.iterdir()))}.yaml"  # a new name: profiles are cached by path
        path.write_text(yaml.safe_dump({**PROFILE, "parameters": {**PROFILE["parameters"], key: value}}))
        assert_clean(CliRunner().invoke(main, ["estimate", "-m", MODEL, "-H", HARDWARE, "--profile", str(path),
                                               "--json"]), "CLI profile files")

    run_examples(examples, st.tuples(st.sampled_from(PROFILE_KEYS), st.one_of(plain_numbers, json_values)), check)


def alias_bomb(depth: int, width: int, field: str) -> str:
    """Anchors that each repeat the one before `width` times: width ** depth values once expanded."""
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for level in range(1, depth):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
    lines.append(f"{field}: *a{depth - 1}")
    return "\n".join(lines)


@pytest.mark.parametrize("examples", PROFILES)
def test_documents_stay_within_their_bounds(examples):
    def check(case):
        depth, width, field, recursive = case
        text = "name: &n [*n]" if recursive else alias_bomb(depth, width, field)
        result = tally("YAML documents", lambda: parse_yaml(text, "doc"))
        sizes = [1 + width]  # values under each anchor once expanded, itself included
        for _ in range(1, depth):
            sizes.append(1 + width * sizes[-1])
        expanded = 1 + (depth + 1) + sum(sizes) + sizes[-1]  # the mapping, its keys, the anchors, the field
        assert isinstance(result, ConfigError) == (recursive or expanded > MAX_NODES)

    run_examples(examples, st.tuples(st.integers(1, 12), st.integers(1, 12), st.sampled_from(["name", "sources"]),
                                     st.booleans()), check)


def test_a_small_file_that_expands_without_bound_is_refused_as_an_upload():
    with pytest.raises(ConfigError, match="once its aliases are expanded"):
        accelerator_from_upload(alias_bomb(9, 9, "notes"))


# --- tables ----------------------------------------------------------------------------------

GOOD = dict(model=MODEL, hardware=HARDWARE, num_devices=1, tp=1, pp=1, ep=1, weight_precision="bf16",
            kv_precision="bf16", batch_size=4, input_len=256, output_len=32, framework="vLLM")
cells = st.one_of(numbers.filter(lambda v: not isinstance(v, (list, dict))), st.text(max_size=6))


@pytest.mark.parametrize("examples", PROFILES)
def test_a_bad_cell_fails_only_its_own_row(examples):
    alone = predict(pd.DataFrame([GOOD]))

    def check(case):
        column, value = case
        frame = pd.DataFrame([GOOD, {**GOOD, column: value}, GOOD])
        out = tally("predict tables", lambda: predict(frame))
        assert not isinstance(out, LlmsizerError)
        for row in (0, 2):
            assert out.loc[row, "pred_error"] == ""
            assert out.loc[row, "pred_ttft_ms"] == alone.loc[0, "pred_ttft_ms"]
        bad = out.loc[1]
        assert bad["pred_error"] != "" or np.isfinite(float(bad["pred_ttft_ms"]))
        TALLY["predict rows with a bad cell"]["refused in pred_error" if bad["pred_error"] else "answered"] += 1

    run_examples(examples, st.tuples(st.sampled_from([c for c in GOOD if c != "framework"]), cells), check)


def test_the_reliability_doc_states_every_bound():
    from llmsizer import datafile
    from llmsizer.inference import fields as bounds
    from llmsizer.models.zoo import MAX_LAYERS
    from llmsizer.search.sweep import MAX_COMBINATIONS, MAX_SWEEP_POINTS

    text = (ROOT / "docs" / "reliability.md").read_text()
    for name, value in [("LARGEST_WHOLE", bounds.LARGEST_WHOLE), ("MAX_DEVICES", bounds.MAX_DEVICES),
                        ("MAX_SAMPLES", bounds.MAX_SAMPLES), ("MAX_DRAFT_TOKENS", bounds.MAX_DRAFT_TOKENS),
                        ("MAX_RATIO", int(bounds.MAX_RATIO)), ("MAX_SEARCH_DEVICES", bounds.MAX_SEARCH_DEVICES),
                        ("MAX_NODES", datafile.MAX_NODES), ("MAX_DEPTH", datafile.MAX_DEPTH),
                        ("MAX_LAYERS", MAX_LAYERS), ("MAX_SWEEP_POINTS", MAX_SWEEP_POINTS),
                        ("MAX_COMBINATIONS", MAX_COMBINATIONS)]:
        assert f"{value:,} (`{name}`" in text or f"{value:,} (`{name}` =" in text, name
    assert f"{datafile.MAX_DOCUMENT_BYTES // 2**20} MiB (`MAX_DOCUMENT_BYTES`)" in text
