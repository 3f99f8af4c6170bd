"""Commands on a results folder as it stands: ``dse status`` (counts, failures, the front so far)
and ``dse compact`` (merge Parquet parts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from dse.analysis import pareto as pa
from dse.analysis import report
from dse.cli.common import (
    app,
    bad_input,
    console,
    default_columns,
    err,
    failure_reasons,
    hypervolume_text,
    load_rows,
    parse_objectives_option,
    warn_constant_objectives,
)
from dse.results.store import ResultStore


@app.command()
def status(results: Annotated[Path, typer.Argument(help="results folder")]) -> None:
    """Counts (complete, failed, running), why trials failed, best trade-offs and normalized
    hypervolume so far."""
    meta, df = load_rows(results)
    objs = parse_objectives_option(None, meta)
    running = _running_count(results, meta)
    counts = df["status"].value_counts().to_dict()
    where = f"[bold]{escape(str(meta['study']))}[/] ({escape(str(results))})"
    others = "".join(f", {s} {n}" for s, n in sorted(counts.items()) if s not in ("complete", "failed"))
    console.print(
        f"{where}: complete {counts.get('complete', 0)}, failed {counts.get('failed', 0)}{others}, "
        f"running {running}, budget {meta['trials']}"
        + (f" trials, {meta['budget_epochs']} epochs" if meta.get("budget_epochs") else "")
    )
    failed = df[df["status"] == "failed"]
    if not failed.empty:
        console.print("failed trials, by reason:")
        for reason, trials in failure_reasons(failed):
            shown = ", ".join(f"#{t}" for t in trials[:8]) + (", …" if len(trials) > 8 else "")
            console.print(f"  {len(trials)} × {escape(reason)} ({shown})", highlight=False)
    done = df[df["status"] == "complete"]
    if done.empty:
        return
    console.print(hypervolume_text(pa.hypervolume(done, objs, normalize=True)), highlight=False)
    front = pa.pareto_front(done, objs)
    knees = pa.knee_points(done, objs, k=min(3, len(front)))
    console.print(
        report.rich_table(
            knees,
            default_columns(meta, done, objs),
            f"best trade-offs (knee points of {len(front)} on the front)",
            keep=[o.name for o in objs],
        )
    )
    warn_constant_objectives(done, objs)


def _running_count(results: Path, meta: dict[str, Any]) -> int:
    """Trials left RUNNING: read from the journal file directly (no Optuna import), or from the
    database through Optuna. A damaged journal is an error naming the file and line (exit 1)."""
    from dse.results.folder import JOURNAL_FILE, JournalCorrupt, running_trials

    if not meta.get("storage"):
        journal = next(
            (results / n for n in (JOURNAL_FILE, "optuna.journal") if (results / n).is_file()), None
        )
        if journal is None:
            return 0
        try:
            return running_trials(journal, meta["study"])
        except JournalCorrupt as exc:
            err.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
    import optuna
    from optuna.trial import TrialState

    study = optuna.load_study(study_name=meta["study"], storage=meta["storage"])
    return len(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


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
