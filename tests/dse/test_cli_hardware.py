"""``dse cost RESULTS --trial N`` (per-layer breakdown, CSV) and ``dse cite RESULTS`` (BibTeX)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from dse.cli.run import app
from dse.engine.data import load_dataset
from dse.results.store import ResultStore, TrialRecord
from dse.schema.point import DesignPoint
from models.cost.model import hardware_cost
from models.nn.networks import build_network, layer_shapes
from models.physics.devices import DEVICES

G_FRAC = 0.3
"""Mean |w|/w_max the stored rows were costed with; ``dse cost`` must recover it."""


def _row(point: DesignPoint) -> dict[str, float]:
    data = load_dataset(point.dataset)
    model = build_network(point.network_config(data.in_shape, data.classes), point.analog_config())
    shapes = layer_shapes(model, torch.from_numpy(data.x_test[:2]).reshape(-1, *data.in_shape))
    cost = hardware_cost(
        point.analog_config(), DEVICES[point.device], shapes, 1.0, 1.0, G_FRAC, cost=point.cost_config()
    )
    return {"accuracy": 0.9, **cost.as_row()}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hw")
    points = [
        DesignPoint.of(device="pcm", model="lenet", tile_size=64, adc_bits=5, mode="hic", binary_devices=1),
        DesignPoint.of(device="sram", model="mlp"),
    ]
    (root / "study.json").write_text(
        json.dumps({"study": "hw", "trials": 3, "objectives": ["accuracy:max"], "sampler": "tpe"})
    )
    store = ResultStore(root)
    for n, p in enumerate(points):
        store.append([TrialRecord("hw", n, "complete", p, _row(p))])
    store.append([TrialRecord("hw", 2, "failed", points[0], error="ValueError: boom")])
    return root


def test_cost_prints_layers_that_sum_to_the_stored_row_and_writes_csv(results: Path, tmp_path: Path) -> None:
    out = tmp_path / "layers.csv"
    res = CliRunner().invoke(app, ["cost", str(results), "--trial", "0", "--csv", str(out)])
    assert res.exit_code == 0, res.output
    assert "mean |w|/w_max 0.300" in res.output
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 5  # lenet: 2 convs + 3 dense layers
    stored = _row(
        DesignPoint.of(device="pcm", model="lenet", tile_size=64, adc_bits=5, mode="hic", binary_devices=1)
    )
    for part in ("array", "adc", "dac", "buffer"):
        assert sum(float(r[f"{part}_pj"]) for r in rows) == pytest.approx(
            stored[f"energy_{part}_pj"], rel=1e-9
        )
    assert sum(float(r["energy_pj"]) for r in rows) == pytest.approx(
        stored["energy_per_inference_pj"], rel=1e-9
    )
    assert sum(int(r["tiles"]) for r in rows) == stored["tiles"]
    assert sum(float(r["area_mm2"]) for r in rows) == pytest.approx(stored["area_mm2"], rel=1e-9)
    assert sum(float(r["latency_ns"]) for r in rows) == pytest.approx(stored["latency_per_inference_ns"])


def test_cost_of_a_missing_or_failed_trial_exits_2_naming_the_complete_ones(results: Path) -> None:
    for n in ("2", "7"):
        res = CliRunner().invoke(app, ["cost", str(results), "--trial", n])
        assert res.exit_code == 2 and "complete trials: [0, 1]" in res.output


def test_cite_prints_the_bibtex_of_the_sources_the_study_used(results: Path) -> None:
    res = CliRunner().invoke(app, ["cite", str(results)])
    assert res.exit_code == 0, res.output
    for key in ("ISAAC", "ACC", "NS", "H14", "HIC", "J20", "A"):  # cost model, hic, pcm drift
        assert f"{{{key}," in res.output, key
    assert "{G21," not in res.output and "{LG23," not in res.output  # no qnn, no HERMES figure used


def test_a_space_fixes_or_searches_the_cost_knobs_and_refuses_bad_ones() -> None:
    from dse.engine.space import SpaceError, parse_space

    base = {"study": {"name": "c"}, "objectives": {"energy_per_inference_pj": "min"}}
    space = parse_space(
        {
            **base,
            "params": {
                "node_nm": 14,
                "input_encoding": {"choices": ["bit_serial", "multi_bit"]},
                "adc_sample_rate_gsps": {"low": 0.1, "high": 2.4},
                "adc_column_sharing": {"choices": [1, 8, 32]},
            },
        }
    )
    assert space.fixed_params()["node_nm"] == 14
    assert {d.name for d in space.searched} >= {
        "input_encoding",
        "adc_sample_rate_gsps",
        "adc_column_sharing",
    }
    with pytest.raises(SpaceError, match=r"input_encoding.*bit_serial.*multi_bit"):
        parse_space({**base, "params": {"input_encoding": "pulse"}})
    with pytest.raises(SpaceError, match="adc_floor_pj"):  # the withdrawn knob is gone
        parse_space({**base, "params": {"adc_floor_pj": 0.4}})


def test_the_breakdown_figure_draws_one_trials_layers(results: Path, tmp_path: Path) -> None:
    args = [
        "plot",
        str(results),
        "breakdown",
        "--trials",
        "0",
        "--out",
        str(tmp_path),
        "--formats",
        "png,html",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    html = (tmp_path / "breakdown_0.html").read_text()
    assert (tmp_path / "breakdown_0.png").stat().st_size > 0
    parts = ("Array (pJ)", "ADC (pJ)", "DAC (pJ)", "Shift add (pJ)", "Buffer (pJ)")
    assert all(f'"name":"{p}"' in html for p in parts), html[-3000:]  # one trace per energy component
    for bad in (["--trials", "0,1"], []):
        res = CliRunner().invoke(app, ["plot", str(results), "breakdown", "--out", str(tmp_path), *bad])
        assert res.exit_code == 2 and "--trials" in res.output


def test_cost_recomputes_a_trials_measured_reads_from_its_row(tmp_path: Path) -> None:
    """A real trial's row (measured duty, programmed chips): ``dse cost`` charges each layer the
    reads the row stores, so its layers sum to the row's energies; a fixed duty is shown as such."""
    from dse.engine.trial import evaluate_point

    point = DesignPoint.of(device="rram", model="lenet", tile_size=64, epochs=1, width_mult=0.5, dac_bits=6)
    data = load_dataset(point.dataset)
    (tmp_path / "study.json").write_text(
        json.dumps({"study": "m", "trials": 2, "objectives": ["accuracy:max"], "sampler": "tpe"})
    )
    for n, p in enumerate((point, point.replace(input_duty_source="fixed", input_duty=0.3))):
        metrics = evaluate_point(p, data)
        ResultStore(tmp_path).append([TrialRecord("m", n, "complete", p, metrics)])
        out = tmp_path / f"layers{n}.csv"
        res = CliRunner().invoke(app, ["cost", str(tmp_path), "--trial", str(n), "--csv", str(out)])
        assert res.exit_code == 0, res.output
        assert f"input duty {metrics['input_duty_measured']:.3f} measured" in res.output
        assert ("fixed" in res.output) == (n == 1)
        rows = list(csv.DictReader(out.open()))
        assert len(rows) == 5
        for part in ("array", "adc", "dac"):
            total = sum(float(r[f"{part}_pj"]) for r in rows)
            assert total == pytest.approx(metrics[f"energy_{part}_pj"], rel=1e-12), part
