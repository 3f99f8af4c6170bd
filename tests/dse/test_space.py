"""Search-space loading: valid files load into frozen objects; every bad file names its field."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest

from dse.engine.space import DomainKind, SpaceError, load_space, parse_space
from dse.schema.record import Direction

REPO = Path(__file__).resolve().parents[2]


def test_quickstart_loads_with_every_domain_kind() -> None:
    space = load_space(REPO / "search_spaces" / "quickstart.toml")
    kinds = {d.name: d.kind for d in space.domains}
    assert kinds["device"] is DomainKind.CATEGORICAL
    assert kinds["tile_size"] is DomainKind.INT
    assert (
        kinds["width_mult"] is DomainKind.FLOAT
        and next(d for d in space.domains if d.name == "width_mult").log
    )
    assert kinds["mode"] is DomainKind.FIXED
    assert [o.direction for o in space.objectives][:2] == [Direction.MAXIMIZE, Direction.MINIMIZE]
    assert (space.trials, space.workers, space.seed, space.sampler) == (40, 2, 7, "tpe")  # as the file says
    assert space.sampler_options == (("n_startup_trials", 8),)
    bounds = {d.name: (d.low, d.high, d.step) for d in space.domains if d.kind is DomainKind.INT}
    assert bounds == {"tile_size": (64, 512, 64), "adc_bits": (2, 8, 1)}
    with pytest.raises(dataclasses.FrozenInstanceError):
        space.trials = 3  # type: ignore[misc]


def test_every_ready_space_validates() -> None:
    for path in sorted((REPO / "search_spaces").glob("*.toml")):
        assert load_space(path).objectives, path


BASE = {"params": {"device": "pcm"}, "objectives": {"accuracy": "max"}}


@pytest.mark.parametrize(
    ("patch", "field", "needle"),
    [
        ({"params": {"colour": 3}}, "params.colour", "allowed: device"),
        ({"params": {"device": {"choices": ["pcm", "unobtainium"]}}}, "params.device", "'rram'"),
        ({"params": {"adc_bits": 0}}, "params.adc_bits", "integers in [1, 16]"),
        ({"params": {"adc_bits": {"low": 9, "high": 4}}}, "params.adc_bits", "empty domain"),
        ({"params": {"device": {"choices": []}}}, "params.device", "empty domain"),
        ({"objectives": {"happiness": "max"}}, "objectives.happiness", "energy_per_inference_pj"),
        ({"objectives": {"accuracy": "up"}}, "objectives.accuracy", "allowed: max, min"),
        ({"objectives": {}}, "objectives", "at least one"),
        ({"study": {"sampler": "magic"}}, "study.sampler", "tpe, nsga2, random, gp, grid"),
        ({"study": {"trails": 3}}, "study.trails", "allowed: name"),
        ({"constraints": {"area_mm2": "< 5"}}, "constraints.area_mm2", "<= number"),
        (
            {"study": {"sampler": "grid"}, "params": {"width_mult": {"low": 0.5, "high": 2.0}}},
            "params",
            "no grid",
        ),
        ({"colour": 1}, "colour", "allowed: study"),
        (
            {"params": {"device": "pcm", "mode": "mixed_precision", "update_bits": 2}},
            "params",
            "update_bits must be ≥ 3 for mode 'mixed_precision'",
        ),
        (
            {"study": {"sampler": "random"}, "sampler": {"n_startup_trials": 5}},
            "sampler.n_startup_trials",
            "not an option of 'random'",
        ),
    ],
)
def test_bad_spaces_name_the_field_and_allowed_values(patch: dict, field: str, needle: str) -> None:
    raw = {k: dict(v) for k, v in BASE.items()}
    for key, value in patch.items():
        raw[key] = {**raw.get(key, {}), **value} if isinstance(value, dict) and value else value
    with pytest.raises(SpaceError) as info:
        parse_space(raw, "bad.toml")
    assert info.value.field == field
    assert "bad.toml" in str(info.value) and needle in str(info.value)


def test_malformed_toml_is_a_space_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[params\ndevice = 'pcm'")
    with pytest.raises(SpaceError, match=r"broken\.toml: syntax: not valid TOML"):
        load_space(path)


def test_grid_enumerates_every_combination() -> None:
    raw = {
        "study": {"sampler": "grid"},
        "objectives": {"accuracy": "max"},
        "params": {"device": {"choices": ["pcm", "rram"]}, "adc_bits": {"low": 2, "high": 8, "step": 2}},
    }
    space = parse_space(raw)
    assert space.grid() == {"device": ["pcm", "rram"], "adc_bits": [2, 4, 6, 8]}
    assert space.grid_size() == 8


def test_cli_bad_file_exits_2_before_any_work(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[params]\nadc_bits = 0\n[objectives]\naccuracy = "max"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "dse", "run", str(path), "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2, proc.stderr
    assert "bad.toml: params.adc_bits" in proc.stderr and "integers in [1, 16]" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_cli_missing_dataset_folder_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "nodata.toml"
    path.write_text('[params]\ndata_path = "/nonexistent/mnist"\n[objectives]\naccuracy = "max"\n')
    proc = subprocess.run(
        [sys.executable, "-m", "dse", "run", str(path)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "/nonexistent/mnist" in proc.stderr


def test_a_fidelity_space_has_its_rungs_and_records_them_in_its_canonical_form() -> None:
    raw = {
        "study": {"fidelity": "epochs", "min_epochs": 1, "reduction_factor": 3, "budget_epochs": 40},
        "params": {"epochs": 9},
        "objectives": {"accuracy": "max"},
    }
    space = parse_space(raw)
    assert space.rungs == (1, 3, 9) and space.full_epochs == 9 and space.budget_epochs == 40
    assert space.canonical()["fidelity"] == ["epochs", 1, 3]
    assert "budget_epochs" not in space.canonical()  # the budget may change on resume, the rungs may not
    plain = parse_space({"params": {"epochs": 4}, "objectives": {"accuracy": "max"}})
    assert plain.rungs == (4,) and "fidelity" not in plain.canonical()
