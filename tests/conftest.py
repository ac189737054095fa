"""Shared fixtures: built-in models and hardware, and the measured set beside the project."""

from pathlib import Path

import pytest

from llmsizer.hardware.zoo import load_accelerator
from llmsizer.models.zoo import load_model

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).parent / "fixtures"
MEASUREMENTS = ROOT.parent / "shared" / "validation" / "measurements.csv"
HARDWARE_SPECS = ROOT.parent / "shared" / "validation" / "hardware_specs.csv"


@pytest.fixture(scope="session")
def llama70b():
    return load_model("meta-llama/Llama-3.1-70B")


@pytest.fixture(scope="session")
def h100():
    return load_accelerator("h100")
