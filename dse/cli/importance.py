"""``dse importance RESULTS``: which parameters matter for each objective (printed and exported)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, cast

import typer

from dse.analysis import report
from dse.cli.common import TABLE_FORMATS, app, bad_input, console, err, load_rows, parse_objectives_option


@app.command()
def importance(
    results: Annotated[Path, typer.Argument(help="results folder")],
    objectives: Annotated[
        str | None, typer.Option(help="e.g. energy_per_inference_pj:min,accuracy:max (default: the study's)")
    ] = None,
    params: Annotated[
        str | None, typer.Option(help="comma list of parameters (default: those the space searched)")
    ] = None,
    evaluator: Annotated[str, typer.Option(help="fanova, ped-anova or mdi")] = "fanova",
    seed: Annotated[int, typer.Option(help="seed of the evaluator's random forest")] = 0,
    where: Annotated[
        str | None, typer.Option(help="SQL filter on the rows, e.g. \"device != 'sram'\"")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, markdown or latex")] = "table",
    precision: Annotated[int, typer.Option(min=0, help="decimals in csv/markdown/latex")] = 3,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write the table to this file")
    ] = None,
    figure: Annotated[
        Path | None, typer.Option(help="write a bar figure here (.png and .pdf; default: none)")
    ] = None,
) -> None:
    """Importance of each searched parameter for each objective (Optuna's fANOVA, PED-ANOVA or MDI),
    over the complete rows: "does the ADC or the device matter more for energy?"."""
    from dse.analysis.importance import EVALUATORS, param_importances, plot_importances, searched_params

    if evaluator not in EVALUATORS:
        raise bad_input(f"--evaluator: {evaluator!r} is not allowed; allowed: {', '.join(EVALUATORS)}")
    if fmt not in ("table", *TABLE_FORMATS):
        raise bad_input(f"--format: {fmt!r} is not allowed; allowed: table, {', '.join(TABLE_FORMATS)}")
    meta, df = load_rows(results)
    done = df[df["status"] == "complete"]
    objs = parse_objectives_option(objectives, meta)
    missing = [o.name for o in objs if o.name not in done.columns]
    if missing:
        raise bad_input(f"--objectives: unknown column(s) {missing}")
    if where:
        try:
            from dse.results import query as q

            done = q.filter_rows(done, where)
        except ValueError as exc:
            raise bad_input(f"--where: {exc}") from None
    names, logs = searched_params(meta, done)
    if params:
        names = [p.strip() for p in params.split(",") if p.strip()]
    try:
        table = param_importances(done, objs, names, log_params=logs, evaluator=evaluator, seed=seed)
    except ValueError as exc:
        raise bad_input(f"{'--params' if 'parameter' in str(exc) else '--objectives'}: {exc}") from None
    rows = table.attrs["rows"]
    frame = table.reset_index()
    title = f"Parameter importance ({evaluator}) of {meta.get('study', results.name)}; rows: " + ", ".join(
        f"{k} {v}" for k, v in rows.items()
    )
    if fmt == "table" and output is None:
        console.print(report.rich_table(frame, list(frame.columns), title, precision=precision))
    else:
        prov = report.Provenance(
            study=meta.get("study", "?"),
            trials=len(done),
            sampler=meta.get("sampler", "?"),
            objectives=tuple(f"{o.name}:{o.direction.value}" for o in objs),
            generated=report.utc_now(),
        )
        kind = cast(report.TableFormat, "csv" if fmt == "table" else fmt)
        text = report.render_table(frame, list(frame.columns), kind, prov, precision=precision)
        _write(text, output, len(frame))
    if figure is not None:
        for path in plot_importances(table, figure):
            typer.echo(str(path))


def _write(text: str, output: Path | None, rows: int) -> None:
    if output is None:
        typer.echo(text, nl=False)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    err.print(f"wrote {rows} rows to {output}")
