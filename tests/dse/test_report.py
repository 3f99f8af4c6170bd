"""Table exports: provenance stamps, escaping, booktabs structure, bold best values, round trips."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from dse.analysis.report import (
    Provenance,
    column_label,
    format_number,
    latex_escape,
    render_table,
    rich_table,
    sidecar,
    table_view,
)
from dse.schema.record import Direction

PROV = Provenance(
    study="tech_sweep",
    trials=42,
    sampler="TPESampler",
    objectives=("accuracy:maximize", "energy_per_inference_pj:minimize"),
    generated="2025-01-02T03:04:05+00:00",
)
COLUMNS = ["device", "adc_bits", "accuracy", "energy_per_inference_pj", "area_mm2", "note"]
BEST = {"accuracy": Direction.MAXIMIZE, "energy_per_inference_pj": Direction.MINIMIZE}


@pytest.fixture
def front() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "device": ["stt_mram", "pcm", "rram"],
            "adc_bits": [4, 8, 6],
            "accuracy": [0.91234, np.nan, 0.95],
            "energy_per_inference_pj": [12.5, 100.0, 20.0],
            "area_mm2": [0.5, 0.25, 1.0],
            "note": ["50% & up", "a|b", None],
            "unused": [1, 2, 3],
        }
    )


def test_csv_is_plain_data_and_round_trips_every_value_exactly(tmp_path: Path) -> None:
    values = [0.1 + 0.2, 1 / 3, 1e-300, 123456789.123456789, -2.5e-17, np.nan]
    df = pd.DataFrame(
        {
            "accuracy": values,
            "adc_bits": pd.array([4, 8, None, 2, 6, 7], dtype="Int64"),
            "note": ["a,b", 'say "x"', "line\nbreak", "", None, "µJ"],
            "cache_hit": [True, False, True, False, True, False],
        }
    )
    text = render_table(df, list(df.columns), "csv", PROV)
    assert text.splitlines()[0] == "accuracy,adc_bits,note,cache_hit" and text.endswith("\n")
    assert "#" not in text  # provenance lives in the sidecar, not in the data
    (tmp_path / "t.csv").write_text(text, encoding="utf-8")
    back = pd.read_csv(tmp_path / "t.csv", dtype={"adc_bits": "Int64"}, keep_default_na=False, na_values=[""])
    assert back["accuracy"].iloc[:5].tolist() == values[:5] and np.isnan(back["accuracy"].iloc[5])
    assert back["adc_bits"].equals(df["adc_bits"])
    assert (
        back["note"].iloc[:4].tolist() == ["a,b", 'say "x"', "line\nbreak", ""] or back["note"].iloc[3] != ""
    )
    assert back["cache_hit"].tolist() == df["cache_hit"].tolist()


def test_csv_sidecar_carries_provenance_and_units(front: pd.DataFrame) -> None:
    data = json.loads(sidecar(front, COLUMNS, PROV, "Pareto front"))
    assert data["study"] == "tech_sweep" and data["trials"] == 42 and data["notes"] == "Pareto front"
    assert data["columns"]["energy_per_inference_pj"]["unit"] == "pJ"
    assert data["columns"]["adc_bits"]["dtype"] == "int" and data["rows"] == 3


def test_markdown_labels_bold_and_comment(front: pd.DataFrame) -> None:
    text = render_table(front, COLUMNS, "markdown", PROV, best=BEST)
    lines = text.strip().splitlines()
    assert lines[0].startswith("<!-- study=tech_sweep") and lines[0].endswith("-->")
    assert column_label("energy_per_inference_pj") in lines[1] and "Area (mm²)" in lines[1]
    assert lines[2] == "| :--- | ---: | ---: | ---: | ---: | :--- |"
    assert "**0.950**" in text and "**12.5**" in text and text.count("**") == 4  # 3 significant figures
    assert "| STT-MRAM |" in text and "| n/a |" in text  # display names; null as n/a
    assert r"a\|b" in text  # pipe escaped, so the row keeps its cell count
    assert all(line.count(" | ") == len(COLUMNS) - 1 for line in lines[1:] if "\\|" not in line)


def test_constant_columns_move_to_a_caption_line() -> None:
    df = pd.DataFrame({"device": ["pcm", "pcm"], "adc_bits": [8.0, 8.0], "accuracy": [0.9, 0.9]})
    view = table_view(df, ["device", "adc_bits", "accuracy"], keep=["accuracy"])
    assert view.columns == ("accuracy",)  # an objective stays even when constant
    assert view.constants_line() == "Same for every row: Device PCM, ADC bits 8."


def test_units_take_a_prefix_that_keeps_numbers_short() -> None:
    df = pd.DataFrame({"energy_per_inference_pj": [1.234e6, 5.0e5], "model_size_bits": [36864, 1024]})
    view = table_view(df, list(df.columns))
    assert view.headers == ("Energy/inference (µJ)", "Model size (kbit)")
    assert view.cells == (("1.23", "36.9"), ("0.500", "1.02"))


def test_latex_structure_escaping_and_bold(front: pd.DataFrame) -> None:
    text = render_table(front, COLUMNS, "latex", PROV, precision=2, best=BEST)
    assert text.startswith("% study=tech_sweep;")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrrrrl}", r"\caption{"):
        assert rule in text
    assert (
        r"\caption{Pareto-optimal designs of tech\_sweep: accuracy vs. energy per inference; 42 trials, TPE."
        in text
    )
    assert r"\label{tab:tech_sweep}" in text and r"\begin{table}[tbp]" in text
    assert r"{@{}r@{}}Energy/\\inference\\(pJ)\end{tabular}" in text and r"Area\\(mm²)" in text
    assert r"50\% \& up" in text and "STT-MRAM" in text
    body = text.split(r"\midrule")[1]
    assert "%" not in body.replace(r"\%", "")  # no unescaped percent in the table body
    assert re.findall(r"\\textbf\{([^}]*)\}", body) == ["12", "0.95"]
    assert "0.91 " in text and "n/a" in body  # significant figures and the null marker
    wide = render_table(front, COLUMNS, "latex", PROV, width="page", label_name="front b")
    assert r"\begin{table*}" in wide and r"\label{tab:front-b}" in wide


def test_latex_headers_escaped() -> None:
    df = pd.DataFrame({"yield_%": [0.5], "x_y": [1.0]})
    text = render_table(df, ["yield_%", "x_y"], "latex", PROV)
    assert r"Yield\\\%" in text and "X y" in text  # display names: escaped, capitalised


def _compile(tmp_path: Path, body: str) -> str:
    doc = (
        "\\documentclass[twocolumn]{article}\n\\usepackage[utf8]{inputenc}\n\\usepackage[T1]{fontenc}\n"
        "\\usepackage{booktabs,graphicx}\n\\usepackage{textcomp}\n\\DeclareUnicodeCharacter{00B5}{\\textmu}\n"
        "\\DeclareUnicodeCharacter{00B2}{\\texttwosuperior}\n\\begin{document}\n" + body + "\\end{document}\n"
    )
    (tmp_path / "t.tex").write_text(doc, encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    log = (tmp_path / "t.log").read_text(errors="replace")
    assert run.returncode == 0, log[-2000:]
    assert (tmp_path / "t.pdf").read_bytes().startswith(b"%PDF")
    return log


def _quickstart_front(n: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(5)
    return pd.DataFrame(
        {
            "trial_number": rng.integers(0, 40, n),
            "device": rng.choice(["pcm", "rram", "stt_mram", "sram"], n),
            "tile_size": rng.choice([64, 128, 448, 512], n),
            "adc_bits": rng.integers(2, 9, n).astype(float),
            "dac_bits": rng.choice([4, 6, 8], n),
            "width_mult": rng.uniform(0.25, 2.0, n),
            "update_bits": rng.choice([4, 8, 32], n),
            "accuracy": rng.uniform(0.1, 0.97, n),
            "energy_per_inference_pj": rng.uniform(2e3, 9e6, n),
            "model_size_bits": rng.uniform(2e4, 3e6, n),
        }
    )


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_fits_a_column_and_the_page_with_no_overfull_box(tmp_path: Path) -> None:
    front = _quickstart_front()
    best = {"accuracy": Direction.MAXIMIZE, "energy_per_inference_pj": Direction.MINIMIZE}
    quickstart = render_table(front, list(front.columns), "latex", PROV, best=best, label_name="q")
    few = ["device", "adc_bits", "dac_bits", "width_mult", "accuracy", "energy_per_inference_pj"]
    column = render_table(front, few, "latex", PROV, best=best, label_name="a")
    many = front.assign(**{f"extra_{i}_pj": front["energy_per_inference_pj"] for i in range(8)})
    page = render_table(many, list(many.columns)[:13], "latex", PROV, best=best, width="page", label_name="b")
    narrow = render_table(many, list(many.columns), "latex", PROV, best=best, label_name="c")
    assert r"\resizebox" not in column + page and r"\resizebox" in narrow  # shrunk only when it must be
    assert r"\resizebox" in quickstart  # ten columns need 7 pt type shrunk further in 229 pt
    log = _compile(tmp_path, column + page + narrow + quickstart)
    assert "Overfull \\hbox" not in log, log[log.find("Overfull") - 200 : log.find("Overfull") + 400]
    assert "multiply defined" not in log


def test_best_ties_all_bold_and_unknown_format(front: pd.DataFrame) -> None:
    tied = front.assign(area_mm2=[0.25, 0.25, 1.0])
    text = render_table(tied, ["device", "area_mm2"], "markdown", PROV, best={"area_mm2": Direction.MINIMIZE})
    assert text.count("**0.250**") == 2
    with pytest.raises(ValueError, match="unknown table format"):
        render_table(front, COLUMNS, "html", PROV)  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="nope"):
        render_table(front, ["nope"], "csv", PROV)


def test_format_number() -> None:
    assert format_number(0.123456, 3) == "0.123"
    assert format_number(0.99996, 3) == "1.00" and format_number(999.6, 3) == "1000"
    assert format_number(2.0e-7, 3) == "2.00e-07" and format_number(123456.0, 3) == "123456"
    assert format_number(np.int64(7), 3) == "7"
    assert format_number(float("nan"), 3) == ""
    assert latex_escape("a_b%c&d") == r"a\_b\%c\&d"


def test_rich_table_shows_every_cell_whole_at_100_columns() -> None:
    front = _quickstart_front()
    best = {"accuracy": Direction.MAXIMIZE}
    table = rich_table(front, list(front.columns), "Pareto front", best=best, keep=["accuracy"])
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(table)
    out = console.export_text()
    assert "…" not in out and max(len(line) for line in out.splitlines()) <= 100
    view = table_view(front, list(front.columns), keep=["accuracy"])
    assert len(view.columns) == 10 and view.headers[-2:] == ("Energy/inference (µJ)", "Model size (Mbit)")
    for row in view.cells:  # every value, as formatted, on one line of the output
        assert re.search(r"\s+".join(re.escape(c) for c in row), out), row
