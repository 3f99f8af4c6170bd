"""Command line: ``dse run | status | pareto | query | plot | export | devices | spaces``.

Exit codes: 0 success, 2 bad input (reported before any work starts), 1 any other failure.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Hashable, Iterable, Sequence
from pathlib import Path
from typing import Annotated, Any, cast

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dse import pareto as pa
from dse import query as q
from dse import report
from dse.data import DataError, load_dataset
from dse.executor import Resources, make_executor
from dse.space import SAMPLERS, SearchSpace, SpaceError, load_space
from dse.store import ResultStore, TrialRecord
from dse.study import Progress as StudyProgress
from dse.study import StudyMismatch, read_study_file, run_study

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Design-space exploration of analog in-memory-computing neural network hardware.",
)
console = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)

SUMMARY_COLUMNS = (
    "trial_number",
    "device",
    "tile_rows",
    "adc_bits",
    "dac_bits",
    "width_mult",
    "update_bits",
    "mode",
)
TABLE_FORMATS = ("csv", "markdown", "latex")
PLOT_KINDS = ("front", "parallel", "progress", "read-time", "hardware")
FIGURE_FORMATS = ("png", "pdf", "html")
READ_TIME_COLUMNS = tuple(f"accuracy_t_{t}{s}" for t in ("1s", "1h", "1d", "1y") for s in ("", "_gdc"))


class BadInput(Exception):
    """Bad input from the user: exit 2 with the message."""


def _bad(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def _override(space: SearchSpace, **flags: Any) -> SearchSpace:
    changes = {k: v for k, v in flags.items() if v is not None}
    if "sampler" in changes and changes["sampler"] not in SAMPLERS:
        raise BadInput(f"--sampler: {changes['sampler']!r} is not a sampler; allowed: {', '.join(SAMPLERS)}")
    for key in ("trials", "workers"):
        if key in changes and changes[key] < 1:
            raise BadInput(f"--{key}: must be ≥ 1, got {changes[key]}")
    if changes.get("sampler", space.sampler) != space.sampler:
        changes["sampler_options"] = ()  # the file's [sampler] options belong to the file's sampler
    return dataclasses.replace(space, **changes)


@app.command()
def run(
    space_file: Annotated[Path, typer.Argument(metavar="SPACE", help="search space TOML file")],
    trials: Annotated[int | None, typer.Option(help="total trials of the study (overrides the file)")] = None,
    workers: Annotated[int | None, typer.Option(help="trials in flight at once")] = None,
    sampler: Annotated[str | None, typer.Option(help=f"one of {', '.join(SAMPLERS)}")] = None,
    seed: Annotated[int | None, typer.Option(help="sampler and training seed")] = None,
    out: Annotated[Path | None, typer.Option(help="results folder (default: results/<study name>)")] = None,
    storage: Annotated[
        str | None, typer.Option(help="Optuna storage URL (default: journal file in --out)")
    ] = None,
    address: Annotated[str | None, typer.Option(help="Ray cluster to join: auto or host:port")] = None,
    executor: Annotated[str, typer.Option(help="ray or local (in-process, for debugging)")] = "ray",
    cpus_per_trial: Annotated[float | None, typer.Option(help="CPUs per trial")] = None,
    gpus_per_trial: Annotated[float | None, typer.Option(help="GPUs per trial")] = None,
    resume: Annotated[bool, typer.Option(help="continue an existing study (error if there is none)")] = False,
) -> None:
    """Run (or continue) a study and print its Pareto front."""
    try:
        space = _override(
            load_space(space_file),
            trials=trials,
            workers=workers,
            sampler=sampler,
            seed=seed,
            cpus_per_trial=cpus_per_trial,
            gpus_per_trial=gpus_per_trial,
        )
        if executor not in ("ray", "local"):
            raise BadInput(f"--executor: {executor!r}; allowed: ray, local")
        if space.sampler == "grid" and trials is None:
            space = dataclasses.replace(space, trials=space.grid_size())
        fixed = space.fixed_params()
        data = load_dataset(fixed.get("dataset", "digits"), fixed.get("data_path") or None, seed=space.seed)
    except (SpaceError, DataError, BadInput) as exc:
        raise _bad(str(exc)) from None
    out_dir = out or Path("results") / space.name
    resources = Resources(
        workers=space.workers,
        cpus_per_trial=space.cpus_per_trial,
        gpus_per_trial=space.gpus_per_trial,
        max_retries=space.max_retries,
    )
    console.print(
        f"[bold]{space.name}[/]: {space.trials} trials, sampler {space.sampler}, "
        f"{space.workers} workers ({executor}), results in {out_dir}"
    )
    try:
        progress_cb, bar = _progress_bar()
        with bar:
            result = run_study(
                space,
                make_executor(executor, data, resources, address),
                out_dir,
                storage,
                resume=resume,
                workers=space.workers,
                on_progress=progress_cb,
            )
    except StudyMismatch as exc:
        raise _bad(str(exc)) from None
    console.print(
        f"complete {result.complete}, failed {result.failed}"
        + (f", recovered {result.recovered} stale" if result.recovered else "")
    )
    _print_front(out_dir, [f"{o.name}:{o.direction.value}" for o in space.objectives])


def _progress_bar() -> tuple[Callable[[StudyProgress, TrialRecord | None], None], Progress]:
    bar = Progress(
        TextColumn("trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    task = bar.add_task("trials", total=1, status="")

    def update(p: StudyProgress, rec: TrialRecord | None) -> None:
        last = ""
        if rec is not None and rec.status == "failed":
            last = f" last failure: #{rec.trial_number} {str(rec.error)[:60]}"
        bar.update(task, total=p.total, completed=p.complete + p.failed, status=f"failed {p.failed}{last}")

    return update, bar


def _load_rows(results: Path) -> tuple[dict[str, Any], Any]:
    try:
        meta = read_study_file(results)
    except FileNotFoundError as exc:
        raise _bad(str(exc)) from None
    return meta, ResultStore(results).read()


def _objectives(spec: str | None, meta: dict[str, Any]) -> tuple[pa.Objective, ...]:
    try:
        return pa.parse_objectives(spec or ",".join(meta["objectives"]))
    except ValueError as exc:
        raise _bad(f"--objectives: {exc}") from None


def _print_front(results: Path, objectives: list[str]) -> None:
    meta, df = _load_rows(results)
    objs = _objectives(",".join(objectives), meta)
    done = df[df["status"] == "complete"]
    if done.empty:
        console.print("no complete trials yet")
        return
    front = pa.pareto_front(done, objs).sort_values(
        objs[0].name, ascending=objs[0].direction.value == "minimize"
    )
    columns = [*SUMMARY_COLUMNS, *(o.name for o in objs)]
    console.print(
        report.rich_table(
            front, columns, f"Pareto front of {meta['study']} ({len(front)} of {len(done)} complete trials)"
        )
    )


@app.command()
def status(results: Annotated[Path, typer.Argument(help="results folder")]) -> None:
    """Counts (complete, failed, running), best trade-offs and hypervolume so far."""
    meta, df = _load_rows(results)
    objs = _objectives(None, meta)
    running = _running_count(results, meta)
    counts = df["status"].value_counts().to_dict()
    console.print(
        f"[bold]{meta['study']}[/] ({results}): complete {counts.get('complete', 0)}, "
        f"failed {counts.get('failed', 0)}, running {running}, budget {meta['trials']}"
    )
    done = df[df["status"] == "complete"]
    if done.empty:
        return
    hv = pa.hypervolume(done, objs)
    ref = ", ".join(f"{k}={v:.4g}" for k, v in hv.reference.items())
    console.print(f"hypervolume {hv.value:.6g} (reference point: {ref})")
    front = pa.pareto_front(done, objs)
    knees = pa.knee_points(done, objs, k=min(3, len(front)))
    console.print(
        report.rich_table(
            knees,
            [*SUMMARY_COLUMNS, *(o.name for o in objs)],
            f"best trade-offs (knee points of {len(front)} on the front)",
        )
    )


def _running_count(results: Path, meta: dict[str, Any]) -> int:
    import optuna
    from optuna.trial import TrialState

    from dse.study import open_storage

    try:
        storage = open_storage(results, meta.get("storage"))
        study = optuna.load_study(study_name=meta["study"], storage=storage)
        return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))
    except Exception:
        return 0


# ------------------------------------------------------------------ analysis: shared helpers


def _choice(option: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else exit 2 naming the option and the allowed values."""
    if value not in allowed:
        raise _bad(f"{option}: {value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def _split(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _check_columns(option: str, names: Iterable[str], df: pd.DataFrame, numeric: bool = False) -> None:
    """Exit 2 if a name is not a column of ``df`` (or not numeric), listing the allowed columns."""
    allowed = [str(c) for c in df.columns if not numeric or pd.api.types.is_numeric_dtype(df[c])]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        kind = "numeric column" if numeric else "column"
        raise _bad(f"{option}: unknown {kind}(s) {unknown}; allowed: {', '.join(allowed)}")


def _analysis_rows(
    results: Path, objectives: str | None, where: str | None
) -> tuple[dict[str, Any], pd.DataFrame, tuple[pa.Objective, ...]]:
    """Study metadata, the complete rows passing ``--where`` and the checked ``--objectives``."""
    meta, df = _load_rows(results)
    done = df[df["status"] == "complete"]
    objs = _objectives(objectives, meta)
    _check_columns("--objectives", [o.name for o in objs], done, numeric=True)
    if where:
        try:
            done = q.filter_rows(done, where)
        except ValueError as exc:
            raise _bad(f"--where: {exc}") from None
    return meta, done, objs


def _require_rows(done: pd.DataFrame, objs: Sequence[pa.Objective], where: str | None) -> None:
    """Exit (2 with a filter, else 1) when no complete row has finite values of every objective."""
    if len(pa.objective_matrix(done, objs)[0]):
        return
    what = f"no complete trial with finite {', '.join(o.name for o in objs)}"
    if where:
        raise _bad(f"--where: {what} matches {where!r}")
    err.print(f"[bold red]error:[/] {what} yet", highlight=False)
    raise typer.Exit(1)


def _best_first(df: pd.DataFrame, objs: Sequence[pa.Objective], ranks: bool = False) -> pd.DataFrame:
    """Rows sorted best-first by the first objective (within non-domination rank if ``ranks``)."""
    keys = ["pareto_rank"] if ranks else []
    ascending = [True] if ranks else []
    return df.sort_values(
        [*keys, objs[0].name],
        ascending=[*ascending, not objs[0].direction.maximise],
        kind="stable",
        na_position="last",
    )


def _ranked(rows: pd.DataFrame, objs: Sequence[pa.Objective]) -> pd.DataFrame:
    return rows.assign(pareto_rank=pa.pareto_ranks(rows, objs))


def _table_columns(objs: Sequence[pa.Objective], *extra: str | None, first: str | None = None) -> list[str]:
    names = [first, *SUMMARY_COLUMNS, *(o.name for o in objs), *extra]
    return list(dict.fromkeys(n for n in names if n))


def _reference(point: dict[str, float]) -> str:
    return ", ".join(f"{k}={v:.4g}" for k, v in point.items())


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
    fmt: Annotated[str, typer.Option("--format", help="table, csv, markdown or latex")] = "table",
    precision: Annotated[int, typer.Option(min=0, help="decimals in csv/markdown/latex")] = 3,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
) -> None:
    """Print (or write) the non-dominated rows and their hypervolume, optionally filtered and grouped."""
    fmt = _choice("--format", fmt, ("table", *TABLE_FORMATS))
    meta, done, objs = _analysis_rows(results, objectives, where)
    if by is not None:
        _check_columns("--by", [by], done)
    _require_rows(done, objs, where)
    shared = pa.default_reference(done, objs)  # one reference for every group, so the volumes compare
    if by is None:
        groups: list[tuple[Hashable, pd.DataFrame]] = [(None, done)]
        fronts = {None: pa.pareto_front(done, objs)}
        hvs = {None: pa.hypervolume(done, objs, shared)}
    else:
        groups = list(done.groupby(by, sort=True, dropna=False))
        fronts, hvs = pa.fronts_by(done, objs, by), pa.hypervolume_by(done, objs, by, shared)
    tables = [  # (group, rows to show, rows in the group, hypervolume of the group)
        (key, _best_first(_ranked(rows, objs) if ranks else front, objs, ranks), len(rows), hv.value)
        for (key, rows), front, hv in zip(groups, fronts.values(), hvs.values(), strict=True)
    ]
    columns = _table_columns(objs, "pareto_rank" if ranks else None, first=by)
    best = {o.name: o.direction for o in objs}
    what = "rows by non-domination rank" if ranks else "Pareto front"
    if fmt == "table" and output is None:
        for key, table, size, volume in tables:
            title = f"{what}{'' if by is None else f', {by} = {key}'} ({len(table)} of {size})"
            console.print(report.rich_table(table, columns, title, best=best))
            console.print(f"hypervolume {volume:.6g}")
        console.print(f"hypervolume reference point: {_reference(shared)}")
        return
    fmt = "csv" if fmt == "table" else fmt
    if by is None:
        frame = tables[0][1]
        notes = f"{what}; hypervolume {tables[0][3]:.6g} at reference point {_reference(shared)}"
    else:
        frame = pd.concat([table.assign(hypervolume=volume) for _, table, _, volume in tables])
        columns.append("hypervolume")
        notes = f"{what} per {by}; hypervolume of each {by} at one reference point {_reference(shared)}"
    if where:
        notes += f"; filter: {where}"
    prov = _provenance(meta, len(done), objs)
    text = report.render_table(
        frame, columns, cast(report.TableFormat, fmt), prov, precision=precision, best=best
    )
    _emit(_note(fmt, notes) + text, output, len(frame))


