"""The CLI around a study: status, progress, compare, searched-axis tables, LaTeX labels, figure
options (split from ``test_cli_analysis.py``, whose fixtures it shares)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import dse.analysis.figure
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord
from tests.dse.test_cli_analysis import (
    DEVICES,
    _record,
    _write_study,
    demo_study,
    invoke,
    read_csv,
)


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_study(tmp_path_factory)


@pytest.fixture(autouse=True)
def small_html(monkeypatch: pytest.MonkeyPatch) -> None:
    """Link plotly.js instead of embedding 4.8 MB in every HTML file."""
    monkeypatch.setattr(dse.analysis.figure, "PLOTLY_JS", "cdn")


def test_status_groups_failure_reasons_and_prints_the_normalized_hypervolume(results: Path) -> None:
    code, out, _ = invoke("status", results)
    assert code == 0, out
    assert "2 × ValueError: loss diverged (#4, #11)" in out
    assert "normalized hypervolume 0." in out and "reference point: accuracy=" in out


def test_a_constant_objective_is_flagged() -> None:
    from dse.analysis.pareto import parse_objectives
    from dse.cli.common import constant_objectives

    done = pd.DataFrame({"accuracy": [0.5, 0.7, 0.9], "max_writes_per_device": [1.0, 1.0, 1.0]})
    objs = parse_objectives("accuracy:max,max_writes_per_device:min")
    assert constant_objectives(done, objs) == [
        "max_writes_per_device is 1 for all 3 trials: it does not rank designs"
    ]


def test_progress_bar_starts_with_starting_ray_then_counts_and_hypervolume() -> None:
    from dse.cli.run import _progress_bar
    from dse.engine.space import load_space
    from dse.engine.study import Progress

    space = load_space(Path(__file__).parents[2] / "search_spaces" / "quickstart.toml")
    update, bar = _progress_bar(space)
    assert bar.tasks[0].description == "starting Ray…" and bar.tasks[0].total is None
    point = DesignPoint.of(device="pcm")
    for n, (acc, pj, bits) in enumerate([(0.5, 10.0, 100.0), (0.7, 30.0, 200.0)]):
        metrics = {"accuracy": acc, "energy_per_inference_pj": pj, "model_size_bits": bits}
        update(Progress(total=40, complete=n + 1), TrialRecord("q", n, "complete", point, metrics))
    status = bar.tasks[0].fields["status"]
    assert bar.tasks[0].total == 40 and bar.tasks[0].completed == 2
    assert "running 2 · complete 2 · failed 0 · HV 0." in status


# ------------------------------------------------------------------ compare


def test_compare_measures_every_study_at_one_reference(results: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    worse = []
    for n in range(24):  # the same designs, each 0.05 less accurate: strictly dominated
        rec = _record(n, rng, start)
        metrics = {**rec.metrics, "accuracy": rec.metrics["accuracy"] - 0.05} if rec.metrics else {}
        worse.append(TrialRecord("worse", n, rec.status, rec.point, metrics, rec.error))
    other = _write_study(tmp_path / "worse", worse)
    meta = json.loads((other / "_study.json").read_text())
    (other / "_study.json").write_text(json.dumps({**meta, "study": "worse"}))
    code, out, err = invoke("compare", results, other, "--out", tmp_path / "fig", "--formats", "png")
    assert code == 0, err
    volumes = {
        line.split()[0]: float(line.split()[-1])
        for line in out.splitlines()
        if line.split()[:1] in (["demo"], ["worse"])
    }
    assert 0 < volumes["worse"] < volumes["demo"] <= 1
    assert out.count("reference point") == 1
    assert (tmp_path / "fig" / "compare_accuracy_vs_energy_per_inference_pj.png").read_bytes()[
        :4
    ] == b"\x89PNG"
    code, _, err = invoke("compare", results)
    assert code == 2 and "two or more" in err


# ------------------------------------------------------------------ what tables and figures show


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study whose space searched device, lr and momentum_placement (as onchip_momentum does)."""
    rng = np.random.default_rng(5)
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    records = []
    for n in range(12):
        rec = _record(n, rng, start)
        point = rec.point.replace(lr=float(rng.choice([0.01, 0.05, 0.2])))
        records.append(TrialRecord("demo", n, rec.status, point, rec.metrics, rec.error))
    root = _write_study(tmp_path_factory.mktemp("searched") / "demo", records)
    meta = json.loads((root / "_study.json").read_text())
    domains = [
        {"name": "device", "kind": "categorical", "choices": list(DEVICES)},
        {"name": "lr", "kind": "float", "low": 0.01, "high": 0.2, "log": True},
        {"name": "adc_bits", "kind": "fixed", "value": 8},
    ]
    (root / "_study.json").write_text(json.dumps({**meta, "space": {"domains": domains}}))
    return root


