"""``dse importance``: per-objective parameter importance on rows whose dependence is known by
construction (energy depends only on ADC bits, accuracy only on the width; the tile size on nothing)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from dse.analysis.importance import param_importances, searched_params
from dse.cli.run import app
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import Direction, Objective, TrialRecord

OBJS = (Objective("energy_per_inference_pj", Direction.MINIMIZE), Objective("accuracy", Direction.MAXIMIZE))
SPACE = {  # as SearchSpace.canonical() records it
    "domains": [
        {"name": "device", "kind": "categorical", "choices": ["pcm", "rram", "sram"], "log": False},
        {"name": "adc_bits", "kind": "int", "low": 2, "high": 8, "log": False},
        {"name": "tile_size", "kind": "int", "low": 64, "high": 256, "log": False},
        {"name": "width_mult", "kind": "float", "low": 0.25, "high": 2.0, "log": True},
        {"name": "epochs", "kind": "fixed", "value": 2, "log": False},
    ]
}


def _records(n: int = 60) -> list[TrialRecord]:
    rng = np.random.default_rng(3)
    out = []
    for i in range(n):
        device = ("pcm", "rram", "sram")[i % 3]
        adc, width = int(rng.integers(2, 9)), float(np.exp(rng.uniform(np.log(0.25), np.log(2.0))))
        point = DesignPoint.of(
            device=device, adc_bits=adc, tile_size=int(rng.choice([64, 128, 256])), width_mult=width, epochs=2
        )
        bits = point.adc_bits  # SRAM ignores the ADC: its row stores null, the point holds the default
        metrics = {"energy_per_inference_pj": 2.0**bits, "accuracy": 0.5 + 0.2 * width}
        out.append(TrialRecord("imp", i, "complete", point, metrics))
    return out


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("imp")
    meta = {"study": "imp", "sampler": "tpe", "objectives": ["energy_per_inference_pj:min", "accuracy:max"]}
    (root / "_study.json").write_text(json.dumps({**meta, "space": SPACE}))
    ResultStore(root).append(_records())
    return root


def test_each_objective_is_explained_by_the_parameter_it_depends_on(results: Path) -> None:
    df = ResultStore(results).read()
    assert df.loc[df["device"] == "sram", "adc_bits"].isna().all()  # the rows hold nulls to fill
    params, logs = searched_params({"space": SPACE}, df)
    assert params == ["device", "adc_bits", "tile_size", "width_mult"] and logs == {"width_mult"}
    for evaluator in ("fanova", "ped-anova", "mdi"):
        table = param_importances(df, OBJS, params, log_params=logs, evaluator=evaluator)
        for obj in OBJS:
            assert table[obj.name].sum() == pytest.approx(1.0)
        assert table["accuracy"].idxmax() == "width_mult", (evaluator, table)
        assert table.loc["width_mult", "accuracy"] > 0.9, (evaluator, table)
    # fANOVA (the default) also separates the energy: ADC bits carry it, the tile size nothing.
    # MDI is left out here: impurity importance credits many-valued continuous parameters
    # (width_mult) even when the target does not depend on them, a known bias of the measure.
    table = param_importances(df, OBJS, params, log_params=logs, evaluator="fanova")
    assert table["energy_per_inference_pj"].idxmax() == "adc_bits"
    assert table.loc["adc_bits", "energy_per_inference_pj"] > 0.8, table
    assert table.loc["tile_size"].max() < 0.05, table


def test_constant_parameters_are_left_out_and_bad_input_is_named() -> None:
    df = pd.DataFrame([r.to_row() for r in _records(20)])
    table = param_importances(df, OBJS[:1], ["adc_bits", "epochs"])  # epochs is 2 in every row
    assert list(table.index) == ["adc_bits"] and table.attrs["rows"] == {"energy_per_inference_pj": 20}
    with pytest.raises(ValueError, match="evaluator 'anova' is unknown; allowed: fanova, ped-anova, mdi"):
        param_importances(df, OBJS, ["adc_bits"], evaluator="anova")
    with pytest.raises(ValueError, match=r"parameter\(s\) \['adc'\] are not design columns"):
        param_importances(df, OBJS, ["adc"])
    with pytest.raises(ValueError, match="no parameter among"):
        param_importances(df, OBJS, ["epochs"])
    flat = param_importances(df.assign(accuracy=0.7), OBJS, ["adc_bits", "width_mult"])
    assert flat["accuracy"].isna().all() and flat["energy_per_inference_pj"].sum() == pytest.approx(1.0)
    one = df.assign(accuracy=[0.5] + [float("nan")] * (len(df) - 1))
    with pytest.raises(ValueError, match="'accuracy' has 1 finite value"):
        param_importances(one, OBJS, ["device", "adc_bits"])


def test_cli_prints_exports_and_draws(results: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    shown = runner.invoke(app, ["importance", str(results)])
    assert shown.exit_code == 0, shown.output
    assert "adc_bits" in shown.output and "width_mult" in shown.output
    csv = tmp_path / "imp.csv"
    fig = tmp_path / "fig" / "importance"
    done = runner.invoke(
        app, ["importance", str(results), "--format", "csv", "-o", str(csv), "--figure", str(fig)]
    )
    assert done.exit_code == 0, done.output
    table = pd.read_csv(csv, comment="#")
    assert list(table.columns) == ["parameter", "energy_per_inference_pj", "accuracy"]
    assert set(table["parameter"]) == {"device", "adc_bits", "tile_size", "width_mult"}
    assert (tmp_path / "fig" / "importance.png").stat().st_size > 0
    assert (tmp_path / "fig" / "importance.pdf").stat().st_size > 0
    latex = runner.invoke(app, ["importance", str(results), "--format", "latex", "--evaluator", "ped-anova"])
    assert latex.exit_code == 0 and "\\toprule" in latex.output, latex.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--evaluator", "anova"], "--evaluator: 'anova' is not allowed; allowed: fanova, ped-anova, mdi"),
        (["--format", "xlsx"], "--format: 'xlsx' is not allowed"),
        (["--params", "adc"], "--params: parameter(s) ['adc'] are not design columns"),
        (["--objectives", "area_mm2:min"], "--objectives: objective 'area_mm2' has 0 finite value(s)"),
    ],
)
def test_cli_bad_input_exits_2_naming_the_option(results: Path, args: list[str], message: str) -> None:
    res = CliRunner().invoke(app, ["importance", str(results), *args])
    assert res.exit_code == 2
    assert message in " ".join(res.output.split()), res.output