# ------------------------------------------------------------------ query


@app.command()
def query(
    results: Annotated[Path, typer.Argument(help="results folder")],
    sql: Annotated[str, typer.Argument(metavar="SQL", help="DuckDB SQL over the view `trials`")],
    fmt: Annotated[str, typer.Option("--format", help="table, csv or markdown")] = "table",
    precision: Annotated[int, typer.Option(min=0, help="decimals for floats")] = 3,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="write to this file")] = None,
) -> None:
    """Run SQL (DuckDB) over the study's Parquet parts, e.g. ``SELECT device, max(accuracy) FROM trials
    GROUP BY device``."""
    fmt = _choice("--format", fmt, ("table", "csv", "markdown"))
    try:
        rows = q.sql(results, sql)
    except FileNotFoundError as exc:
        raise _bad(f"RESULTS: {exc}") from None
    except ValueError as exc:
        raise _bad(f"SQL: {exc}") from None
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
    _emit(_note(fmt, f"query: {sql}") + text, output, len(rows))


# ------------------------------------------------------------------ plot


def _trial_numbers(spec: str, done: pd.DataFrame) -> pd.DataFrame:
    """The complete rows of ``--trials 3,5``, in the order given."""
    try:
        numbers = [int(t) for t in _split(spec)]
    except ValueError:
        raise _bad(f"--trials: {spec!r}; expected trial numbers like 3,5") from None
    available = set(done["trial_number"])
    missing = [n for n in numbers if n not in available]
    if missing or not numbers:
        allowed = ", ".join(map(str, sorted(available)))
        raise _bad(f"--trials: no complete trial(s) {missing}; allowed: {allowed}")
    return done.set_index("trial_number", drop=False).loc[numbers]


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
    trials: Annotated[str | None, typer.Option(help="read-time: these trial numbers, e.g. 3,5")] = None,
    top: Annotated[
        int, typer.Option(min=1, help="read-time: the best front designs by the first objective")
    ] = 3,
) -> None:
    """Paper figures (PNG/PDF/HTML): front, parallel, progress, read-time or hardware."""
    kind = _choice("KIND", kind, PLOT_KINDS)
    fmts: list[Any] = _split(formats)  # checked against FIGURE_FORMATS below
    bad_fmts = [f for f in fmts if f not in FIGURE_FORMATS]
    if bad_fmts or not fmts:
        raise _bad(f"--formats: {formats!r}; allowed: a comma list of {', '.join(FIGURE_FORMATS)}")
    _, done, objs = _analysis_rows(results, objectives, where)
    group = None if color_by.lower() == "none" else color_by
    if group is not None:
        _check_columns("--color-by", [group], done)
    if kind == "front":
        if objectives is not None and len(objs) != 2:
            raise _bad(f"--objectives: front needs exactly two objectives, got {len(objs)}")
        if len(objs) < 2:
            raise _bad("--objectives: front needs two objectives; the study has one")
        objs = objs[:2]
    _require_rows(done, objs, where)
    import dse.plot as figures  # matplotlib and plotly only when plotting

    folder = out or results / "figures"
    try:
        if kind == "front":
            stem = folder / f"front_{objs[0].name}_vs_{objs[1].name}"
            paths = figures.plot_pareto_2d(done, objs, stem, group, fmts)
        elif kind == "parallel":
            paths = figures.plot_parallel_coordinates(done, objs, folder / "parallel", group, fmts)
        elif kind == "progress":
            paths = figures.plot_hypervolume_history(done, objs, folder / "progress", fmts)
        elif kind == "read-time":
            chosen = (
                _trial_numbers(trials, done)
                if trials
                else _best_first(pa.pareto_front(done, objs), objs).head(top)
            )
            if chosen[list(READ_TIME_COLUMNS)].isna().all().all():
                raise _bad(
                    f"read-time: columns {', '.join(READ_TIME_COLUMNS)} are empty for trial(s) "
                    f"{list(chosen['trial_number'])}; this study recorded no accuracy after drift"
                )
            paths = figures.plot_accuracy_vs_read_time(chosen, folder / "read_time", formats=fmts)
        else:
            paths = figures.plot_accuracy_vs_hardware(
                done, folder / "hardware", by=group or "device", formats=fmts
            )
    except ValueError as exc:
        raise _bad(f"{kind}: {exc}") from None
    for path in paths:
        typer.echo(str(path))


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
        str | None, typer.Option(help="comma list of columns (default: design summary + objectives)")
    ] = None,
    precision: Annotated[int, typer.Option(min=0, help="decimals for floats")] = 3,
    all_rows: Annotated[bool, typer.Option("--all", help="every complete row, not only the front")] = False,
    caption: Annotated[str | None, typer.Option(help="LaTeX caption (default: from the provenance)")] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write to this file (default: stdout)")
    ] = None,
) -> None:
    """The paper table of the front (or of all rows): provenance stamped, best values in bold."""
    fmt = _choice("--format", fmt, TABLE_FORMATS)
    meta, done, objs = _analysis_rows(results, objectives, where)
    names = _split(columns) if columns else _table_columns(objs)
    if not names:
        raise _bad("--columns: empty; give a comma list of columns")
    _check_columns("--columns", names, done)
    _require_rows(done, objs, where)
    frame = _best_first(done if all_rows else pa.pareto_front(done, objs), objs)
    prov = _provenance(meta, len(done), objs)
    best = {o.name: o.direction for o in objs}
    text = report.render_table(frame, names, cast(report.TableFormat, fmt), prov, precision, best, caption)
    notes = f"{'all complete rows' if all_rows else 'Pareto front'}" + (f"; filter: {where}" if where else "")
    _emit(_note(fmt, notes) + text, output, len(frame))


