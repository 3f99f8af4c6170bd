"""Every citation key in the code and docs resolves to an entry of docs/references.md with BibTeX."""

from __future__ import annotations

from pathlib import Path

import pytest

from dse.cli.hardware import MODE_KEYS, REFERENCES_MD, bibliography, cited_keys, device_keys
from models.config import TrainMode
from models.physics.devices import DEVICES

ROOT = Path(__file__).resolve().parents[2]


def test_the_citation_pattern_finds_keys_and_skips_type_subscripts() -> None:
    assert cited_keys("x = 1  # 25 fJ [NS]; fit [ISAAC, ACC] and [A,J20]") == {
        "NS",
        "ISAAC",
        "ACC",
        "A",
        "J20",
    }
    assert cited_keys("class W(Generic[T]): list[X]; d[A]") == set()


@pytest.mark.parametrize("folder", ["models", "dse", "docs"])
def test_every_key_cited_resolves_to_a_bibtex_entry(folder: str) -> None:
    bib = bibliography()
    pattern = "*.md" if folder == "docs" else "*.py"
    unresolved = {
        f"{path.relative_to(ROOT)}: {key}"
        for path in sorted((ROOT / folder).rglob(pattern))
        for key in cited_keys(path.read_text(encoding="utf-8"))
        if key not in bib
    }
    assert not unresolved, f"keys without an entry in {REFERENCES_MD.name}: {sorted(unresolved)}"


def test_every_entry_is_bibtex_named_by_its_key() -> None:
    for key, entry in bibliography().items():
        assert entry.startswith("@") and entry.split("{", 1)[1].startswith(f"{key},"), key
        assert "title" in entry and "year" in entry, key


def test_every_device_and_mode_has_cited_sources() -> None:
    assert set(MODE_KEYS) == {m.value for m in TrainMode}
    for name in DEVICES:
        assert device_keys(name), name  # each preset's numbers carry keys
