"""Built-in hardware: coverage, name resolution, units and sources."""

import csv
import json
from pathlib import Path

import pytest

import llmsizer
from conftest import HARDWARE_SPECS
from llmsizer.errors import ConfigError, UnknownNameError
from llmsizer.hardware.spec import Accelerator, System
from llmsizer.hardware.zoo import list_accelerators, list_systems, load_accelerator, load_system

REQUIRED = ["a100-sxm4-40gb", "a100-sxm4-80gb", "a100-pcie-40gb", "a100-pcie-80gb", "h100", "h100-pcie", "h100-nvl",
            "h200", "h20", "gh200", "b200", "gb200", "b300", "gb300", "rtx-pro-6000", "l40s", "l4", "a10g", "rtx4090",
            "mi250x", "mi300x", "mi325x", "mi350x", "mi355x", "gaudi2", "gaudi3", "arc-pro-b60", "tpu-v4", "tpu-v5e",
            "tpu-v5p", "tpu-v6e", "tpu-v7", "trainium1", "trainium2", "trainium3", "inferentia2", "ascend-910c", "groq",
            "cerebras-wse-3", "sn40l"]
#: systems of the machines people buy and rent: racks, pods, ultraservers and multi-node clusters
REQUIRED_SYSTEMS = {"gb300-nvl72": 72, "gb300-nvl72-4rack": 288, "hgx-b300": 8, "rtx-pro-6000-8": 8, "mi350x-8": 8,
                    "mi355x-8": 8, "mi355x-4node": 32, "tpu-v6e-256": 256, "tpu-v7-64": 64, "tpu-v7-9216": 9216,
                    "trn2-16": 16, "trn2-ultraserver-64": 64, "trn3-ultraserver-144": 144, "inf2-12": 12, "trn1-16": 16,
                    "gaudi3-8": 8, "gaudi3-64": 64, "arc-pro-b60-8": 8, "cloudmatrix-384": 384, "hgx-h20-8": 8,
                    "hgx-b200-2node-ib": 16, "hgx-b200-4node-ib": 32, "hgx-h200-2node-ib": 16, "hgx-h200-4node-ib": 32,
                    "mi300x-2node": 16, "mi300x-4node": 32}


def test_required_accelerators_resolve():
    for name in REQUIRED:
        load_accelerator(name)
    assert len(list_accelerators()) >= 40


@pytest.mark.skipif(not HARDWARE_SPECS.exists(), reason="needs ../shared/validation beside the project")
def test_every_validation_hardware_name_resolves_with_its_figures():
    for row in csv.DictReader(HARDWARE_SPECS.open()):
        acc = load_accelerator(row["hardware"].lower())
        assert acc.name == row["hardware"]
        assert acc.memory_bandwidth == pytest.approx(float(row["mem_bandwidth_tbps"]) * 1e12)
        assert acc.peak("bf16") == pytest.approx(float(row["peak_dense_bf16_tflops"]) * 1e12)


def test_every_figure_has_a_source_link_or_is_a_stated_assumption():
    for acc in list_accelerators():
        assert "http" in acc.source, acc.name
        for figure, source in acc.sources.items():
            assert "http" in source or source.startswith("assumption"), f"{acc.name}.{figure}: {source}"
    for system in list_systems():
        assert "http" in system.source, system.name


def test_every_data_file_loads_under_a_name_of_its_own():
    folder = Path(llmsizer.__file__).parent / "data" / "hardware"
    assert len(list_accelerators()) == len(list((folder / "accelerators").glob("*.yaml")))
    assert len(list_systems()) == len(list((folder / "systems").glob("*.yaml")))
    for items in (list_accelerators(), list_systems()):
        names = [n.lower() for item in items for n in (item.name, *item.aliases)]
        assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_every_figure_is_positive_or_its_absence_explained():
    for acc in list_accelerators():
        assert all(v > 0 for v in acc.peak_flops.values()) and acc.memory_capacity > 0 and acc.memory_bandwidth > 0
        assert acc.compute_units >= 1, acc.name
        for link in (acc.scale_up, acc.scale_out):
            assert link is None or (link.bandwidth > 0 and link.size >= 1 and link.latency >= 0), acc.name
        assert acc.tdp_w > 0 or "tdp" in acc.notes.lower(), f"{acc.name}: no tdp_w and no word on why"
        assert acc.peak("bf16") > 0  # every chip runs 16-bit work at some rate
    for system in list_systems():
        assert system.num_devices >= 1 and all(d.bandwidth > 0 for d in system.network), system.name


