"""dse pareto --significance: front members whose edge rests on accuracy inside the intervals."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from dse.analysis.pareto import parse_objectives, within_noise
from dse.cli.common import app
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord

OBJS = parse_objectives("accuracy:max,energy_per_inference_pj:min")
ROWS = {  # trial: (accuracy, ci_low, ci_high, energy)
    0: (0.90, 0.88, 0.92, 10.0),  # front; dominates 1, whose interval reaches above 0.88: ≈
    1: (0.85, 0.80, 0.89, 12.0),
    2: (0.80, 0.79, 0.81, 5.0),  # front; dominates 3, whose interval stays below 0.79: established
    3: (0.70, 0.69, 0.71, 6.0),
}


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"accuracy": a, "accuracy_ci_low": lo, "accuracy_ci_high": hi, "energy_per_inference_pj": e}
            for a, lo, hi, e in ROWS.values()
        ],
        index=list(ROWS),
    )


def test_within_noise_marks_only_the_member_whose_edge_is_inside_the_intervals() -> None:
    marks = within_noise(frame(), OBJS)
    assert marks.to_dict() == {0: True, 2: False}


def test_without_intervals_nothing_is_marked() -> None:
    assert within_noise(frame().drop(columns=["accuracy_ci_low", "accuracy_ci_high"]), OBJS).to_dict() == {
        0: False,
        2: False,
    }


def test_dse_pareto_significance_prints_the_mark(tmp_path: Path) -> None:
    (tmp_path / "_study.json").write_text(
        json.dumps(
            {
                "study": "s",
                "trials": 4,
                "sampler": "tpe",
                "objectives": ["accuracy:max", "energy_per_inference_pj:min"],
            }
        )
    )
    now = datetime.now(UTC)
    store = ResultStore(tmp_path)
    for n, (a, lo, hi, e) in ROWS.items():
        metrics = {"accuracy": a, "accuracy_ci_low": lo, "accuracy_ci_high": hi, "energy_per_inference_pj": e}
        store.append([TrialRecord("s", n, "complete", DesignPoint(), metrics, None, 0, now, now)])
    out = tmp_path / "front.csv"
    res = CliRunner().invoke(
        app, ["pareto", str(tmp_path), "--significance", "-o", str(out), "--format", "csv"]
    )
    assert res.exit_code == 0, res.output
    rows = pd.read_csv(out, keep_default_na=False).set_index("trial_number")
    assert rows["significance"].to_dict() == {0: "≈", 2: ""}
    res = CliRunner().invoke(app, ["pareto", str(tmp_path), "--significance", "--ranks"])
    assert res.exit_code == 2 and "--significance" in res.output


def test_a_row_without_a_finite_objective_is_ignored() -> None:
    """A complete row whose energy is missing (or a failed one) neither marks nor hides a member."""
    df = pd.concat(
        [frame(), pd.DataFrame([{"accuracy": 0.87, "energy_per_inference_pj": float("nan")}], index=[9])]
    )
    df.loc[9, ["accuracy_ci_low", "accuracy_ci_high"]] = (0.80, 0.95)
    assert within_noise(df, OBJS).to_dict() == {0: True, 2: False}


def test_weak_dominance_counts_and_touching_intervals_do_not_overlap() -> None:
    """Member 0 dominates 1 at equal energy; 1's interval ends exactly where 0's begins: established.
    Nudged 0.01 higher it overlaps: not established."""
    df = pd.DataFrame(
        {"accuracy": [0.9, 0.8], "accuracy_ci_low": [0.85, 0.7], "accuracy_ci_high": [0.95, 0.85]}
    ).assign(energy_per_inference_pj=5.0)
    assert within_noise(df, OBJS).to_dict() == {0: False}
    df.loc[1, "accuracy_ci_high"] = 0.86
    assert within_noise(df, OBJS).to_dict() == {0: True}


def test_nothing_is_marked_without_both_bounds_or_when_accuracy_is_no_objective() -> None:
    for drop in ("accuracy_ci_low", "accuracy_ci_high"):
        assert within_noise(frame().drop(columns=[drop]), OBJS).to_dict() == {0: False, 2: False}
    energy_only = parse_objectives("energy_per_inference_pj:min")
    assert within_noise(frame(), energy_only).to_dict() == {2: False}


def test_an_empty_front_gives_an_empty_boolean_series() -> None:
    marks = within_noise(frame().assign(accuracy=float("nan")), OBJS)
    assert marks.empty and marks.dtype == bool
