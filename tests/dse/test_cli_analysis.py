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


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(11)
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    return _write_study(
        tmp_path_factory.mktemp("study") / "demo", [_record(n, rng, start) for n in range(24)]
    )


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


def test_status_groups_failure_reasons_and_prints_the_normalized_hypervolume(results: Path) -> None:
    code, out, _ = invoke("status", results)
    assert code == 0, out
    assert "2 × ValueError: loss diverged (#4, #11)" in out
    assert "normalized hypervolume 0." in out and "reference point: accuracy=" in out


def test_a_constant_objective_is_flagged() -> None:
    from dse.analysis.pareto import parse_objectives
    from dse.cli.common import constant_objectives

    done = pd.DataFrame({"accuracy": [0.5, 0.7, 0.9], "max_writes_per_device": [1.0, 1.0, 1.0]})
    objs = parse_objectives("accuracy:max,max_writes_per_device:min")
    assert constant_objectives(done, objs) == [
        "max_writes_per_device is 1 for all 3 trials: it does not rank designs"
    ]


def test_progress_bar_starts_with_starting_ray_then_counts_and_hypervolume() -> None:
    from dse.cli.run import _progress_bar
    from dse.engine.space import load_space
    from dse.engine.study import Progress

    space = load_space(Path(__file__).parents[2] / "search_spaces" / "quickstart.toml")
    update, bar = _progress_bar(space)
    assert bar.tasks[0].description == "starting Ray…" and bar.tasks[0].total is None
    point = DesignPoint.of(device="pcm")
    for n, (acc, pj, bits) in enumerate([(0.5, 10.0, 100.0), (0.7, 30.0, 200.0)]):
        metrics = {"accuracy": acc, "energy_per_inference_pj": pj, "model_size_bits": bits}
        update(Progress(total=40, complete=n + 1), TrialRecord("q", n, "complete", point, metrics))
    status = bar.tasks[0].fields["status"]
    assert bar.tasks[0].total == 40 and bar.tasks[0].completed == 2
    assert "running 2 · complete 2 · failed 0 · HV 0." in status


# ------------------------------------------------------------------ compare


def test_compare_measures_every_study_at_one_reference(results: Path, tmp_path: Path) -> None:
    rng = np.random.default_rng(11)
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    worse = []
    for n in range(24):  # the same designs, each 0.05 less accurate: strictly dominated
        rec = _record(n, rng, start)
        metrics = {**rec.metrics, "accuracy": rec.metrics["accuracy"] - 0.05} if rec.metrics else {}
        worse.append(TrialRecord("worse", n, rec.status, rec.point, metrics, rec.error))
    other = _write_study(tmp_path / "worse", worse)
    meta = json.loads((other / "_study.json").read_text())
    (other / "_study.json").write_text(json.dumps({**meta, "study": "worse"}))
    code, out, err = invoke("compare", results, other, "--out", tmp_path / "fig", "--formats", "png")
    assert code == 0, err
    volumes = {
        line.split()[0]: float(line.split()[-1])
        for line in out.splitlines()
        if line.split()[:1] in (["demo"], ["worse"])
    }
    assert 0 < volumes["worse"] < volumes["demo"] <= 1
    assert out.count("reference point") == 1
    assert (tmp_path / "fig" / "compare_accuracy_vs_energy_per_inference_pj.png").read_bytes()[
        :4
    ] == b"\x89PNG"
    code, _, err = invoke("compare", results)
    assert code == 2 and "two or more" in err


# ------------------------------------------------------------------ what tables and figures show


