"""Figures: every plot writes real PNG/PDF/HTML files; the data behind them is checked directly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from dse.analysis import plot
from dse.analysis.pareto import Direction, Objective, pareto_front

ACC = Objective("accuracy", Direction.MAXIMIZE)
ENERGY = Objective("energy_per_inference_pj", Direction.MINIMIZE)
SIZE = Objective("model_size_bits", Direction.MINIMIZE)
WRITES = Objective("max_writes_per_device", Direction.MINIMIZE)


@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    n = 120
    adc = rng.integers(2, 9, n)
    tile = 2 ** rng.integers(6, 10, n)
    acc = np.clip(0.5 + 0.05 * adc - 0.02 * np.log2(tile) + rng.normal(0, 0.03, n), 0, 1)
    start = pd.Timestamp("2025-03-01T12:00:00Z") + pd.to_timedelta(np.arange(n) * 30, unit="s")
    df = pd.DataFrame(
        {
            "trial_number": np.arange(n),
            "status": "complete",
            "device": rng.choice(["pcm", "rram", "ecram", "stt_mram"], n),
            "adc_bits": adc,
            "tile_rows": tile,
            "accuracy": acc,
            "energy_per_inference_pj": 10 ** rng.uniform(1, 5, n) * adc,
            "model_size_bits": rng.integers(1, 100, n) * 1024,
            "max_writes_per_device": rng.integers(1, 10_000, n),
            "datetime_start": start,
            "datetime_complete": start + pd.to_timedelta(rng.uniform(20, 90, n), unit="s"),
            "wall_seconds": rng.uniform(20, 90, n),
        }
    )
    for key, drop in {"1s": 0.0, "1h": 0.02, "1d": 0.04, "1y": 0.08}.items():
        df[f"accuracy_t_{key}"] = df["accuracy"] - drop * 2
        df[f"accuracy_t_{key}_gdc"] = df["accuracy"] - drop / 2
    df.loc[5, "accuracy"] = np.nan
    return df


def assert_real_files(paths: list[Path], stem: Path) -> None:
    assert sorted(p.suffix for p in paths) == [".html", ".pdf", ".png"]
    for path in paths:
        assert path.parent == stem.parent and path.stem == stem.stem
        data = path.read_bytes()
        assert len(data) > 1000, path
        if path.suffix == ".png":
            assert data.startswith(b"\x89PNG\r\n\x1a\n")
        elif path.suffix == ".pdf":
            assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
        else:
            text = data.decode("utf-8")
            assert "<html" in text and "plotly" in text.lower() and "Plotly.newPlot" in text


def test_pareto_2d(results: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "fig" / "front"
    assert_real_files(plot.plot_pareto_2d(results, (ENERGY, ACC), out, color_by="device"), out)
    front, dominated = plot.front_2d(results, (ENERGY, ACC))
    assert front["energy_per_inference_pj"].is_monotonic_increasing
    assert front["accuracy"].is_monotonic_increasing  # a trade-off: more energy buys accuracy
    assert len(front) + len(dominated) == results["accuracy"].notna().sum()
    assert set(front.index) == set(pareto_front(results, (ENERGY, ACC)).index)
    with pytest.raises(ValueError, match="exactly two"):
        plot.front_2d(results, (ENERGY, ACC, SIZE))


def test_parallel_coordinates(results: pd.DataFrame, tmp_path: Path) -> None:
    objectives = (ACC, ENERGY, SIZE, WRITES)
    out = tmp_path / "parallel.png"  # any suffix is replaced per format
    assert_real_files(plot.plot_parallel_coordinates(results, objectives, out), out)
    front = pareto_front(results, objectives)
    scaled = plot.parallel_coordinates_data(front, objectives)
    assert ((scaled >= 0) & (scaled <= 1)).all().all()
    assert scaled.loc[front["accuracy"].idxmax(), "accuracy"] == 1.0  # up is better
    assert scaled.loc[front["energy_per_inference_pj"].idxmin(), "energy_per_inference_pj"] == 1.0


def test_hypervolume_history(results: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "hv"
    paths = plot.plot_hypervolume_history(results, (ACC, ENERGY), out)
    assert_real_files(paths, out)
    elapsed, meaning = plot.elapsed_seconds(results)  # type: ignore[misc]
    assert meaning == "Wall time"
    assert elapsed.min() >= 20 and elapsed.max() <= 30 * 119 + 90  # from the first start, in seconds
    no_time = results.drop(columns=["datetime_start", "datetime_complete"])
    cumulative, meaning = plot.elapsed_seconds(no_time)  # type: ignore[misc]
    assert meaning == "Cumulative trial time"
    assert cumulative.iloc[-1] == pytest.approx(results["wall_seconds"].sum())
    only_trials = no_time.drop(columns=["wall_seconds"])
    assert plot.elapsed_seconds(only_trials) is None
    assert_real_files(
        plot.plot_hypervolume_history(only_trials, (ACC, ENERGY), tmp_path / "hv2"), tmp_path / "hv2"
    )


def test_accuracy_vs_read_time(results: pd.DataFrame, tmp_path: Path) -> None:
    designs = pareto_front(results, (ACC, ENERGY)).head(4)
    out = tmp_path / "drift"
    assert_real_files(plot.plot_accuracy_vs_read_time(designs, out), out)
    without_gdc = designs.drop(columns=[c for c in designs.columns if c.endswith("_gdc")])
    assert len(plot.plot_accuracy_vs_read_time(without_gdc, out, formats=("png",))) == 1
    with pytest.raises(ValueError, match="accuracy_t_"):
        plot.plot_accuracy_vs_read_time(designs[["device", "accuracy"]], out)


def test_accuracy_vs_hardware(results: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "hardware"
    assert_real_files(plot.plot_accuracy_vs_hardware(results, out), out)
    best = plot.best_by(results, "adc_bits", "device")
    pcm4 = results[(results["device"] == "pcm") & (results["adc_bits"] == 4)]["accuracy"].max()
    assert best.set_index(["device", "adc_bits"]).loc[("pcm", 4), "accuracy"] == pytest.approx(pcm4)


def test_style_is_stable_and_formats_checked(tmp_path: Path) -> None:
    styles = plot.style_for(["rram", "pcm", "rram"])
    assert list(styles) == ["pcm", "rram"] and styles["pcm"][0] == plot.OKABE_ITO[0]
    assert plot.style_for(["rram", "sram"])["rram"] == styles["rram"]  # a device keeps its colour
    assert plot.style_for(["b", "a"])["a"][0] == plot.OKABE_ITO[0]  # other categories: sorted order
    with pytest.raises(ValueError, match="unknown figure format"):
        plot.plot_accuracy_vs_hardware(
            pd.DataFrame({"device": ["pcm"], "adc_bits": [4], "accuracy": [0.9]}),
            tmp_path / "x",
            formats=("svg",),  # type: ignore[arg-type]
        )


def test_pdf_is_one_column_wide_with_a_times_like_font(results: pd.DataFrame, tmp_path: Path) -> None:
    import re

    (path,) = plot.plot_pareto_2d(results, (ACC, ENERGY), tmp_path / "f", formats=("pdf",))
    data = path.read_bytes()
    box = re.search(rb"/MediaBox \[ *0 0 ([0-9.]+) ([0-9.]+) *\]", data)
    assert box is not None and float(box.group(1)) == 252.0  # 3.5 in × 72 pt/in, exactly
    fonts = set(re.findall(rb"/BaseFont /([A-Za-z+-]+)", data))
    assert fonts and all(b"DejaVu" not in f for f in fonts), fonts  # a serif face, not the sans default


def test_log_axes_are_automatic_above_10x_and_can_be_overridden() -> None:
    assert plot.log_scale(pd.Series([1.0, 11.0])) and not plot.log_scale(pd.Series([1.0, 9.0]))
    assert not plot.log_scale(pd.Series([-1.0, 100.0]))  # a log axis needs positive values
    assert plot.log_scale(pd.Series([1.0, 2.0]), True) and not plot.log_scale(pd.Series([1.0, 1e6]), False)


def test_html_figures_share_one_plotly_js_and_hover_shows_parameters(
    results: pd.DataFrame, tmp_path: Path
) -> None:
    front = plot.plot_pareto_2d(results, (ACC, ENERGY), tmp_path / "front", formats=("html",))
    parallel = plot.plot_parallel_coordinates(
        results, (ACC, ENERGY), tmp_path / "parallel", formats=("html",)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["front.html", "parallel.html", "plotly.min.js"]
    for path in (*front, *parallel):
        assert path.stat().st_size < 200_000 and 'src="plotly.min.js"' in path.read_text()
    html = front[0].read_text()
    assert "ADC bits: " in html and "trial 0" in html.replace("trial 0<", "trial 0")


def test_front_legend_names_the_two_objective_front(results: pd.DataFrame) -> None:
    front, dominated = plot.front_2d(results, (ACC, ENERGY))
    off = set(dominated["device"]) - set(front["device"])
    assert len(front) and set(front["device"]) | off == set(results["device"])


def test_parallel_axes_for_searched_parameters_are_labelled_with_one_format() -> None:
    front = pd.DataFrame(
        {"device": ["pcm", "rram", "pcm"], "adc_bits": [2, 8, 4], "width_mult": [0.25, 2.0, None]}
    )
    axes = plot.parameter_axes(front, ["device", "adc_bits", "width_mult"])
    assert axes["device"][0].tolist() == [0.0, 1.0, 0.0] and axes["device"][1] == [
        (0.0, "PCM"),
        (1.0, "RRAM"),
    ]
    assert axes["adc_bits"][1] == [(0.0, "2"), (1.0, "8")]  # bits as integers
    assert axes["width_mult"][1] == [(0.0, "0.25"), (1.0, "2.00")]  # one format: same decimals
    assert np.isnan(axes["width_mult"][0].iloc[2])  # an ignored knob breaks the line, not a value
    assert plot.axis_format(pd.Series([950.0, 12345.6]))(950.0) == "950"


def test_parallel_figure_with_parameters(results: pd.DataFrame, tmp_path: Path) -> None:
    out = tmp_path / "parallel"
    paths = plot.plot_parallel_coordinates(results, (ACC, ENERGY), out, params=["adc_bits", "device"])
    assert_real_files(paths, out)
    html = out.with_suffix(".html").read_text()
    assert '"ticktext":' in html and "ADC bits" in html


def test_read_time_interval_uses_the_recorded_intervals_only() -> None:
    row = pd.Series({"read_time": "1d", "gdc": True, "accuracy_ci_low": 0.8, "accuracy_ci_high": 0.9})
    low, high = plot.read_time_interval(row, "_gdc")
    assert np.isnan(low[[0, 1, 3]]).all() and (low[2], high[2]) == (0.8, 0.9)  # at 1 day, with GDC
    assert np.isnan(plot.read_time_interval(row, "")[0]).all()  # the headline was read with GDC
    assert np.isnan(plot.read_time_interval(pd.Series({"read_time": "1d"}), "_gdc")[0]).all()


def test_front_draws_accuracy_intervals_when_recorded(results: pd.DataFrame, tmp_path: Path) -> None:
    with_ci = results.assign(
        accuracy_ci_low=results["accuracy"] - 0.01, accuracy_ci_high=results["accuracy"] + 0.02
    )
    (bars,) = plot.plot_pareto_2d(with_ci, (ACC, ENERGY), tmp_path / "ci", formats=("png",))
    (plain,) = plot.plot_pareto_2d(results, (ACC, ENERGY), tmp_path / "plain", formats=("png",))
    assert bars.read_bytes() != plain.read_bytes()  # the bars are drawn; without the columns, nothing
