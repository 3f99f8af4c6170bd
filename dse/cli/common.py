"""Shared pieces of the command line: the typer app, consoles, bad-input exits and results loading."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import typer
from rich.console import Console
from rich.markup import escape

from dse.analysis import pareto as pa
from dse.analysis import report
from dse.results.folder import read_study_file
from dse.results.store import ResultStore

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
"""Design columns shown when the study file does not say which parameters were searched."""
TABLE_FORMATS = ("csv", "markdown", "latex")
PLOT_KINDS = ("front", "parallel", "progress", "read-time", "hardware", "breakdown")
FIGURE_FORMATS = ("png", "pdf", "html")


class BadInput(Exception):
    """Bad input from the user: exit 2 with the message."""


def bad_input(message: str) -> typer.Exit:
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    return typer.Exit(2)


def load_rows(results: Path) -> tuple[dict[str, Any], Any]:
    try:
        meta = read_study_file(results)
    except FileNotFoundError as exc:
        raise bad_input(str(exc)) from None
    return meta, ResultStore(results).read()


def parse_objectives_option(spec: str | None, meta: dict[str, Any]) -> tuple[pa.Objective, ...]:
    try:
        return pa.parse_objectives(spec or ",".join(meta["objectives"]))
    except ValueError as exc:
        raise bad_input(f"--objectives: {exc}") from None


def searched_parameters(meta: dict[str, Any]) -> list[str] | None:
    """The parameters the study's space searched (not fixed), from ``_study.json``; None for a
    folder written before the space was recorded."""
    space = meta.get("space")
    if not isinstance(space, dict) or "domains" not in space:
        return None
    return [d["name"] for d in space["domains"] if d.get("kind") != "fixed"]


def default_columns(meta: dict[str, Any], df: Any, objectives: Sequence[pa.Objective]) -> list[str]:
    """Trial number, the searched parameters and the objectives (the design summary for folders
    that do not record their space)."""
    searched = searched_parameters(meta)
    design = SUMMARY_COLUMNS[1:] if searched is None else searched
    names = ["trial_number", *design, *(o.name for o in objectives)]
    return [n for n in dict.fromkeys(names) if n in df.columns]


def hypervolume_text(hv: pa.HypervolumeResult) -> str:
    """ "hypervolume 0.874 (normalized; reference point ..., ideal point ...)": the one scale the
    CLI, the figures and ``dse compare`` print."""
    ref = ", ".join(f"{k}={v:.4g}" for k, v in hv.reference.items())
    ideal = ", ".join(f"{k}={v:.4g}" for k, v in (hv.ideal or {}).items())
    return f"normalized hypervolume {hv.value:.4f} (reference point: {ref}; ideal point: {ideal})"


def failure_reasons(failed: Any) -> list[tuple[str, list[int]]]:
    """Failed trials grouped by the first line of their error, most frequent first."""
    groups: dict[str, list[int]] = {}
    for number, error in zip(failed["trial_number"], failed["error"], strict=True):
        reason = str(error).strip().splitlines()[0][:200] if isinstance(error, str) and error.strip() else "?"
        groups.setdefault(reason, []).append(int(number))
    return sorted(((r, sorted(t)) for r, t in groups.items()), key=lambda item: (-len(item[1]), item[0]))


def constant_objectives(done: Any, objectives: Sequence[pa.Objective]) -> list[str]:
    """A sentence for each objective with one value over two complete trials or more: it cannot rank
    designs ("max_writes_per_device is 1 for all 40 trials: it does not rank designs")."""
    out = []
    for obj in objectives:
        values = done[obj.name].dropna() if obj.name in done.columns else []
        if len(values) >= 2 and values.nunique() == 1:
            value = f"{values.iloc[0]:.6g}"
            out.append(f"{obj.name} is {value} for all {len(values)} trials: it does not rank designs")
    return out


def warn_constant_objectives(done: Any, objectives: Sequence[pa.Objective]) -> None:
    for sentence in constant_objectives(done, objectives):
        err.print(f"[bold yellow]warning:[/] {escape(sentence)}", highlight=False)


def print_front(results: Path, objectives: list[str]) -> None:
    meta, df = load_rows(results)
    objs = parse_objectives_option(",".join(objectives), meta)
    done = df[df["status"] == "complete"]
    if done.empty:
        console.print("no complete trials yet")
        return
    front = pa.pareto_front(done, objs).sort_values(
        objs[0].name, ascending=objs[0].direction.value == "minimize"
    )
    names = ", ".join(o.name for o in objs)
    title = f"Pareto front of {meta['study']} over {names} ({len(front)} of {len(done)} complete trials)"
    keep = [o.name for o in objs]
    console.print(report.rich_table(front, default_columns(meta, done, objs), title, keep=keep))
    console.print(hypervolume_text(pa.hypervolume(done, objs, normalize=True)), highlight=False)
    warn_constant_objectives(done, objs)


def choice(option: str, value: str, allowed: Sequence[str]) -> str:
    """``value`` if it is one of ``allowed``, else exit 2 naming the option and the allowed values."""
    if value not in allowed:
        raise bad_input(f"{option}: {value!r} is not allowed; allowed: {', '.join(allowed)}")
    return value


def split_list(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def check_columns(option: str, names: Iterable[str], df: pd.DataFrame, numeric: bool = False) -> None:
    """Exit 2 if a name is not a column of ``df`` (or not numeric), listing the allowed columns."""
    allowed = [str(c) for c in df.columns if not numeric or pd.api.types.is_numeric_dtype(df[c])]
    unknown = [n for n in names if n not in allowed]
    if unknown:
        kind = "numeric column" if numeric else "column"
        raise bad_input(f"{option}: unknown {kind}(s) {unknown}; allowed: {', '.join(allowed)}")


INCLUDE_STOPPED_HELP = (
    "also rows a multi-fidelity study stopped at a lower rung (their metrics after epochs_done epochs); "
    "by default only full-fidelity rows count"
)


def analysis_rows(
    results: Path, objectives: str | None, where: str | None, include_stopped: bool = False
) -> tuple[dict[str, Any], pd.DataFrame, tuple[pa.Objective, ...]]:
    """Study metadata, the complete rows (and ``stopped`` ones if asked) passing ``--where`` and the
    checked ``--objectives``. Stopped rows were measured at fewer epochs than the rest, so fronts
    leave them out unless asked."""
    meta, df = load_rows(results)
    done = df[df["status"].isin(["complete", "stopped"] if include_stopped else ["complete"])]
    objs = parse_objectives_option(objectives, meta)
    check_columns("--objectives", [o.name for o in objs], done, numeric=True)
    if where:
        try:
            from dse.results import query as q  # DuckDB only when a filter is given

            done = q.filter_rows(done, where)
        except ValueError as exc:
            raise bad_input(f"--where: {exc}") from None
    return meta, done, objs


def require_rows(done: pd.DataFrame, objs: Sequence[pa.Objective], where: str | None) -> None:
    """Exit (2 with a filter, else 1) when no complete row has finite values of every objective."""
    if len(pa.objective_matrix(done, objs)[0]):
        return
    what = f"no complete trial with finite {', '.join(o.name for o in objs)}"
    if where:
        raise bad_input(f"--where: {what} matches {where!r}")
    err.print(f"[bold red]error:[/] {what} yet", highlight=False)
    raise typer.Exit(1)


def best_first(df: pd.DataFrame, objs: Sequence[pa.Objective], ranks: bool = False) -> pd.DataFrame:
    """Rows sorted best-first by the first objective (within non-domination rank if ``ranks``)."""
    keys = ["pareto_rank"] if ranks else []
    ascending = [True] if ranks else []
    return df.sort_values(
        [*keys, objs[0].name],
        ascending=[*ascending, not objs[0].direction.maximise],
        kind="stable",
        na_position="last",
    )
