"""docs/hardware.md lists exactly the built-in hardware (its tables are generated from the data)."""

from pathlib import Path

from llmsizer.hardware.tables import BEGIN, END, tables
from llmsizer.hardware.zoo import list_accelerators, list_systems

DOC = Path(__file__).resolve().parents[1] / "docs" / "hardware.md"
README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_hardware_page_holds_the_current_tables():
    text = DOC.read_text()
    generated = text[text.index(BEGIN):text.index(END) + len(END)] + "\n"
    assert generated == tables(), "run: python -m llmsizer.hardware.tables docs/hardware.md"


def test_every_accelerator_and_system_is_on_the_page_with_its_source():
    text = DOC.read_text()
    for item in (*list_accelerators(), *list_systems()):
        assert f"| {item.name} |" in text
        assert item.source.split(" ")[0] in text


def test_readme_counts_match_the_data():
    line = next(line for line in README.read_text().splitlines() if line.startswith("llmsizer hardware "))
    assert f"{len(list_accelerators())} accelerators" in line and f"{len(list_systems())} systems" in line
