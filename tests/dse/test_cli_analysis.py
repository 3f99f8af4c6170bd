"""The analysis commands of the CLI (pareto --where/--by/--ranks, query, plot, export, devices --costs).

They run through ``typer.testing.CliRunner`` on a results folder written the way ``dse run`` writes it:
``study.json`` plus one Parquet part per trial via :class:`dse.results.store.ResultStore`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

import dse.analysis.figure
from dse.cli.run import app
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint
from dse.schema.record import TrialRecord

DEVICES = ("pcm", "rram", "sram")
DRIFT = {"pcm": 0.012, "rram": 0.006, "sram": 0.0}  # accuracy lost per decade of read time
OBJECTIVES = ["accuracy:max", "energy_per_inference_pj:min", "model_size_bits:min"]


def _record(n: int, rng: np.random.Generator, start: datetime) -> TrialRecord:
    device = DEVICES[n % 3]
    adc, tile, width = int(rng.integers(2, 9)), int(rng.choice([64, 128, 256])), float(rng.uniform(0.25, 2))
    point = DesignPoint.of(device=device, adc_bits=adc, tile_size=tile, width_mult=width, epochs=2)
    begun = start + timedelta(seconds=20 * n)
    timing = {
        "datetime_start": begun,
        "datetime_complete": begun + timedelta(seconds=15),
        "wall_seconds": 15.0,
    }
    if n in (4, 11):
        return TrialRecord("demo", n, "failed", point, error="ValueError: loss diverged", **timing)
    penalty = 0.1 if device == "sram" else 0.0  # a handicap, so that the global front is mostly analog
    accuracy = float(np.clip(0.55 + 0.05 * adc + 0.05 * width - penalty + rng.normal(0, 0.02), 0, 1))
    metrics = {
        "accuracy": accuracy,
        "accuracy_std": 0.01,
        "accuracy_fp": min(accuracy + 0.03, 1.0),
        "energy_per_inference_pj": float(2.0**adc * 40 * width * (3.0 if device == "sram" else 1.0)),
        "model_size_bits": float(round(9000 * width) * (8 if device == "sram" else 4)),
        "max_writes_per_device": float(rng.integers(10, 1000)),
        "area_mm2": 0.01 * width * tile / 64,
    }
    for decade, t in enumerate(("1s", "1h", "1d", "1y")):
        drop = DRIFT[device] * decade * 2
        metrics[f"accuracy_t_{t}"] = accuracy - drop
        metrics[f"accuracy_t_{t}_gdc"] = accuracy - drop / 4
    return TrialRecord("demo", n, "complete", point, metrics, **timing)


def _write_study(root: Path, records: list[TrialRecord]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    meta = {  # as dse.engine.study.write_study_file writes it
        "study": "demo",
        "space_file": "search_spaces/demo.toml",
        "sampler": "tpe",
        "trials": len(records),
        "objectives": OBJECTIVES,
        "storage": None,
        "journal": "optuna.journal",
    }
    (root / "_study.json").write_text(json.dumps(meta, indent=2))
    store = ResultStore(root)
    for rec in records:  # a part per trial, as a study of slow trials leaves them
        store.append([rec])
    return root


def demo_study(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """24 trials over pcm, rram and sram, written as ``dse run`` writes them."""
    rng = np.random.default_rng(11)
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    return _write_study(
        tmp_path_factory.mktemp("study") / "demo", [_record(n, rng, start) for n in range(24)]
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return demo_study(tmp_path_factory)


@pytest.fixture(scope="module")
def no_drift(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study whose trials recorded no accuracy after drift (as trials from older versions)."""
    rng = np.random.default_rng(3)
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    records = []
    for n in range(6):
        rec = _record(n, rng, start)
        metrics = {k: v for k, v in rec.metrics.items() if not k.startswith("accuracy_t_")}
        records.append(
            TrialRecord(rec.study, n, rec.status, rec.point, metrics, rec.error, 0, rec.datetime_start)
        )
    return _write_study(tmp_path_factory.mktemp("old") / "old", records)


@pytest.fixture(autouse=True)
def small_html(monkeypatch: pytest.MonkeyPatch) -> None:
    """Link plotly.js instead of embedding 4.8 MB in every HTML file."""
    monkeypatch.setattr(dse.analysis.figure, "PLOTLY_JS", "cdn")


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def read_csv(text: str) -> pd.DataFrame:
    from io import StringIO

    return pd.read_csv(StringIO(text), comment="#")


# ------------------------------------------------------------------ pareto


def test_pareto_table_prints_front_and_hypervolume_with_reference(results: Path) -> None:
    code, out, _ = invoke("pareto", results)
    assert code == 0
    assert "Pareto front" in out and "hypervolume" in out
    assert "reference point: accuracy=" in out and "model_size_bits=" in out


