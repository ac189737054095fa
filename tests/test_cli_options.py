"""Flags generated from the option objects: one memory account for `memory` and `estimate`, the
fields' bounds enforced on the command line, and a cold `estimate` that leaves pandas unloaded."""

import json
import subprocess
import sys
from dataclasses import dataclass, fields

import click
import pytest
from click.testing import CliRunner

from llmsizer.cli import main
from llmsizer.cli.flags import click_option
from llmsizer.inference.options import WORKLOAD_OPTIONS, Deployment, Serving, option


def run(*args):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


@pytest.mark.parametrize("args", [
    ("-m", "llama-3.2-1b", "-H", "groq-lpu", "--tp", "8", "--pp", "8"),  # a stated reserve of 0
    ("-m", "llama-3.1-8b", "-H", "h200", "--batch", "16", "--input", "32768", "--chunk", "2048"),
    ("-m", "llama-3.1-70b", "-H", "h100", "--tp", "4", "--draft", "llama-3.2-1b", "--draft-tp", "4"),
    ("-m", "llama-3.1-8b", "-H", "h100", "--samples", "4", "--engine", "vllm", "--offload", "kv", "--batch", "512"),
])
def test_memory_and_estimate_report_the_same_account(args):
    timing = ("--draft-tokens", "4", "--acceptance", "0.7") if "--draft" in args else ()
    mem = run("memory", *args, "--json")
    est = run("estimate", *args, *timing, "--json")["memory_breakdown_gb"]
    assert mem["weights_gb"] == pytest.approx(est["weights"])
    assert mem["kv_cache_gb"] == pytest.approx(est["kv_cache"])
    assert mem["activations_gb"] == pytest.approx(est["activations"])
    assert mem["runtime_reserve_gb"] == pytest.approx(est["runtime_reserve"])


def test_memory_counts_the_chunk_the_engine_budget_and_the_draft():
    """A prefill step's activations are those of the stated chunk, else of the engine's default
    budget (8,192 tokens), else of every prompt (an engine that prefills whole prompts): the
    differences are in exact proportion to the tokens a step holds (16 x 32,768, 8,192, 2,048)."""
    base = ("-m", "llama-3.1-8b", "-H", "h200", "--batch", "16", "--input", "32768")
    whole = run("memory", *base, "--engine", "hf", "--json")
    budget, chunked = run("memory", *base, "--json"), run("memory", *base, "--chunk", "2048", "--json")
    steps = [r["activations_gb"] for r in (whole, budget, chunked)]
    assert (steps[0] - steps[1]) / (steps[1] - steps[2]) == pytest.approx((16 * 32768 - 8192) / (8192 - 2048))
    assert not whole["fits"] and budget["fits"] and chunked["fits"]
    target = ("-m", "llama-3.1-70b", "-H", "h100", "--tp", "4")
    drafted = run("memory", *target, "--draft", "llama-3.2-1b", "--draft-tp", "4", "--json")
    assert drafted["weights_gb"] > run("memory", *target, "--json")["weights_gb"]


def test_every_option_field_is_a_flag_of_estimate():
    text = CliRunner().invoke(main, ["estimate", "--help"]).output
    for name in [f.name for f in fields(Deployment)] + [f.name for f in fields(Serving)] + list(WORKLOAD_OPTIONS):
        assert "--" + name.replace("_", "-") in text


def test_a_new_field_becomes_a_typed_bounded_flag():
    @dataclass(frozen=True)
    class Extra:
        depth: int = option(2, "How deep.", kind=int, minimum=1, maximum=8)

    @click.command()
    @click_option("depth", fields(Extra)[0])
    def command(depth):
        click.echo(repr(depth))

    assert CliRunner().invoke(command, []).output.strip() == "2"
    assert CliRunner().invoke(command, ["--depth", "8"]).output.strip() == "8"
    for bad in ("0", "9", "2.5", "x"):
        assert CliRunner().invoke(command, ["--depth", bad]).exit_code == 2


def test_acceptance_is_not_needed_for_memory_but_is_for_estimate():
    args = ("-m", "llama-3.1-8b", "-H", "h100", "--draft", "heads")
    assert CliRunner().invoke(main, ["memory", *args]).exit_code == 0
    result = CliRunner().invoke(main, ["estimate", *args, "--draft-tokens", "2"])
    assert result.exit_code == 2 and "needs an acceptance rate" in result.output


@pytest.mark.parametrize("plot", [False, True])
def test_a_cold_estimate_imports_pandas_only_when_asked(plot, tmp_path):
    extra = ("--breakdown",) + (("--plot", str(tmp_path / "plot.png")) if plot else ())
    code = ("import sys; from llmsizer.cli import main\n"
            "try:\n    main(['estimate', '-m', 'llama-3.1-8b', '-H', 'h100', '--json', *sys.argv[1:]])\n"
            "except SystemExit:\n    pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'pandas', 'scipy', 'matplotlib', 'pyarrow'}),"
            " file=sys.stderr)")
    done = subprocess.run([sys.executable, "-c", code, *extra], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout)["ttft_ms"] > 0
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1].replace("'", '"')))
    assert loaded >= {"pandas", "matplotlib"} if plot else loaded == set()


SWEEP = {"model": ["llama-3.2-1b", "llama-3.1-8b"], "hardware": "h100", "batch": [1, 2, 4, 8, 16, 32],
         "input": [128, 512, 2048], "output": [16, 64], "chunk": 7}


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".json"])
def test_a_sweep_written_chunk_by_chunk_equals_the_gathered_sweep(tmp_path, suffix):
    import pandas as pd
    import yaml

    from llmsizer.search.sweep import run_sweep

    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(SWEEP))
    out = tmp_path / f"rows{suffix}"
    result = CliRunner().invoke(main, ["sweep", str(spec), "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    written = {".parquet": pd.read_parquet, ".csv": pd.read_csv, ".json": pd.read_json}[suffix](out)
    gathered, _ = run_sweep(str(spec))
    assert len(written) == len(gathered) == 72
    assert list(written["ttft_ms"]) == pytest.approx(list(gathered["ttft_ms"]), rel=1e-6)


def test_sweep_chunks_are_evaluated_as_they_are_consumed(monkeypatch):
    from llmsizer.search import sweep

    evaluated = []
    original = sweep._task
    monkeypatch.setattr(sweep, "_task", lambda task, points: evaluated.append(1) or original(task, points))
    frames = sweep.sweep_frames(sweep.parse_spec(SWEEP), workers=2)
    first = next(frames)
    assert len(first) == 7 and len(evaluated) <= 2 * 2 + 1  # of 12 chunks, only those in flight
    assert sum(len(frame) for frame in frames) == 72 - 7 and len(evaluated) == 12
