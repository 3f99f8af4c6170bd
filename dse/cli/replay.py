"""``dse show RESULTS --trial N`` and ``dse replay RESULTS --trial N``: any row, explained and re-run.

``show`` prints a row's full configuration (ignored knobs marked), its seeds, the study's
provenance (``_study.json``) and every metric. ``replay`` rebuilds the design point from the
row's design columns alone (nulls are ignored knobs and take their defaults), loads the data
with the study's split seed (checked against the row's ``data_fingerprint``), re-runs the
trial in this process without the weights cache, with the torch thread count the row ran
with, and compares every metric with the stored one: bit for bit when it runs on the device
type the row ran on, within :data:`CROSS_DEVICE_ABS` / :data:`CROSS_DEVICE_REL` otherwise.
"""

from __future__ import annotations

import contextlib
import math
import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from dse.cli.common import app, bad_input, console, load_rows

NOT_COMPARED = frozenset(
    {
        "train_seconds",
        "calibration_seconds",
        "eval_seconds",
        "cache_hit",
        "precomputed",
        "resumed_from_epochs",
        "warning",
    }
)
"""Timings, where the weights came from (the cache, a multi-fidelity checkpoint: a replay trains from
scratch, and a resumed run equals an unbroken one), and what the driver computed before training:
not outcomes."""
"""Metrics that measure this run's wall time or cache, not the design: never compared."""
CROSS_DEVICE_ABS = 0.02
"""Accuracy tolerance when replaying on another device type (cpu vs cuda): float rounding flips
a few test samples (2 points is 9 of digits' 450 test samples, 20 of MNIST-1D's 1,000)."""
CROSS_DEVICE_REL = 0.01
"""Relative tolerance of every other metric across device types (writes and the conductance
fraction follow the trained weights, which differ in the last bits)."""


def _row(results: Path, trial: int) -> tuple[dict[str, Any], dict[str, Any]]:
    meta, df = load_rows(results)
    rows = df[df["trial_number"] == trial]
    if rows.empty:
        numbers = sorted(int(n) for n in df["trial_number"])
        raise bad_input(f"--trial: no trial {trial} in {results}; trials: {numbers or 'none'}")
    return meta, {k: _plain(v) for k, v in rows.iloc[-1].to_dict().items()}


def _plain(value: Any) -> Any:
    """numpy scalars to Python values; NaN and pandas' missing values to None."""
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        with contextlib.suppress(ValueError, AttributeError):  # arrays: not a scalar
            value = value.item()
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    try:
        import pandas as pd

        if value is pd.NaT or value is pd.NA:
            return None
    except ImportError:  # pragma: no cover
        pass
    return value


def _study_settings(meta: dict[str, Any]) -> tuple[int, int]:
    """(data split seed, torch threads per trial) of the study, from its recorded space."""
    seed = int((meta.get("space") or {}).get("seed", 0))
    threads = 1
    text = meta.get("space_text") or ""
    if text:
        study = tomllib.loads(text).get("study", {})
        seed = int(study.get("seed", seed))
        threads = max(1, int(study.get("cpus_per_trial", 1)))
    return seed, threads


def _metric_names(row: dict[str, Any]) -> list[str]:
    from dse.schema.record import COLUMNS, METRIC_COLUMNS

    return [c for c in COLUMNS if c in METRIC_COLUMNS and c not in NOT_COMPARED and c in row]


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, float):
        return repr(value)
    return str(value)


@app.command()
def show(
    results: Annotated[Path, typer.Argument(help="results folder")],
    trial: Annotated[int, typer.Option("--trial", help="trial number")],
) -> None:
    """Print one row: its configuration, seeds, the study's provenance and every metric."""
    from rich.table import Table

    from dse.schema.record import COLUMNS, INTERVAL_COLUMNS, METRIC_COLUMNS

    meta, row = _row(results, trial)
    design = [c for c in COLUMNS.values() if c.group == "design"]
    table = Table(title=f"Trial {trial} of {meta.get('study')}: configuration", show_header=True)
    for head in ("parameter", "value", "doc"):
        table.add_column(head)
    for col in design:
        value = row.get(col.name)
        table.add_row(col.name, "ignored (default)" if value is None else _fmt(value), col.doc)
    console.print(table)

    split_seed, threads = _study_settings(meta)
    repeats = int(row.get("repeats") or 1)
    seed = int(row.get("seed") or 0)
    chips = int(row.get("hardware_seeds") or 1)
    console.print("[bold]seeds[/]", highlight=False)
    console.print(f"  data split seed (study seed): {split_seed}; data {row.get('data_fingerprint')}")
    for r in range(repeats):
        hw = [(seed + r) * 1000 + 1 + i for i in range(chips)]
        console.print(f"  repeat {r}: training seed {seed + r}, hardware seeds {hw}", highlight=False)

    console.print("[bold]provenance[/]", highlight=False)
    for key in (
        "status",
        "error",
        "attempt",
        "worker_node",
        "torch_device",
        "datetime_start",
        "wall_seconds",
    ):
        console.print(f"  {key}: {_fmt(row.get(key))}", highlight=False)
    for key in ("space_file", "git_commit", "platform", "torch_device", "repeats", "versions"):
        if key in meta:
            console.print(f"  study {key}: {_fmt(meta[key])}", highlight=False, markup=False)
    console.print(f"  torch threads: {row.get('torch_threads') or threads}", highlight=False)

    metrics = Table(title="metrics")
    for head in ("column", "value", "95 % interval"):
        metrics.add_column(head)
    for name in (c for c in COLUMNS if c in METRIC_COLUMNS):
        if any(name in pair for pair in INTERVAL_COLUMNS.values()):
            continue
        interval = ""
        if name in INTERVAL_COLUMNS:
            lo, hi = (row.get(c) for c in INTERVAL_COLUMNS[name])
            interval = f"[{lo:.4f}, {hi:.4f}]" if lo is not None and hi is not None else ""
        metrics.add_row(name, _fmt(row.get(name)), interval)
    console.print(metrics)


