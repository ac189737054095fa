"""Built-in hardware: coverage, name resolution, units and sources."""

import csv

import pytest

from conftest import HARDWARE_SPECS
from llmsizer.errors import ConfigError, UnknownNameError
from llmsizer.hardware.spec import Accelerator, System
from llmsizer.hardware.zoo import list_accelerators, list_systems, load_accelerator, load_system

REQUIRED = ["a100-sxm4-40gb", "a100-sxm4-80gb", "a100-pcie-40gb", "a100-pcie-80gb", "h100", "h100-pcie", "h100-nvl",
            "h200", "h20", "gh200", "b200", "gb200", "b300", "l40s", "l4", "a10g", "rtx4090", "mi250x", "mi300x",
            "mi325x", "mi355x", "gaudi2", "gaudi3", "tpu-v4", "tpu-v5e", "tpu-v5p", "tpu-v6e", "tpu-v7", "trainium2"]


def test_required_accelerators_resolve():
    for name in REQUIRED:
        load_accelerator(name)
    assert len(list_accelerators()) >= 24


@pytest.mark.skipif(not HARDWARE_SPECS.exists(), reason="needs ../shared/validation beside the project")
def test_every_validation_hardware_name_resolves_with_its_figures():
    for row in csv.DictReader(HARDWARE_SPECS.open()):
        acc = load_accelerator(row["hardware"].lower())
        assert acc.name == row["hardware"]
        assert acc.memory_bandwidth == pytest.approx(float(row["mem_bandwidth_tbps"]) * 1e12)
        assert acc.peak("bf16") == pytest.approx(float(row["peak_dense_bf16_tflops"]) * 1e12)


def test_every_accelerator_figure_has_a_source():
    for acc in list_accelerators():
        assert acc.source.startswith("http") or acc.source
        for figure, source in acc.sources.items():
            assert source, f"{acc.name}.{figure}"


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