def test_terminal_table_shows_the_searched_axes_whole_at_100_columns(
    searched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dse.cli import common

    monkeypatch.setattr(common.console, "width", 100)
    code, out, _ = invoke("pareto", searched)
    assert code == 0 and "…" not in out and max(map(len, out.splitlines())) <= 100
    header = out[out.index("Pareto front") : out.index("───")]
    assert "Learning" in header and "Device" in header and "Accuracy" in header
    assert "DAC" not in header and "Tile" not in header  # not searched: not shown
    assert "over accuracy (max), energy_per_inference_pj (min), model_size_bits (min)" in " ".join(
        out.split()
    )
    code, out, _ = invoke("pareto", searched, "--columns", "device,adc_bits,accuracy")
    assert code == 0 and "Learning" not in out and "ADC" in out


def test_latex_label_comes_from_the_output_file_and_front_of_shown(results: Path, tmp_path: Path) -> None:
    labels = []
    for name in ("a.tex", "b.tex"):
        code, _, err = invoke("export", results, "-o", tmp_path / name)
        assert code == 0, err
        labels += [line for line in (tmp_path / name).read_text().splitlines() if line.startswith(r"\label")]
    assert labels == [r"\label{tab:a}", r"\label{tab:b}"]
    columns = "device,accuracy,energy_per_inference_pj"
    code, out, _ = invoke("export", results, "--format", "csv", "--columns", columns, "--front-of", "shown")
    assert code == 0
    shown = read_csv(out)
    sql = "SELECT accuracy, energy_per_inference_pj AS e FROM trials WHERE status = 'complete'"
    rows = read_csv(invoke("query", results, sql, "--format", "csv")[1]).to_numpy()
    brute = [  # brute force: rows no other row dominates in these two objectives
        (a, e) for a, e in rows
        if not any(a2 >= a and e2 <= e and (a2 > a or e2 < e) for a2, e2 in rows)
    ]  # fmt: skip
    assert sorted(brute) == sorted(zip(shown["accuracy"], shown["energy_per_inference_pj"], strict=True))


def test_read_time_defaults_to_devices_that_drift() -> None:
    from dse.analysis.pareto import parse_objectives
    from dse.cli.figures import _drifting_front

    df = pd.DataFrame(
        {"trial_number": [0, 1, 2], "device": ["sram", "pcm", "stt_mram"], "accuracy": [0.99, 0.9, 0.95]}
    )
    assert _drifting_front(df, parse_objectives("accuracy:max"), 3)["device"].tolist() == [
        "pcm"
    ]  # sram: no drift
    two = df.assign(energy_per_inference_pj=[1.0, 0.1, 0.5])  # all three on the front
    both = parse_objectives("accuracy:max,energy_per_inference_pj:min")
    assert _drifting_front(two, both, 3)["device"].tolist() == ["pcm"]  # sram and stt_mram do not drift
    assert _drifting_front(two[two.device != "pcm"], both, 3)["device"].tolist() == ["sram", "stt_mram"]
    dominated = two.assign(energy_per_inference_pj=[1.0, 9.0, 0.5])  # pcm off the study's front
    assert _drifting_front(dominated, both, 3)["device"].tolist() == ["pcm"]


@pytest.mark.parametrize(
    ("args", "allowed"), [(("--log", "z"), "x, y"), (("--log", "x", "--linear"), "not both")]
)
def test_plot_axis_options_are_checked(results: Path, args: tuple[str, ...], allowed: str) -> None:
    code, _, err = invoke("plot", results, "front", "--formats", "png", *args)
    assert code == 2 and "--log" in err and allowed in err
