"""Analysis commands: ``dse pareto | query | export`` over a results folder (``dse plot``: figures.py)."""

from __future__ import annotations

import sys
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Annotated, Any, cast

import pandas as pd
import typer

from dse.analysis import pareto as pa
from dse.analysis import report
from dse.cli.common import (
    INCLUDE_STOPPED_HELP,
    TABLE_FORMATS,
    analysis_rows,
    app,
    bad_input,
    best_first,
    check_columns,
    choice,
    console,
    default_columns,
    err,
    hypervolume_text,
    require_rows,
    split_list,
)
from dse.results.folder import read_study_file
from dse.results.store import ResultStore


def _ranked(rows: pd.DataFrame, objs: Sequence[pa.Objective]) -> pd.DataFrame:
    return rows.assign(pareto_rank=pa.pareto_ranks(rows, objs))


def _table_columns(
    meta: dict[str, Any],
    done: pd.DataFrame,
    objs: Sequence[pa.Objective],
    spec: str | None,
    *extra: str | None,
    first: str | None = None,
) -> list[str]:
    """``--columns`` (checked), else the trial, the searched parameters and the objectives."""
    if spec is not None:
        names = split_list(spec)
        if not names:
            raise bad_input("--columns: empty; give a comma list of columns")
        check_columns("--columns", names, done)
    else:
        names = default_columns(meta, done, objs)
    names = [first, *names, *extra]
    return list(dict.fromkeys(n for n in names if n))


def _front_of(
    option: str, done: pd.DataFrame, objs: Sequence[pa.Objective], names: Sequence[str]
) -> tuple[pa.Objective, ...]:
    """The objectives that define the front: the study's, or (``shown``) those among the columns."""
    if option == "study":
        return tuple(objs)
    shown = tuple(o for o in objs if o.name in names)
    if not shown:
        raise bad_input(
            f"--front-of shown: no objective among the columns; objectives: {[o.name for o in objs]}"
        )
    return shown


def _front_words(objs: Sequence[pa.Objective]) -> str:
    return "over " + ", ".join(f"{o.name} ({o.direction.value[:3]})" for o in objs)


def _sidecar_note(
    fmt: str,
    output: Path | None,
    frame: pd.DataFrame,
    columns: Sequence[str],
    prov: report.Provenance,
    notes: str,
) -> str:
    """CSV: provenance and notes go to ``<output>.json`` (stderr for stdout); other formats: a
    comment line in the file."""
    if fmt != "csv":
        return _note(fmt, notes)
    if output is None:
        err.print(f"{prov.summary()}; {notes}", highlight=False, markup=False)
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        sidecar = output.with_name(output.name + ".json")
        sidecar.write_text(report.sidecar(frame, columns, prov, notes))
    return ""


def _provenance(meta: dict[str, Any], trials: int, objs: Sequence[pa.Objective]) -> report.Provenance:
    return report.Provenance(
        study=meta.get("study", "?"),
        trials=trials,
        sampler=meta.get("sampler", "?"),
        objectives=tuple(f"{o.name}:{o.direction.value}" for o in objs),
        generated=report.utc_now(),
    )


def _note(fmt: str, text: str) -> str:
    """One comment line in ``fmt``'s syntax (CSV ``#``, Markdown HTML comment, LaTeX ``%``)."""
    text = " ".join(text.split())
    if fmt == "markdown":
        while "--" in text:  # "--" may not occur inside an HTML comment
            text = text.replace("--", "- -")
        return f"<!-- {text} -->\n"
    return f"{'%' if fmt == 'latex' else '#'} {text}\n"


def _emit(text: str, output: Path | None, rows: int) -> None:
    text = text if text.endswith("\n") else text + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    err.print(f"wrote {rows} rows to {output}")


# ------------------------------------------------------------------ pareto


