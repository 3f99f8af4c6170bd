"""``dse plot``: paper figures of a results folder (matplotlib and plotly load only here)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from dse.analysis import pareto as pa
from dse.cli.common import (
    FIGURE_FORMATS,
    PLOT_KINDS,
    analysis_rows,
    bad_input,
    best_first,
    check_columns,
    choice,
    require_rows,
    searched_parameters,
    split_list,
)
from dse.cli.common import app as app
from dse.schema.record import READ_TIME_COLUMNS


def _axes(log: str | None, linear: bool) -> tuple[bool | None, bool | None]:
    """(x, y) log flags: True/False forced by --log/--linear, None for automatic (over 10×)."""
    if log is not None and linear:
        raise bad_input("--log: give --log or --linear, not both")
    if linear:
        return False, False
    if log is None:
        return None, None
    names = split_list(log)
    unknown = [n for n in names if n not in ("x", "y")]
    if unknown or not names:
        raise bad_input(f"--log: {log!r}; allowed: x, y or x,y")
    return ("x" in names) or None, ("y" in names) or None


def _drifting_front(done: pd.DataFrame, objs: tuple[pa.Objective, ...], top: int) -> pd.DataFrame:
    """The best ``top`` designs by the first objective on the front of the designs whose device's
    conductance drifts (the figure is about drift), even where a non-drifting device dominates them;
    the study's front when no design drifts."""
    from models.physics.devices import DEVICES, DriftLaw

    drifts = {name for name, spec in DEVICES.items() if spec.drift_law is not DriftLaw.NONE}
    drifting = done[done["device"].isin(drifts)] if "device" in done.columns else done
    if len(pa.objective_matrix(drifting, objs)[0]) == 0:
        drifting = done
    return best_first(pa.pareto_front(drifting, objs), objs).head(top)


def _trial_numbers(spec: str, done: pd.DataFrame) -> pd.DataFrame:
    """The complete rows of ``--trials 3,5``, in the order given."""
    try:
        numbers = [int(t) for t in split_list(spec)]
    except ValueError:
        raise bad_input(f"--trials: {spec!r}; expected trial numbers like 3,5") from None
    available = set(done["trial_number"])
    missing = [n for n in numbers if n not in available]
    if missing or not numbers:
        allowed = ", ".join(map(str, sorted(available)))
        raise bad_input(f"--trials: no complete trial(s) {missing}; allowed: {allowed}")
    return done.set_index("trial_number", drop=False).loc[numbers]


def _breakdown(
    figures: Any, done: pd.DataFrame, trials: str | None, folder: Path, fmts: list[Any]
) -> list[Path]:
    """The per-layer energy breakdown of the one trial ``--trials`` names (``dse cost``'s table)."""
    from dse.cli.hardware import breakdown

    if not trials:
        raise bad_input("--trials: breakdown needs one trial number, e.g. --trials 3")
    chosen = _trial_numbers(trials, done)
    if len(chosen) != 1:
        raise bad_input(f"--trials: breakdown draws one trial, got {list(chosen['trial_number'])}")
    row = chosen.iloc[0].to_dict()
    layers, _ = breakdown(row)
    number = int(row["trial_number"])
    title = f"Trial {number}: {row['device']}, {row['model']}"
    return figures.plot_cost_breakdown(pd.DataFrame(layers), folder / f"breakdown_{number}", title, fmts)


@app.command()
def plot(
    results: Annotated[Path, typer.Argument(help="results folder")],
    kind: Annotated[str, typer.Argument(metavar="KIND", help=", ".join(PLOT_KINDS))],
    objectives: Annotated[
        str | None, typer.Option(help="objectives to plot (default: the study's; front: its first two)")
    ] = None,
    where: Annotated[str | None, typer.Option(help='SQL filter on the rows, e.g. "adc_bits >= 4"')] = None,
    color_by: Annotated[str, typer.Option(help="colour/marker column; 'none': one colour")] = "device",
    out: Annotated[Path | None, typer.Option(help="output folder (default: RESULTS/figures)")] = None,
    formats: Annotated[str, typer.Option(help="comma list of png, pdf, html")] = "png,pdf,html",
    trials: Annotated[
        str | None, typer.Option(help="read-time: these trial numbers, e.g. 3,5; breakdown: one trial")
    ] = None,
    top: Annotated[
        int, typer.Option(min=1, help="read-time: the best front designs by the first objective")
    ] = 3,
    log: Annotated[str | None, typer.Option(help="front: log axes, 'x', 'y' or 'x,y'")] = None,
    linear: Annotated[bool, typer.Option(help="front: linear axes (no automatic log axis)")] = False,
) -> None:
    """Paper figures (PNG/PDF/HTML): front, parallel, progress, read-time, hardware or breakdown (one
    trial's energy per layer by component, --trials N). An axis that spans more than 10× is
    logarithmic unless --log or --linear says otherwise."""
    kind = choice("KIND", kind, PLOT_KINDS)
    fmts: list[Any] = split_list(formats)  # checked against FIGURE_FORMATS below
    bad_fmts = [f for f in fmts if f not in FIGURE_FORMATS]
    if bad_fmts or not fmts:
        raise bad_input(f"--formats: {formats!r}; allowed: a comma list of {', '.join(FIGURE_FORMATS)}")
    axes = _axes(log, linear)
    meta, done, objs = analysis_rows(results, objectives, where)
    group = None if color_by.lower() == "none" else color_by
    if group is not None:
        check_columns("--color-by", [group], done)
    if kind == "front":
        if objectives is not None and len(objs) != 2:
            raise bad_input(f"--objectives: front needs exactly two objectives, got {len(objs)}")
        if len(objs) < 2:
            raise bad_input("--objectives: front needs two objectives; the study has one")
        objs = objs[:2]
    require_rows(done, objs, where)
    import dse.analysis.plot as figures  # matplotlib and plotly only when plotting

    folder = out or results / "figures"
    try:
        if kind == "front":
            stem = folder / f"front_{objs[0].name}_vs_{objs[1].name}"
            paths = figures.plot_pareto_2d(done, objs, stem, group, fmts, log=axes)
        elif kind == "parallel":
            params = searched_parameters(meta) or []
            paths = figures.plot_parallel_coordinates(done, objs, folder / "parallel", group, fmts, params)
        elif kind == "progress":
            paths = figures.plot_hypervolume_history(done, objs, folder / "progress", fmts)
        elif kind == "read-time":
            chosen = _trial_numbers(trials, done) if trials else _drifting_front(done, objs, top)
            if chosen[list(READ_TIME_COLUMNS)].isna().all().all():
                raise bad_input(
                    f"read-time: columns {', '.join(READ_TIME_COLUMNS)} are empty for trial(s) "
                    f"{list(chosen['trial_number'])}; this study recorded no accuracy after drift"
                )
            paths = figures.plot_accuracy_vs_read_time(chosen, folder / "read_time", formats=fmts)
        elif kind == "breakdown":
            paths = _breakdown(figures, done, trials, folder, fmts)
        else:
            paths = figures.plot_accuracy_vs_hardware(
                done, folder / "hardware", by=group or "device", formats=fmts
            )
    except ValueError as exc:
        raise bad_input(f"{kind}: {exc}") from None
    for path in paths:
        typer.echo(str(path))