def compare(stored: dict[str, Any], fresh: dict[str, Any], exact: bool) -> list[tuple[str, Any, Any]]:
    """(column, stored, replayed) for every compared metric that differs: exactly, or beyond the
    cross-device tolerances."""
    diffs = []
    for name in _metric_names(stored):
        a, b = stored.get(name), _plain(fresh.get(name))
        if a is None and b is None:
            continue
        if a is None or b is None:
            diffs.append((name, a, b))
        elif isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
            if exact:
                same = float(a) == float(b)
            else:
                tol = CROSS_DEVICE_ABS if name.startswith("accuracy") else CROSS_DEVICE_REL * abs(float(a))
                same = abs(float(a) - float(b)) <= tol
            if not same:
                diffs.append((name, a, b))
        elif name.endswith("_by_layer") and not exact and isinstance(a, str) and isinstance(b, str):
            x, y = [float(v) for v in a.split(",")], [float(v) for v in b.split(",")]  # per-layer reads
            if len(x) != len(y) or any(
                abs(u - v) > CROSS_DEVICE_REL * abs(u) for u, v in zip(x, y, strict=False)
            ):
                diffs.append((name, a, b))
        elif a != b:
            diffs.append((name, a, b))
    return diffs


@app.command()
def replay(
    results: Annotated[Path, typer.Argument(help="results folder")],
    trial: Annotated[int, typer.Option("--trial", help="trial number (a complete trial)")],
) -> None:
    """Re-run one trial from its row and compare every metric with the stored one (exit 1 if any differ)."""
    meta, row = _row(results, trial)
    if row.get("status") != "complete":
        raise bad_input(
            f"--trial: trial {trial} is {row.get('status')}, not complete; only complete rows replay"
        )
    try:
        from dse.schema.point import DesignPoint

        point = DesignPoint.from_row(row)
    except (KeyError, TypeError, ValueError) as exc:
        raise bad_input(f"trial {trial}: its design columns do not make a design point: {exc}") from None
    import torch

    from dse.engine.data import DataError, load_dataset
    from dse.engine.trial import data_fingerprint, evaluate_point
    from dse.results.folder import CACHE_DIR

    split_seed, threads = _study_settings(meta)
    try:
        data = load_dataset(point.dataset, point.data_path or None, split_seed, results / CACHE_DIR)
    except DataError as exc:
        raise bad_input(f"trial {trial}: {exc}") from None
    if row.get("data_fingerprint") and data_fingerprint(data) != row["data_fingerprint"]:
        raise bad_input(
            f"trial {trial}: the data loaded now ({data_fingerprint(data)}) is not the data it ran on "
            f"({row['data_fingerprint']}); check data_path and the study seed"
        )
    ran_on = row.get("torch_device") or "cpu"
    device = ran_on if ran_on == "cpu" or torch.cuda.is_available() else "cpu"
    torch.set_num_threads(int(row.get("torch_threads") or threads))
    fresh = evaluate_point(point, data, None, device, int(row.get("repeats") or 1))
    exact = device == ran_on
    diffs = compare(row, fresh, exact)
    how = "bit for bit" if exact else f"within {CROSS_DEVICE_ABS} (accuracy) / {CROSS_DEVICE_REL:.0%} (other)"
    compared = len(_metric_names(row))
    if not diffs:
        console.print(
            f"trial {trial} replayed on {device}: all {compared} metrics match the stored row {how}",
            highlight=False,
        )
        return
    from rich.table import Table

    table = Table(
        title=f"trial {trial} replayed on {device} (stored on {ran_on}): {len(diffs)} of {compared} differ"
    )
    for head in ("column", "stored", "replayed", "difference"):
        table.add_column(head)
    for name, a, b in diffs:
        delta = _fmt(float(b) - float(a)) if isinstance(a, int | float) and isinstance(b, int | float) else ""
        table.add_row(name, _fmt(a), _fmt(b), delta)
    console.print(table)
    raise typer.Exit(1)
