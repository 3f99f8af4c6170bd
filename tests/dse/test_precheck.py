"""Cheap objectives first: what the pre-check computes before training equals what the trial
computes after it (exact columns), or brackets it (bounded columns), for off-chip and on-chip modes."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from dse.engine.data import Dataset, load_dataset
from dse.engine.precheck import precheck, training_free_cost
from dse.engine.space import Constraint
from dse.engine.trial import evaluate_point
from dse.schema.point import DesignPoint
from models.config import AnalogConfig
from models.cost.breakdown import LayerShape
from models.cost.model import hardware_cost
from models.physics.devices import get_device

NEEDS_TRAINING = {"max_writes_per_device", "energy_training_j", "writes_total", "lifetime_fraction_used"}


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load_dataset("digits")


@pytest.mark.parametrize(
    "point",
    [
        DesignPoint.of(device="pcm", mode="hwa", adc_bits=5, tile_size=64, hidden=(32,), epochs=1),
        DesignPoint.of(device="rram", mode="onchip_sgd", adc_bits=6, tile_size=32, hidden=(16,), epochs=1),
        DesignPoint.of(device="sram", mode="hwa", tile_size=64, hidden=(16,), epochs=1, width_mult=0.5),
    ],
    ids=["pcm-hwa", "rram-onchip", "sram-hwa"],
)
def test_precomputed_columns_equal_the_trained_trials_columns(point: DesignPoint, data: Dataset) -> None:
    exact, bounds = training_free_cost(point, data)
    row = evaluate_point(point, data)
    for name, value in exact.items():
        assert row[name] == value or (math.isinf(value) and row[name] == value), name
    for name, (lo, hi) in bounds.items():
        assert lo <= row[name] <= hi, (name, lo, row[name], hi)
    assert {"area_mm2", "latency_per_inference_ns", "tiles", "macs_per_inference"} <= set(exact)
    if point.device != "sram":  # the cost model gives SRAM no wear: its writes columns are fixed
        assert not NEEDS_TRAINING & (set(exact) | set(bounds))
    if point.mode == "hwa":  # off-chip modes keep no digital state: the model size is known
        assert "model_size_bits" in exact
    else:
        assert "model_size_bits" not in exact  # on-chip: momentum or accumulators may add to it
    if point.device != "sram":
        assert "energy_per_inference_pj" in bounds and "tops_per_w" in bounds


def test_bounded_columns_are_monotone_in_the_conductance_fraction() -> None:
    """Brute force over the fraction: the bounds at 0 and 1 contain every value in between."""
    analog, device = AnalogConfig(tile_size=64, adc_bits=6), get_device("pcm")
    shapes = [LayerShape(64, 32, 1), LayerShape(32, 10, 1)]
    values = [hardware_cost(analog, device, shapes, 0, 0, mean_g_fraction=g) for g in np.linspace(0, 1, 21)]
    for name in ("energy_per_inference_pj", "energy_array_pj", "tops_per_w"):
        series = [getattr(v, name) for v in values]
        assert series == sorted(series) or series == sorted(series, reverse=True), name
        assert series[0] != series[-1], name


def test_a_constraint_is_broken_only_when_every_outcome_of_training_breaks_it(data: Dataset) -> None:
    point = DesignPoint.of(device="pcm", mode="hwa", adc_bits=8, tile_size=64, hidden=(32,), epochs=1)
    exact, bounds = training_free_cost(point, data)
    area, (e_lo, e_hi) = exact["area_mm2"], bounds["energy_per_inference_pj"]
    assert precheck(point, data, [Constraint("area_mm2", "<=", area)]).reason is None  # holds with equality
    tight = precheck(point, data, [Constraint("area_mm2", "<=", area / 2)])
    assert tight.violations == {"area_mm2": pytest.approx(area / 2)}
    assert tight.reason.startswith("infeasible before training: area_mm2 = ")
    between = (e_lo + e_hi) / 2  # some trained conductance meets it, some does not: train and see
    assert precheck(point, data, [Constraint("energy_per_inference_pj", "<=", between)]).violations == {}
    below = precheck(point, data, [Constraint("energy_per_inference_pj", "<=", e_lo * 0.9)])
    assert below.violations == {"energy_per_inference_pj": pytest.approx(e_lo * 0.1)}
    floor = precheck(point, data, [Constraint("tops_per_w", ">=", 2 * bounds["tops_per_w"][1])])
    assert floor.violations["tops_per_w"] == pytest.approx(bounds["tops_per_w"][1])
    writes = precheck(point, data, [Constraint("max_writes_per_device", "<=", 0)])
    assert writes.violations == {} and writes.precomputed(["accuracy", "area_mm2"]) == ["area_mm2"]


def test_the_driver_records_infeasible_designs_without_training_them(tiny_space, tmp_path) -> None:
    """A constraint on the area, which the architecture fixes: designs that break it get an
    ``infeasible`` row with the reason and the training-free columns, never reach the executor,
    and are told to Optuna as infeasible; the others run, and their rows say what was pre-computed."""
    import optuna

    from dse.engine.executor import LocalExecutor
    from dse.engine.lease import PRECHECK_ATTR
    from dse.engine.space import load_space, parse_space
    from dse.engine.study import open_storage, run_study
    from dse.engine.trial import TrialContext
    from dse.results.store import ResultStore
    from dse.schema.record import TrialRecord

    ran: list[int] = []

    def counted(point: DesignPoint, data: Dataset, ctx: TrialContext) -> TrialRecord:
        ran.append(ctx.trial_number)
        exact, bounds = training_free_cost(point, data)  # what a trained row would hold for these
        metrics = {"accuracy": 0.9, **{k: lo for k, (lo, _) in bounds.items()}, **exact}
        return TrialRecord(ctx.study, ctx.trial_number, "complete", point, metrics)

    base = load_space(tiny_space(trials=10))
    data = load_dataset("digits")
    areas = sorted(
        training_free_cost(
            DesignPoint.of(device=d, adc_bits=a, tile_size=t, width_mult=0.5, hidden=(32,)), data
        )[0]["area_mm2"]
        for d in ("pcm", "rram", "sram")
        for a in (3, 8)
        for t in (32, 64)
    )
    bound = areas[len(areas) // 2]
    raw = {
        "study": {"name": "tiny", "sampler": "nsga2", "trials": 10, "seed": 3},
        "sampler": {"population_size": 4},
        "params": {
            d.name: (list(d.choices) if d.choices else d.value) for d in base.domains if d.name != "adc_bits"
        }
        | {"adc_bits": {"low": 3, "high": 8}},
        "objectives": {"accuracy": "max", "energy_per_inference_pj": "min"},
        "constraints": {"area_mm2": f"<= {bound}"},
    }
    raw["params"]["device"] = {"choices": ["pcm", "rram", "sram"]}
    raw["params"]["tile_size"] = {"low": 32, "high": 64, "step": 32}
    space = parse_space(raw)
    out = tmp_path / "out"
    progress = run_study(space, LocalExecutor(data, trial_fn=counted), out, workers=2)
    df = ResultStore(out).read().set_index("trial_number")
    assert len(df) == 10  # the budget is exact: infeasible designs are trials too
    bad = df[df["status"] == "infeasible"]
    assert len(bad) == progress.infeasible > 0 and progress.complete == 10 - len(bad)
    assert not set(bad.index) & set(ran) and set(ran) == set(df.index) - set(bad.index)
    assert (bad["area_mm2"] > bound).all() and bad["accuracy"].isna().all()
    assert bad["error"].str.startswith("infeasible before training: area_mm2 = ").all()
    # energy is only bounded before training on analog devices; SRAM's does not depend on it
    sram = df["device"] == "sram"
    assert (df.loc[~sram, "precomputed"] == "area_mm2").all()
    assert (df.loc[sram, "precomputed"] == "energy_per_inference_pj,area_mm2").all()
    assert (df.loc[df["status"] == "complete", "area_mm2"] <= bound).all()
    study = optuna.load_study(study_name="tiny", storage=open_storage(out, None))
    for t in study.trials:
        if t.number in bad.index:
            assert t.user_attrs[PRECHECK_ATTR]["area_mm2"] == pytest.approx(
                bad.loc[t.number, "area_mm2"] - bound
            )
            exact = "energy_per_inference_pj" in bad.loc[t.number, "precomputed"].split(",")
            energy = bad.loc[t.number, "energy_per_inference_pj"] if exact else math.inf  # SRAM: known
            assert t.values[0] == -math.inf and t.values[1] == energy
            assert t.system_attrs["constraints:area_mm2"] == t.user_attrs[PRECHECK_ATTR]["area_mm2"]
        else:
            assert t.system_attrs["constraints:area_mm2"] <= 0
    assert not {t.number for t in study.best_trials} & set(bad.index)


def test_a_recovering_driver_tells_an_infeasible_row_as_its_driver_would(tiny_space, tmp_path) -> None:
    """The driver died after the infeasible row was durable and before it told Optuna: the next
    driver tells the trial from the row and the violations stamped on the trial."""
    import socket
    import subprocess
    import sys

    import optuna

    from dse.engine.lease import PRECHECK_ATTR, DriverLease, recover
    from dse.engine.precheck import infeasible_record
    from dse.engine.space import load_space
    from dse.engine.study import open_storage, open_study
    from dse.engine.trial import TrialContext
    from dse.results.store import ResultStore

    space = load_space(tiny_space())
    space = dataclasses.replace(space, constraints=(Constraint("area_mm2", "<=", 1e-9),))
    out = tmp_path / "out"
    study = open_study(space, open_storage(out, None), "test")
    pid = int(
        subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True).stdout
    )
    trial = study.ask()
    trial.set_user_attr("driver", f"{socket.gethostname()}:{pid}:abcdef")  # a dead driver's
    point = DesignPoint.of(device="pcm", adc_bits=4, tile_size=32, width_mult=0.5, hidden=(32,))
    pre = precheck(point, load_dataset("digits"), space.constraints)
    trial.set_user_attr(PRECHECK_ATTR, dict(pre.violations))
    ResultStore(out).append([infeasible_record(point, TrialContext("tiny", trial.number), pre, space)])
    assert recover(study, space, ResultStore(out), DriverLease(study)) == 1
    (told,) = study.get_trials(deepcopy=False)
    assert told.state is optuna.trial.TrialState.COMPLETE
    assert told.values == [-math.inf, math.inf]
    assert told.system_attrs["constraints:area_mm2"] == pytest.approx(pre.exact["area_mm2"] - 1e-9)
    assert study.best_trials == []


def test_the_bound_holds_for_the_measured_duty_and_tightens_when_it_is_fixed(data: Dataset) -> None:
    """Before training the duty is unknown, so the read energy is bounded over duty ∈ [0, 1] and
    every device in [0, g_max]; the trained row's measured duty and chips fall inside. A fixed duty
    is known before training: the bound narrows to the conductance alone."""
    point = DesignPoint.of(device="rram", mode="hwa", adc_bits=4, tile_size=64, hidden=(32,), epochs=1)
    _, bounds = training_free_cost(point, data)
    row = evaluate_point(point, data)
    assert 0 < row["input_duty_measured"] < 0.5
    for name in ("energy_per_inference_pj", "energy_array_pj", "tops_per_w"):
        lo, hi = bounds[name]
        assert lo < row[name] < hi, name
    assert bounds["energy_array_pj"][0] == 0.0  # no row driven: no cell current
    fixed = point.replace(input_duty_source="fixed", input_duty=row["input_duty_measured"])
    _, narrow = training_free_cost(fixed, data)
    (lo, hi), (f_lo, f_hi) = bounds["energy_per_inference_pj"], narrow["energy_per_inference_pj"]
    assert lo <= f_lo < f_hi < hi
    g_max = get_device("rram").g_max_us
    assert narrow["energy_array_pj"][1] == pytest.approx(
        bounds["energy_array_pj"][1] * row["input_duty_measured"], rel=1e-12
    )
    assert row["cell_g_us"] < 2 * g_max