def test_pareto_where_filters_rows(results: Path) -> None:
    where = "device in ('pcm','rram') and adc_bits >= 4"
    code, out, err = invoke("pareto", results, "--where", where, "--format", "csv")
    assert code == 0
    front = read_csv(out)
    assert len(front) > 0
    assert set(front["device"]) <= {"pcm", "rram"} and (front["adc_bits"] >= 4).all()
    assert "filter: device in ('pcm','rram') and adc_bits >= 4" in err  # the CSV stays plain data


def test_pareto_by_gives_one_front_per_group_with_shared_reference(results: Path, tmp_path: Path) -> None:
    code, out, _ = invoke("pareto", results, "--by", "device")
    assert code == 0
    for device in DEVICES:
        assert f"device = {device}" in out
    assert out.count("hypervolume reference point") == 1  # one reference for all groups

    target = tmp_path / "by.csv"
    code, _, _ = invoke("pareto", results, "--by", "device", "--format", "csv", "-o", target)
    assert code == 0
    table = read_csv(target.read_text())
    assert list(table.columns[:1]) == ["device"] and "hypervolume" in table.columns
    assert sorted(table["device"].unique()) == list(DEVICES)
    assert table.groupby("device")["hypervolume"].nunique().eq(1).all()  # one volume per group
    assert table["hypervolume"].between(0, 1).all()  # normalized, as every other command prints it
    notes = json.loads((tmp_path / "by.csv.json").read_text())["notes"]
    assert "reference point: accuracy=" in notes and "one for all groups" in notes


def test_pareto_ranks_lists_every_complete_row_with_its_rank(results: Path) -> None:
    code, out, _ = invoke("pareto", results, "--ranks", "--format", "csv")
    assert code == 0
    table = read_csv(out)
    assert len(table) == 22 and table["pareto_rank"].min() == 1
    assert table["pareto_rank"].is_monotonic_increasing


# ------------------------------------------------------------------ query


def test_query_runs_sql_over_the_parts(results: Path) -> None:
    sql = "SELECT device, count(*) AS n FROM trials WHERE status = 'complete' GROUP BY device ORDER BY device"
    code, out, _ = invoke("query", results, sql, "--format", "csv")
    assert code == 0
    table = read_csv(out)
    assert list(table["device"]) == list(DEVICES) and table["n"].sum() == 22
    code, out, _ = invoke("query", results, sql)
    assert code == 0 and "PCM" in out  # display names in tables for reading
    code, out, _ = invoke("query", results, sql, "--format", "markdown")
    assert code == 0 and "| Device |" in out


def test_query_reads_no_other_file_unless_unsafe_sql(results: Path) -> None:
    sql = "SELECT count(*) AS n FROM read_csv('/etc/passwd', sep=':', header=false)"
    code, out, err = invoke("query", results, sql, "--format", "csv")
    assert code == 2 and "/etc/passwd" in err and "--unsafe-sql" in err and "root" not in out
    code, out, _ = invoke("query", results, sql, "--format", "csv", "--unsafe-sql")
    assert code == 0 and read_csv(out)["n"].tolist() == [len(Path("/etc/passwd").read_text().splitlines())]


# ------------------------------------------------------------------ export


def test_export_latex_is_booktabs_with_provenance_and_bold_best(results: Path, tmp_path: Path) -> None:
    target = tmp_path / "front.tex"
    columns = "device,adc_bits,accuracy,energy_per_inference_pj"
    code, _, _ = invoke(
        "export", results, "--format", "latex", "--columns", columns, "--precision", "2", "-o", target
    )
    assert code == 0
    text = target.read_text()
    assert "\\toprule" in text and "\\bottomrule" in text and "\\textbf{" in text
    assert "% study=demo" in text and r"ADC\\bits" in text  # the header stacked on its words


def test_export_all_rows_and_where(results: Path) -> None:
    code, out, _ = invoke("export", results, "--format", "csv", "--all", "--where", "device = 'sram'")
    assert code == 0
    table = read_csv(out)
    assert len(table) == 7 and set(table["device"]) == {"sram"}  # 8 sram trials, one failed
    code, out, _ = invoke("export", results, "--format", "markdown")
    assert code == 0 and out.startswith("<!-- Pareto front over accuracy (max),") and "**" in out


# ------------------------------------------------------------------ plot