# ------------------------------------------------------------------ presets


@app.command()
def devices(
    costs: Annotated[bool, typer.Option("--costs", help="also print the cost-model constants")] = False,
) -> None:
    """The device presets and their parameters (and, with --costs, the cited cost-model constants)."""
    from rich.table import Table

    from models.cost import constants_table
    from models.devices import DEVICES

    table = Table(title="Device presets (sources in models/devices.py and REFERENCES.md)")
    for col in ("name", "levels", "g_min µS", "g_max µS", "endurance", "write pJ", "write ns", "description"):
        table.add_column(col)
    for d in DEVICES.values():
        table.add_row(
            d.name,
            str(d.levels),
            f"{d.g_min_us:g}",
            f"{d.g_max_us:g}",
            f"{d.endurance_cycles:.0e}",
            f"{d.write_energy_pj:g}",
            f"{d.write_latency_ns:g}",
            d.description,
        )
    console.print(table)
    if costs:
        constants = Table(title="Cost-model constants (models/cost_constants.py; keys in REFERENCES.md)")
        for col, justify in (("name", "left"), ("value", "right"), ("unit", "left"), ("source", "left")):
            constants.add_column(col, justify=justify)
        for name, value, unit, source in constants_table():
            constants.add_row(name, f"{value:g}", unit, source)
        console.print(constants)


@app.command()
def spaces(
    folder: Annotated[Path, typer.Argument(help="folder of TOML spaces")] = Path("search_spaces"),
) -> None:
    """List the ready search spaces with their descriptions, validating each."""
    for path in sorted(folder.glob("*.toml")):
        try:
            space = load_space(path)
            console.print(f"[bold]{path}[/]: {space.description} ({space.trials} trials, {space.sampler})")
        except SpaceError as exc:
            console.print(f"[red]{exc}[/]")


def main() -> None:
    """Entry point: map bad input to exit 2 and other failures to exit 1."""
    try:
        app()
    except BadInput as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
