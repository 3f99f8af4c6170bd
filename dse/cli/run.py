"""Command line: ``dse run | status | pareto | query | plot | export | devices | spaces``.

Exit codes: 0 success, 2 bad input (reported before any work starts), 1 any other failure.
"""

from __future__ import annotations

import dataclasses
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from dse.analysis import pareto as pa
from dse.analysis import report
from dse.cli.common import (
    SUMMARY_COLUMNS,
    BadInput,
    app,
    bad_input,
    console,
    err,
    load_rows,
    parse_objectives_option,
    print_front,
)
from dse.engine.space import SAMPLERS
from dse.results.store import ResultStore

if TYPE_CHECKING:
    from dse.engine.space import SearchSpace
    from dse.engine.study import Progress as StudyProgress
    from dse.schema.record import TrialRecord


def _override(space: SearchSpace, **flags: Any) -> SearchSpace:
    changes = {k: v for k, v in flags.items() if v is not None}
    if "sampler" in changes and changes["sampler"] not in SAMPLERS:
        raise BadInput(f"--sampler: {changes['sampler']!r} is not a sampler; allowed: {', '.join(SAMPLERS)}")
    for key in ("trials", "workers"):
        if key in changes and changes[key] < 1:
            raise BadInput(f"--{key}: must be ≥ 1, got {changes[key]}")
    if changes.get("seed", 0) < 0:
        raise BadInput(f"--seed: must be ≥ 0, got {changes['seed']}")
    if "cpus_per_trial" in changes and not changes["cpus_per_trial"] > 0:
        raise BadInput(f"--cpus-per-trial: must be > 0, got {changes['cpus_per_trial']}")
    if "gpus_per_trial" in changes and not changes["gpus_per_trial"] >= 0:
        raise BadInput(f"--gpus-per-trial: must be ≥ 0, got {changes['gpus_per_trial']}")
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
    cache_dir: Annotated[
        Path | None,
        typer.Option(help="trained-weights cache, shared by off-chip trials (default: OUT/cache)"),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="always train; never reuse cached weights")
    ] = False,
    resume: Annotated[bool, typer.Option(help="continue an existing study (error if there is none)")] = False,
) -> None:
    """Run (or continue) a study and print its Pareto front.

    Everything is checked before Ray starts (exit 2, nothing written): the space, the options,
    the results folder, the storage URL, a resumed study and every dataset the space can ask for.
    """
    from dse.engine.journal import JournalCorrupt
    from dse.engine.preflight import PreflightError, preflight
    from dse.engine.space import SpaceError, load_space

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
        out_dir = out or Path("results") / space.name
        if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
            raise BadInput(f"--cache-dir: {str(cache_dir)!r} exists and is not a folder")
        if cache_dir is not None and not cache_dir.exists():
            above = next(p for p in cache_dir.absolute().parents if p.exists())
            if not above.is_dir():
                raise BadInput(
                    f"--cache-dir: {str(cache_dir)!r} cannot be made: {str(above)!r} is not a folder"
                )
        plan = preflight(space, out_dir, storage, resume=resume)
    except (SpaceError, PreflightError, BadInput) as exc:
        raise bad_input(str(exc)) from None
    except JournalCorrupt as exc:  # a damaged journal is no bad input: exit 1, naming file and line
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    if plan.finished:
        console.print(
            f"[bold]{space.name}[/]: all {space.trials} trials are recorded in {out_dir}; nothing to run"
        )
        print_front(out_dir, [f"{o.name}:{o.direction.value}" for o in space.objectives])
        return
    console.print(
        f"[bold]{space.name}[/]: {space.trials} trials, sampler {space.sampler}, "
        f"{space.workers} workers ({executor}), results in {out_dir}"
    )
    result = _run_checked(space, plan, out_dir, storage, address, executor, resume, cache_dir, no_cache)
    console.print(
        f"complete {result.complete}, failed {result.failed}"
        + (f", recovered {result.recovered} stale" if result.recovered else "")
    )
    print_front(out_dir, [f"{o.name}:{o.direction.value}" for o in space.objectives])