@pytest.mark.parametrize(
    ("kind", "extra", "stem"),
    [
        ("front", ("--formats", "png,pdf,html"), "front_accuracy_vs_energy_per_inference_pj"),
        ("parallel", ("--formats", "png"), "parallel"),
        ("progress", ("--formats", "pdf"), "progress"),
        ("read-time", ("--formats", "png", "--trials", "0,3"), "read_time"),
        ("hardware", ("--formats", "png", "--color-by", "device"), "hardware"),
    ],
)
def test_plot_writes_real_files_and_prints_their_paths(
    results: Path, tmp_path: Path, kind: str, extra: tuple[str, ...], stem: str
) -> None:
    code, out, _ = invoke("plot", results, kind, "--out", tmp_path, *extra)
    assert code == 0
    paths = [Path(line) for line in out.split()]
    assert paths and all(p.parent == tmp_path and p.stem == stem for p in paths)
    for path in paths:
        data = path.read_bytes()
        assert {".png": data[:8] == b"\x89PNG\r\n\x1a\n", ".pdf": data[:5] == b"%PDF-",
                ".html": b"plotly" in data}[path.suffix]  # fmt: skip


def test_plot_defaults_to_the_figures_folder_and_read_time_top_k(results: Path) -> None:
    code, out, _ = invoke("plot", results, "read-time", "--formats", "png", "--top", "2")
    assert code == 0
    assert [Path(p) for p in out.split()] == [results / "figures" / "read_time.png"]


def test_read_time_without_drift_columns_is_a_clear_error(no_drift: Path, tmp_path: Path) -> None:
    code, _, err = invoke("plot", no_drift, "read-time", "--out", tmp_path, "--formats", "png")
    assert code == 2 and "accuracy_t_1s" in err and "empty" in err
    assert not list(tmp_path.iterdir())


# ------------------------------------------------------------------ devices


def test_devices_costs_prints_the_constants(results: Path) -> None:
    code, out, _ = invoke("devices", "--costs")
    assert code == 0 and "Cost-model constants" in out and "adc_fom_fj_per_step" in out
    code, out, _ = invoke("devices")
    assert code == 0 and "Cost-model constants" not in out


# ------------------------------------------------------------------ bad input → exit 2, naming the option


@pytest.mark.parametrize(
    ("args", "option", "allowed"),
    [
        (("pareto", "{r}", "--objectives", "nope:max"), "--objectives", "energy_per_inference_pj"),
        (("pareto", "{r}", "--objectives", "accuracy:up"), "--objectives", "max"),
        (("pareto", "{r}", "--where", "nope > 1"), "--where", "adc_bits"),
        (("pareto", "{r}", "--where", "adc_bits >>> 1"), "--where", "adc_bits"),
        (("pareto", "{r}", "--by", "nope"), "--by", "device"),
        (("pareto", "{r}", "--format", "xml"), "--format", "latex"),
        (("export", "{r}", "--columns", "device,nope"), "--columns", "adc_bits"),
        (("export", "{r}", "--format", "html"), "--format", "markdown"),
        (("query", "{r}", "SELECT nope FROM trials"), "SQL", "adc_bits"),
        (("query", "{r}", "SELECT 1", "--format", "latex"), "--format", "markdown"),
        (("plot", "{r}", "scatter"), "KIND", "read-time"),
        (("plot", "{r}", "front", "--formats", "png,svg"), "--formats", "pdf"),
        (("plot", "{r}", "front", "--color-by", "nope"), "--color-by", "device"),
        (("plot", "{r}", "front", "--objectives", "accuracy:max"), "--objectives", "two"),
        (("plot", "{r}", "read-time", "--trials", "4"), "--trials", "3"),  # 4 failed
        (("plot", "{r}", "read-time", "--top", "0"), "--top", "1"),
        (("export", "{r}", "--precision", "0"), "--precision", "1"),
        (("export", "{r}", "--width", "wide"), "--width", "column"),
        (("export", "{r}", "--front-of", "all"), "--front-of", "shown"),
        (("pareto", "{r}", "--columns", "nope"), "--columns", "adc_bits"),
        (("query", "{r}", "SELECT [bold] FROM trials"), "SQL", "adc_bits"),  # rich markup is escaped
    ],
)
def test_bad_input_exits_2_naming_option(
    results: Path, args: tuple[str, ...], option: str, allowed: str
) -> None:
    code, _, err = invoke(*(a.format(r=results) for a in args))
    assert code == 2
    assert option in err and allowed in err


def test_missing_results_folder_exits_2(tmp_path: Path) -> None:
    code, _, err = invoke("pareto", tmp_path / "none")
    assert code == 2 and "study.json" in err
    code, _, err = invoke("query", tmp_path, "SELECT 1")
    assert code == 2 and "no Parquet parts" in err


def test_compact_keeps_every_row(results: Path) -> None:
    from dse.results.store import ResultStore

    before = ResultStore(results).read()
    code, _, err = invoke("compact", results, "--max-rows", "10")
    assert code == 0, err
    assert len(ResultStore(results).files()) == -(-len(before) // 10)
    assert ResultStore(results).read().equals(before)


# ------------------------------------------------------------------ status and progress