@pytest.mark.parametrize("name, devices", sorted(REQUIRED_SYSTEMS.items()))
def test_required_systems_load_with_their_device_counts(name, devices):
    system = load_system(name)
    assert system.num_devices == devices
    assert system.accelerator.name in {a.name for a in list_accelerators()}


def test_new_names_are_listed_by_the_command_line():
    from click.testing import CliRunner

    from llmsizer.cli import main

    listed = {row["name"] for row in json.loads(CliRunner().invoke(main, ["hardware", "--json"]).output)}
    assert {load_accelerator(name).name for name in REQUIRED} <= listed
    systems = {row["name"] for row in json.loads(CliRunner().invoke(main, ["hardware", "--systems", "--json"]).output)}
    assert {load_system(name).name for name in REQUIRED_SYSTEMS} <= systems
    table = CliRunner().invoke(main, ["hardware"]).output
    groq = next(line for line in table.splitlines() if "Groq-LPU" in line)
    assert " 188 " in groq and "0.214" in groq  # not 0 TFLOP/s and 0 GiB


def test_h100_in_si_units():
    h100 = load_accelerator("H100-SXM5-80GB")
    assert h100.peak("bf16") == 989.4e12 and h100.peak("fp8") == 1978.9e12
    assert h100.memory_capacity == 80 * 2**30 and h100.memory_bandwidth == 3.35e12
    assert h100.scale_up.bandwidth == 450e9


def test_precision_without_native_rate_falls_back_to_wider():
    a100 = load_accelerator("a100")
    assert not a100.runs_natively("fp8") and a100.peak("fp8") == a100.peak("bf16")


def test_systems_load_and_count_devices():
    assert load_system("dgx-h100").num_devices == 8
    assert load_system("gb200-nvl72").num_devices == 72
    multi = load_system("hgx-h100-16node-ib")
    assert multi.num_devices == 128 and len(multi.network) == 2
    assert len(list_systems()) >= 12


def test_single_node_spills_to_scale_out():
    h100 = load_accelerator("h100")
    system = System.single_node(h100, 16)
    assert [d.size for d in system.network] == [8, 2]
    with pytest.raises(ConfigError, match="multiple of the scale-up domain"):
        System.single_node(h100, 12)


def test_unknown_hardware_suggests_closest():
    with pytest.raises(UnknownNameError, match="Closest matches: .*H100"):
        load_accelerator("H100-SMX5-80")


def test_bad_hardware_file_fields(tmp_path):
    with pytest.raises(ConfigError, match="unknown field\\(s\\) flops"):
        Accelerator.from_dict({"name": "x", "flops": 1, "memory": {"hbm_gib": 1, "hbm_tb_s": 1}, "peak_tflops": {"bf16": 1}})
    with pytest.raises(ConfigError, match="peak_tflops.bf16 = -1"):
        Accelerator.from_dict({"name": "x", "memory": {"hbm_gib": 1, "hbm_tb_s": 1}, "peak_tflops": {"bf16": -1}})


def test_every_accelerator_states_its_compute_units_with_a_source():
    for acc in list_accelerators():
        assert acc.compute_units is not None and acc.compute_units >= 1, acc.name
        assert "http" in acc.sources.get("compute_units", ""), acc.name


@pytest.mark.parametrize("kind, listing, load", [("accelerators", list_accelerators, load_accelerator),
                                                 ("systems", list_systems, load_system)])
def test_the_names_index_agrees_with_every_file(kind, listing, load):
    from llmsizer.hardware.zoo import names_index

    for item in listing():
        for key in (item.name, *item.aliases):
            assert load(key.upper()) is item  # the index finds the same object the full list holds
    assert len(names_index(kind)) == sum(1 + len(item.aliases) for item in listing())