def _run_checked(
    space: Any,
    plan: Any,
    out_dir: Path,
    storage: str | None,
    address: str | None,
    executor: str,
    resume: bool,
    cache_dir: Path | None,
    no_cache: bool,
) -> Any:
    """Start Ray (or the local executor) and drive the study; SIGTERM stops it like Ctrl-C."""
    from dse.engine.executor import InsufficientResources, Resources, make_executor
    from dse.engine.journal import JournalCorrupt
    from dse.engine.study import StudyMismatch, run_study
    from dse.results.folder import CACHE_DIR

    resources = Resources(
        workers=space.workers,
        cpus_per_trial=space.cpus_per_trial,
        gpus_per_trial=space.gpus_per_trial,
        max_retries=space.max_retries,
    )
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        err.print("starting Ray…" if executor == "ray" else "starting…", highlight=False)
        try:
            runner = make_executor(executor, plan.datasets, resources, address)
        except (InsufficientResources, ConnectionError) as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
        progress_cb, bar = _progress_bar()
        with bar:
            return run_study(
                space,
                runner,
                out_dir,
                storage,
                resume=resume,
                workers=space.workers,
                on_progress=progress_cb,
                cache_dir=None if no_cache else (cache_dir or out_dir / CACHE_DIR).resolve(),
            )
    except StudyMismatch as exc:
        raise bad_input(str(exc)) from None
    except JournalCorrupt as exc:
        err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: object) -> None:
    """SIGTERM: unwind like Ctrl-C, so the executor shuts Ray down and written rows stay."""
    raise KeyboardInterrupt(f"signal {signum}")


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


@app.command()
def status(results: Annotated[Path, typer.Argument(help="results folder")]) -> None:
    """Counts (complete, failed, running), best trade-offs and hypervolume so far."""
    meta, df = load_rows(results)
    objs = parse_objectives_option(None, meta)
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
    """Trials left RUNNING: read from the journal file directly (no Optuna import), or from the
    database through Optuna. A damaged journal is an error naming the file and line (exit 1)."""
    from dse.results.folder import JOURNAL_FILE, JournalDamaged, running_trials

    if not meta.get("storage"):
        journal = next(
            (results / n for n in (JOURNAL_FILE, "optuna.journal") if (results / n).is_file()), None
        )
        if journal is None:
            return 0
        try:
            return running_trials(journal, meta["study"])
        except JournalDamaged as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=meta["study"], storage=meta["storage"])
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


# ------------------------------------------------------------------ analysis: shared helpers


@app.command()
def devices(
    costs: Annotated[bool, typer.Option("--costs", help="also print the cost-model constants")] = False,
) -> None:
    """The device presets and their parameters (and, with --costs, the cited cost-model constants)."""
    from rich.table import Table

    from models.cost.model import constants_table
    from models.physics.devices import DEVICES

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
def params(
    group: Annotated[
        str | None, typer.Option(help="only this group: hardware, network, train, data, cost")
    ] = None,
) -> None:
    """Every search parameter: group, type, default, allowed values, and what it does."""
    from rich.table import Table

    from dse.schema.point import GROUPS, PARAMETERS, allowed_text

    if group is not None and group not in GROUPS:
        raise bad_input(f"--group: {group!r}; allowed: {', '.join(GROUPS)}")
    table = Table(title="Search parameters (set in a space's \\[params]; declared in models/config.py)")
    for col in ("name", "group", "type", "default", "allowed", "acts in", "doc"):
        table.add_column(col)
    for p in PARAMETERS.values():
        if group is None or p.group == group:
            where = "analog devices" if p.analog_only else ""
            where = ", ".join(filter(None, [where, " ".join(p.modes)])) or "all"
            table.add_row(p.name, p.group, p.kind, repr(p.default), allowed_text(p.name), where, p.doc)
    console.print(table)


@app.command()
def spaces(
    folder: Annotated[Path, typer.Argument(help="folder of TOML spaces")] = Path("search_spaces"),
) -> None:
    """List the ready search spaces with their descriptions, validating each (exit 2 if one is invalid)."""
    from dse.engine.space import SpaceError, load_space

    if not folder.is_dir():
        raise bad_input(f"FOLDER: {str(folder)!r} is not a folder of TOML search spaces")
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise bad_input(f"FOLDER: {str(folder)!r} holds no *.toml search space")
    broken = []
    for path in paths:
        try:
            space = load_space(path)
            console.print(f"[bold]{path}[/]: {space.description} ({space.trials} trials, {space.sampler})")
        except SpaceError as exc:
            console.print(f"[red]{exc}[/]")
            broken.append(path.name)
    if broken:
        raise bad_input(
            f"{len(broken)} of {len(paths)} spaces in {str(folder)!r} are invalid: {', '.join(broken)}"
        )


@app.command()
def compact(
    results: Annotated[Path, typer.Argument(help="results folder")],
    max_rows: Annotated[int, typer.Option(help="rows per merged part")] = 100_000,
) -> None:
    """Merge the per-trial Parquet parts into a few large ones; every reader sees the same rows."""
    load_rows(results)  # a results folder, or exit 2
    if max_rows < 1:
        raise bad_input(f"--max-rows: must be ≥ 1, got {max_rows}")
    before, after = ResultStore(results).compact(max_rows=max_rows)
    console.print(f"{results}: {before} part files → {after}")


def main() -> None:
    """Entry point: map bad input to exit 2 and other failures to exit 1."""
    try:
        app()
    except BadInput as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


from dse.cli import analysis, hardware  # noqa: E402, F401  (register pareto … export; cost and cite)
