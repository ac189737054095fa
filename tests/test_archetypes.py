"""Platform archetypes: SRAM-heavy (wafer-scale, LPU) and memory-expanded (HBM + DDR/LPDDR) designs."""

import numpy as np
import pytest

from llmsizer.hardware.zoo import list_accelerators, list_systems, load_accelerator, load_system
from llmsizer.inference.estimate import estimate

NEW_ACCELERATORS = {"wse-3": "Cerebras-WSE-3", "groq": "Groq-LPU", "sn40l": "SambaNova-SN40L"}
NEW_SYSTEMS = {"cerebras-cs3-4": 4, "groq-lpu-576": 576, "gh200-quad": 4}


@pytest.mark.parametrize("alias, name", sorted(NEW_ACCELERATORS.items()))
def test_new_accelerators_load_with_sources(alias, name):
    acc = load_accelerator(alias)
    assert acc.name == name and load_accelerator(name) is acc
    assert acc.source and acc.notes
    for figure, source in acc.sources.items():
        assert source, figure
        if figure.endswith("latency_us"):
            assert source.startswith("assumption")


@pytest.mark.parametrize("name, devices", sorted(NEW_SYSTEMS.items()))
def test_new_systems_load(name, devices):
    system = load_system(name)
    assert system.num_devices == devices and system.source and system.notes


def test_names_and_aliases_are_unique_across_all_files():
    seen = {}
    for item in [*list_accelerators(), *list_systems()]:
        for key in (item.name, *item.aliases):
            assert key.lower() not in seen, f"{key} used by {item.name} and {seen.get(key.lower())}"
            seen[key.lower()] = item.name


def test_sram_devices_carry_on_chip_memory_in_the_main_tier():
    wse, lpu = load_accelerator("wse-3"), load_accelerator("groq")
    assert wse.memory_capacity == 41 * 2**30 and wse.memory_bandwidth == 21e15
    assert wse.peak("bf16") == 62.5e15  # 125 PF headline halved
    assert lpu.memory_capacity == pytest.approx(230e6, rel=1e-3) and lpu.memory_bandwidth == 80e12
    assert lpu.peak("bf16") == 188e12 and lpu.peak("int8") == 750e12
    for acc in (wse, lpu):
        assert "SRAM" in acc.notes and "hbm" in acc.notes


def test_memory_expanded_devices_carry_a_host_tier():
    sn40l = load_accelerator("sn40l")
    assert sn40l.memory_capacity == 64 * 2**30 and sn40l.memory_bandwidth == 1.6e12
    assert sn40l.host_capacity == 1536 * 2**30 and sn40l.host_link_bandwidth == 100e9
    assert load_system("gh200-quad").accelerator.host_capacity == 480 * 2**30


@pytest.mark.parametrize("options", [dict(tp=1), dict(pp=4)])
def test_wafer_scale_system_runs_an_8b_model_in_sram(options):
    est = estimate("llama-3.1-8b", system="cerebras-cs3-4", batch=1, input=512, output=64, **options)
    assert bool(est.fits)
    assert 0 < float(est.ttft) < 1 and 0 < float(est.tpot) < 1


def test_lpu_system_splits_an_8b_model_until_it_fits_in_sram():
    est = estimate("llama-3.1-8b", system="groq-lpu-576", tp=16, pp=18, batch=1, input=512, output=64)
    mem = est.memory
    assert mem.reserve == 0  # the chip states no runtime reserve: a statically scheduled program
    assert bool(est.fits) and float(mem.total) < mem.capacity
    assert np.isfinite(float(est.tpot)) and float(est.tpot) > 0
    too_few = estimate("llama-3.1-8b", system="groq-lpu-576", tp=8, pp=8, batch=1, input=512, output=64)
    assert not bool(too_few.fits)  # 64 chips hold 14 GB of SRAM: not the 16 GB of weights


def test_ddr_tier_holds_what_exceeds_hbm():
    est = estimate("llama-3.1-70b", "sn40l", batch=1, input=512, output=64, offload="weights")
    assert bool(est.fits) and float(est.memory.offloaded_weights) > 0
    assert est.to_dict()["decode_bound"] == "offload"


def test_gh200_node_serves_a_70b_model():
    assert bool(estimate("llama-3.1-70b", system="gh200-quad", tp=4, batch=8, input=1024, output=128).fits)