@app.command()
def pareto(
    results: Annotated[Path, typer.Argument(help="results folder")],
    objectives: Annotated[
        str | None, typer.Option(help="e.g. accuracy:max,energy_per_inference_pj:min (default: the study's)")
    ] = None,
    where: Annotated[
        str | None, typer.Option(help="SQL filter, e.g. \"device in ('pcm','rram') and adc_bits >= 4\"")
    ] = None,
    by: Annotated[str | None, typer.Option(help="one front and hypervolume per value of this column")] = None,
    ranks: Annotated[bool, typer.Option(help="all rows with their non-domination rank (1 = front)")] = False,
    significance: Annotated[
        bool,
        typer.Option(
            help="mark (≈) front members whose edge over a dominated row is inside the accuracy intervals"
        ),
    ] = False,
    columns: Annotated[
        str | None, typer.Option(help="comma list of columns (default: searched parameters + objectives)")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, markdown or latex")] = "table",
    precision: Annotated[int, typer.Option(min=1, help="significant figures (csv keeps every digit)")] = 3,
    width: Annotated[
        str, typer.Option(help="latex: fit one 'column' (table) or the 'page' (table*)")
    ] = "column",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    include_stopped: Annotated[bool, typer.Option("--include-stopped", help=INCLUDE_STOPPED_HELP)] = False,
) -> None:
    """Print (or write) the non-dominated rows and their normalized hypervolume, optionally filtered
    and grouped."""
    fmt = choice("--format", fmt, ("table", *TABLE_FORMATS))
    width = choice("--width", width, ("column", "page"))
    meta, done, objs = analysis_rows(results, objectives, where, include_stopped)
    if by is not None:
        check_columns("--by", [by], done)
    fidelity = "epochs_done" if include_stopped and columns is None else None
    names = _table_columns(meta, done, objs, columns, "pareto_rank" if ranks else None, fidelity, first=by)
    require_rows(done, objs, where)
    shared = pa.default_reference(done, objs)  # one reference (and ideal) for every group
    if by is None:
        groups: list[tuple[Hashable, pd.DataFrame]] = [(None, done)]
        fronts = {None: pa.pareto_front(done, objs)}
        hvs = {None: pa.hypervolume(done, objs, shared, normalize=True)}
    else:
        groups = list(done.groupby(by, sort=True, dropna=False))
        fronts, hvs = pa.fronts_by(done, objs, by), pa.hypervolume_by(done, objs, by, shared, normalize=True)
    if significance:
        if ranks:
            raise bad_input("--significance: marks the front; it does not combine with --ranks")
        fronts = {
            key: front.assign(significance=pa.within_noise(rows, objs).map({True: "≈", False: ""}))
            for (key, rows), front in zip(groups, fronts.values(), strict=True)
        }
        names.append("significance")
    tables = [  # (group, rows to show, rows in the group, hypervolume of the group)
        (key, best_first(_ranked(rows, objs) if ranks else front, objs, ranks), len(rows), hv)
        for (key, rows), front, hv in zip(groups, fronts.values(), hvs.values(), strict=True)
    ]
    best = {o.name: o.direction for o in objs}
    keep = [o.name for o in objs]
    what = "rows by non-domination rank" if ranks else "Pareto front"
    if fmt == "table" and output is None:
        for key, table, size, hv in tables:
            group = "" if by is None else f", {by} = {key}"
            title = f"{what}{group} {_front_words(objs)} ({len(table)} of {size})"
            console.print(report.rich_table(table, names, title, precision, best=best, keep=keep))
            console.print(f"normalized hypervolume {hv.value:.4f}", highlight=False)
        scale = hypervolume_text(tables[0][3]).split(" (", 1)[1].rstrip(")")
        console.print(f"hypervolume {scale}", highlight=False)
        return
    fmt = "csv" if fmt == "table" else fmt
    if by is None:
        frame = tables[0][1]
        notes = f"{what} {_front_words(objs)}; {hypervolume_text(tables[0][3])}"
    else:
        frame = pd.concat([table.assign(hypervolume=hv.value) for _, table, _, hv in tables])
        names.append("hypervolume")
        notes = (
            f"{what} per {by}, {_front_words(objs)}; {hypervolume_text(tables[0][3])} (one for all groups)"
        )
    if where:
        notes += f"; filter: {where}"
    prov = _provenance(meta, len(done), objs)
    label_name = output.stem if output is not None else f"{prov.study}-pareto"
    text = report.render_table(
        frame, names, cast(report.TableFormat, fmt), prov, precision, best,
        label_name=label_name, width=cast(report.Width, width), keep=keep,
    )  # fmt: skip
    _emit(_sidecar_note(fmt, output, frame, names, prov, notes) + text, output, len(frame))


# ------------------------------------------------------------------ query


@app.command()
def query(
    results: Annotated[Path, typer.Argument(help="results folder")],
    sql: Annotated[str, typer.Argument(metavar="SQL", help="DuckDB SQL over the view `trials`")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or markdown")] = "table",
    precision: Annotated[int, typer.Option(min=1, help="significant figures (csv keeps every digit)")] = 3,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
    unsafe_sql: Annotated[
        bool,
        typer.Option(
            "--unsafe-sql",
            help="full DuckDB: the SQL may read and write any file (read_csv, COPY ... TO, ATTACH)",
        ),
    ] = False,
) -> None:
    """Run SQL (DuckDB) over the study's rows, the table ``trials``, e.g. ``SELECT device, max(accuracy)
    FROM trials GROUP BY device``. The SQL reads nothing else and writes no file unless --unsafe-sql."""
    fmt = choice("--format", fmt, ("table", "csv", "markdown"))
    try:
        from dse.results import query as q

        rows = q.sql(results, sql, unsafe=unsafe_sql)
    except FileNotFoundError as exc:
        raise bad_input(f"RESULTS: {exc}") from None
    except ValueError as exc:
        raise bad_input(f"SQL: {exc}") from None
    if fmt == "table" and output is None:
        console.print(report.rich_table(rows, list(rows.columns), f"{len(rows)} rows", precision=precision))
        return
    fmt = "csv" if fmt == "table" else fmt
    try:
        meta = read_study_file(results)
    except FileNotFoundError:
        meta = {"study": results.name}
    objs = pa.parse_objectives(meta["objectives"]) if meta.get("objectives") else ()
    prov = _provenance(meta, len(ResultStore(results).files()), objs)
    text = report.render_table(
        rows, list(rows.columns), cast(report.TableFormat, fmt), prov, precision=precision
    )
    note = _sidecar_note(fmt, output, rows, list(rows.columns), prov, f"query: {sql}")
    _emit(note + text, output, len(rows))


# ------------------------------------------------------------------ export


@app.command()
def export(
    results: Annotated[Path, typer.Argument(help="results folder")],
    fmt: Annotated[str, typer.Option("--format", help="latex, csv or markdown")] = "latex",
    objectives: Annotated[
        str | None, typer.Option(help="objectives of the front (default: the study's)")
    ] = None,
    where: Annotated[str | None, typer.Option(help="SQL filter on the rows")] = None,
    columns: Annotated[
        str | None, typer.Option(help="comma list of columns (default: searched parameters + objectives)")
    ] = None,
    front_of: Annotated[
        str, typer.Option(help="'study': the front of every objective; 'shown': of those among --columns")
    ] = "study",
    precision: Annotated[int, typer.Option(min=1, help="significant figures (csv keeps every digit)")] = 3,
    all_rows: Annotated[bool, typer.Option("--all", help="every complete row, not only the front")] = False,
    caption: Annotated[
        str | None, typer.Option(help="LaTeX caption (default: a sentence about the study)")
    ] = None,
    width: Annotated[
        str, typer.Option(help="latex: fit one 'column' (table) or the 'page' (table*)")
    ] = "column",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file (default: stdout)")
    ] = None,
    include_stopped: Annotated[bool, typer.Option("--include-stopped", help=INCLUDE_STOPPED_HELP)] = False,
) -> None:
    """The paper table of the front (or of all rows): fits a column, provenance stamped, best values
    in bold, the columns equal in every row said once in the caption."""
    fmt = choice("--format", fmt, TABLE_FORMATS)
    width = choice("--width", width, ("column", "page"))
    front_of = choice("--front-of", front_of, ("study", "shown"))
    meta, done, objs = analysis_rows(results, objectives, where, include_stopped)
    names = _table_columns(
        meta, done, objs, columns, "epochs_done" if include_stopped and columns is None else None
    )
    require_rows(done, objs, where)
    defining = _front_of(front_of, done, objs, names)
    frame = best_first(done if all_rows else pa.pareto_front(done, defining), defining)
    prov = _provenance(meta, len(done), defining)
    best = {o.name: o.direction for o in defining}
    what = "All complete designs" if all_rows else "Pareto-optimal designs"
    title = caption if caption is not None else report.caption(prov, what)
    label_name = output.stem if output is not None else f"{prov.study}-{'all' if all_rows else 'front'}"
    text = report.render_table(
        frame, names, cast(report.TableFormat, fmt), prov, precision, best, title,
        label_name=label_name, width=cast(report.Width, width), keep=[o.name for o in defining],
    )  # fmt: skip
    if "\\resizebox" in text:
        err.print(f"note: {len(names)} columns do not fit --width {width} at 7 pt; the table is scaled down "
                  "(fewer --columns or --width page keep the font size)", highlight=False)  # fmt: skip
    notes = "all complete rows" if all_rows else f"Pareto front {_front_words(defining)}"
    notes += f"; filter: {where}" if where else ""
    _emit(_sidecar_note(fmt, output, frame, names, prov, notes) + text, output, len(frame))


# ------------------------------------------------------------------ presets


from dse.cli import figures  # noqa: E402, F401  (registers `dse plot`)
