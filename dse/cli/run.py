"""Command line: ``dse run | status | pareto | query | plot | export | devices | spaces``.

Exit codes: 0 success, 2 bad input (reported before any work starts), 1 any other failure.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from dse.analysis import pareto as pa
from dse.cli.common import (
    BadInput,
    app,
    bad_input,
    console,
    err,
    print_front,
)
from dse.engine.space import SAMPLERS

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
    from dse.engine.fidelity import NO_FIDELITY_SAMPLERS, allowed_samplers

    if space.fidelity is not None and changes.get("sampler") in NO_FIDELITY_SAMPLERS:
        raise BadInput(
            f"--sampler: {changes['sampler']!r} cannot use the space's fidelity = {space.fidelity!r}: "
            f"{NO_FIDELITY_SAMPLERS[changes['sampler']]}; allowed with a fidelity: {allowed_samplers()}"
        )
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
        typer.Option(help="trained-weights cache, shared by off-chip trials (default: OUT/_cache)"),
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
    from dse.engine import netns

    if netns.wanted(address, storage, executor):
        if netns.available():  # the same run, in a network namespace of its own: Ray on loopback only
            argv = ["run", str(space_file), "--out", str(out_dir)]
            for flag, value in (
                ("--trials", trials),
                ("--workers", workers),
                ("--sampler", sampler),
                ("--seed", seed),
                ("--cpus-per-trial", cpus_per_trial),
                ("--gpus-per-trial", gpus_per_trial),
                ("--cache-dir", cache_dir),
            ):
                argv += [flag, str(value)] if value is not None else []
            argv += ["--no-cache"] * no_cache + ["--resume"] * resume
            raise typer.Exit(netns.rerun_isolated(argv))
        err.print(
            "warning: no user namespace could be made here, so the local Ray listens on every "
            f"interface (set RAY_AUTH_MODE=token on shared machines; {netns.OPT_OUT}=1 hides this)",
            highlight=False,
        )
    console.print(
        f"[bold]{space.name}[/]: {space.trials} trials, sampler {space.sampler}, "
        f"{space.workers} workers ({executor}), results in {out_dir}"
        + (", Ray on loopback only (private network namespace)" if os.environ.get(netns.ISOLATED) else "")
    )
    result = _run_checked(space, plan, out_dir, storage, address, executor, resume, cache_dir, no_cache)
    console.print(
        f"complete {result.complete}, failed {result.failed}"
        + (f", stopped {result.stopped} (below the last rung)" if space.fidelity else "")
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
    from dse.engine import netns

    if os.environ.get(netns.ISOLATED) == "1":
        netns.loopback_up()
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        err.print("starting Ray…" if executor == "ray" else "starting…", highlight=False)
        try:
            runner = make_executor(executor, plan.datasets, resources, address)
        except (InsufficientResources, ConnectionError) as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
        progress_cb, bar = _progress_bar(space)
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


def _progress_bar(
    space: SearchSpace | None = None,
) -> tuple[Callable[[StudyProgress, TrialRecord | None], None], Progress]:
    """A bar that reads "starting Ray…" until the first trial ends, then shows running, complete and
    failed counts, elapsed time, an ETA and the best normalized hypervolume so far."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=err,
        transient=False,
    )
    task = bar.add_task("starting Ray…", total=None, status="")
    objectives = tuple(space.objectives) if space is not None else ()
    workers = space.workers if space is not None else 1
    rows: list[dict[str, float]] = []

    def update(p: StudyProgress, rec: TrialRecord | None) -> None:
        if rec is not None and rec.status == "complete" and objectives:
            rows.append({o.name: float(rec.metrics.get(o.name, float("nan"))) for o in objectives})
        hv = ""
        if len(rows) >= 2:
            import pandas as pd

            frame = pd.DataFrame(rows)
            if len(pa.objective_matrix(frame, objectives)[0]):
                hv = f" · HV {pa.hypervolume(frame, objectives, normalize=True).value:.3f}"
        ended = p.complete + p.failed + p.stopped
        running = max(0, min(workers, p.total - ended))
        last = ""
        if rec is not None and rec.status == "failed":
            reason = str(rec.error or "").strip().splitlines() or [""]
            last = f" · last failure #{rec.trial_number}: {reason[0][:50]}"
        stopped = f" · stopped {p.stopped}" if p.stopped else ""
        status = f"running {running} · complete {p.complete}{stopped} · failed {p.failed}{hv}{last}"
        bar.update(task, description="trials", total=p.total, completed=ended, status=status)

    return update, bar


def main() -> None:
    """Entry point: map bad input to exit 2 and other failures to exit 1."""
    try:
        app()
    except BadInput as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


from dse.cli import analysis, catalog, compare, folder, hardware, importance, replay  # noqa: E402, F401  (they register their commands)