@pytest.fixture(scope="module")
def searched(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A study whose space searched device, lr and momentum_placement (as onchip_momentum does)."""
    rng = np.random.default_rng(5)
    start = datetime(2025, 3, 1, 12, tzinfo=UTC)
    records = []
    for n in range(12):
        rec = _record(n, rng, start)
        point = rec.point.replace(lr=float(rng.choice([0.01, 0.05, 0.2])))
        records.append(TrialRecord("demo", n, rec.status, point, rec.metrics, rec.error))
    root = _write_study(tmp_path_factory.mktemp("searched") / "demo", records)
    meta = json.loads((root / "_study.json").read_text())
    domains = [
        {"name": "device", "kind": "categorical", "choices": list(DEVICES)},
        {"name": "lr", "kind": "float", "low": 0.01, "high": 0.2, "log": True},
        {"name": "adc_bits", "kind": "fixed", "value": 8},
    ]
    (root / "_study.json").write_text(json.dumps({**meta, "space": {"domains": domains}}))
    return root


def test_terminal_table_shows_the_searched_axes_whole_at_100_columns(
    searched: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dse.cli import common

    monkeypatch.setattr(common.console, "width", 100)
    code, out, _ = invoke("pareto", searched)
    assert code == 0 and "…" not in out and max(map(len, out.splitlines())) <= 100
    header = out[out.index("Pareto front") : out.index("───")]
    assert "Learning" in header and "Device" in header and "Accuracy" in header
    assert "DAC" not in header and "Tile" not in header  # not searched: not shown
    assert "over accuracy (max), energy_per_inference_pj (min), model_size_bits (min)" in " ".join(
        out.split()
    )
    code, out, _ = invoke("pareto", searched, "--columns", "device,adc_bits,accuracy")
    assert code == 0 and "Learning" not in out and "ADC" in out


def test_latex_label_comes_from_the_output_file_and_front_of_shown(results: Path, tmp_path: Path) -> None:
    labels = []
    for name in ("a.tex", "b.tex"):
        code, _, err = invoke("export", results, "-o", tmp_path / name)
        assert code == 0, err
        labels += [line for line in (tmp_path / name).read_text().splitlines() if line.startswith(r"\label")]
    assert labels == [r"\label{tab:a}", r"\label{tab:b}"]
    columns = "device,accuracy,energy_per_inference_pj"
    code, out, _ = invoke("export", results, "--format", "csv", "--columns", columns, "--front-of", "shown")
    assert code == 0
    shown = read_csv(out)
    sql = "SELECT accuracy, energy_per_inference_pj AS e FROM trials WHERE status = 'complete'"
    rows = read_csv(invoke("query", results, sql, "--format", "csv")[1]).to_numpy()
    brute = [  # brute force: rows no other row dominates in these two objectives
        (a, e) for a, e in rows
        if not any(a2 >= a and e2 <= e and (a2 > a or e2 < e) for a2, e2 in rows)
    ]  # fmt: skip
    assert sorted(brute) == sorted(zip(shown["accuracy"], shown["energy_per_inference_pj"], strict=True))


def test_read_time_defaults_to_devices_that_drift() -> None:
    from dse.analysis.pareto import parse_objectives
    from dse.cli.figures import _drifting_front

    df = pd.DataFrame(
        {"trial_number": [0, 1, 2], "device": ["sram", "pcm", "stt_mram"], "accuracy": [0.99, 0.9, 0.95]}
    )
    assert _drifting_front(df, parse_objectives("accuracy:max"), 3)["device"].tolist() == [
        "pcm"
    ]  # sram: no drift
    two = df.assign(energy_per_inference_pj=[1.0, 0.1, 0.5])  # all three on the front
    both = parse_objectives("accuracy:max,energy_per_inference_pj:min")
    assert _drifting_front(two, both, 3)["device"].tolist() == ["pcm"]  # sram and stt_mram do not drift
    assert _drifting_front(two[two.device != "pcm"], both, 3)["device"].tolist() == ["sram", "stt_mram"]
    dominated = two.assign(energy_per_inference_pj=[1.0, 9.0, 0.5])  # pcm off the study's front
    assert _drifting_front(dominated, both, 3)["device"].tolist() == ["pcm"]


@pytest.mark.parametrize(
    ("args", "allowed"), [(("--log", "z"), "x, y"), (("--log", "x", "--linear"), "not both")]
)
def test_plot_axis_options_are_checked(results: Path, args: tuple[str, ...], allowed: str) -> None:
    code, _, err = invoke("plot", results, "front", "--formats", "png", *args)
    assert code == 2 and "--log" in err and allowed in err
