"""``dse compare RESULTS_A RESULTS_B …``: the fronts of several studies in one table and one figure,
their normalized hypervolumes measured at one reference point and one ideal point."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from dse.analysis import pareto as pa
from dse.analysis import report
from dse.cli.common import FIGURE_FORMATS, app, bad_input, console, load_rows, parse_objectives_option


def _rows(folders: list[Path], objectives: str | None) -> tuple[pd.DataFrame, tuple[pa.Objective, ...]]:
    """Complete rows of every study with a ``study`` column; the objectives are the first study's
    unless given, and every study must have them."""
    frames, objs = [], None
    for folder in folders:
        meta, df = load_rows(folder)
        objs = objs or parse_objectives_option(objectives, meta)
        missing = [o.name for o in objs if o.name not in df.columns]
        if missing:
            raise bad_input(f"RESULTS: {folder} has no column(s) {missing}; allowed: {sorted(df.columns)}")
        name = str(meta.get("study", folder.name))
        done = df[df["status"] == "complete"].assign(study=name)
        if not len(pa.objective_matrix(done, objs)[0]):
            raise bad_input(f"RESULTS: {folder} has no complete trial with finite objectives")
        frames.append(done)
    names = [f["study"].iloc[0] for f in frames]
    if len(set(names)) != len(names):  # two folders of one study name: tell them apart by folder
        frames = [f.assign(study=str(folder)) for f, folder in zip(frames, folders, strict=True)]
    assert objs is not None
    return pd.concat(frames, ignore_index=True), objs


@app.command()
def compare(
    results: Annotated[list[Path], typer.Argument(help="two or more results folders")],
    objectives: Annotated[str | None, typer.Option(help="objectives (default: the first study's)")] = None,
    out: Annotated[Path | None, typer.Option(help="write the figure here (default: no figure)")] = None,
    formats: Annotated[str, typer.Option(help="comma list of png, pdf, html")] = "png,pdf,html",
) -> None:
    """Fronts of several studies: one table, normalized hypervolumes at one reference point, and
    (with --out) one figure of the first two objectives."""
    if len(results) < 2:
        raise bad_input(f"RESULTS: give two or more results folders, got {len(results)}")
    fmts = [f.strip() for f in formats.split(",") if f.strip()]
    if not fmts or any(f not in FIGURE_FORMATS for f in fmts):
        raise bad_input(f"--formats: {formats!r}; allowed: a comma list of {', '.join(FIGURE_FORMATS)}")
    rows, objs = _rows(results, objectives)
    reference = pa.default_reference(rows, objs)  # one reference and one ideal for every study
    hvs = pa.hypervolume_by(rows, objs, "study", reference, normalize=True)
    fronts = pa.fronts_by(rows, objs, "study")
    summary = pd.DataFrame(
        {
            "study": list(hvs),
            "trials": [int((rows["study"] == s).sum()) for s in hvs],
            "front": [len(fronts[s]) for s in hvs],
            "hypervolume": [hv.value for hv in hvs.values()],
        }
    )
    names = ", ".join(o.name for o in objs)
    console.print(
        report.rich_table(summary, list(summary.columns), f"fronts over {names}", keep=["hypervolume"])
    )
    ref = ", ".join(f"{k}={v:.4g}" for k, v in reference.items())
    ideal = ", ".join(f"{k}={v:.4g}" for k, v in (next(iter(hvs.values())).ideal or {}).items())
    console.print(f"normalized hypervolume: reference point {ref}; ideal point {ideal}", highlight=False)
    if out is None:
        return
    if len(objs) < 2:
        raise bad_input("--objectives: a comparison figure needs two objectives")
    import dse.analysis.plot as figures

    both = pd.concat(fronts.values(), ignore_index=True)
    stem = out / f"compare_{objs[0].name}_vs_{objs[1].name}"
    for path in figures.plot_pareto_2d(both, objs[:2], stem, "study", fmts):  # type: ignore[arg-type]
        typer.echo(str(path))
