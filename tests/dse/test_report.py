"""Table exports: provenance stamps, escaping, booktabs structure, bold best values, round trips."""

from __future__ import annotations

import io
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


def test_csv_has_provenance_and_round_trips(front: pd.DataFrame) -> None:
    text = render_table(front, COLUMNS, "csv", PROV, precision=2, best=BEST)
    assert text.startswith("# study=tech_sweep; trials=42; sampler=TPESampler;")
    assert "generated=2025-01-02T03:04:05+00:00" in text.splitlines()[0]
    back = pd.read_csv(io.StringIO(text), comment="#")
    assert list(back.columns) == COLUMNS  # raw names, so tools can read the export back
    assert back["accuracy"].tolist()[0] == 0.91 and np.isnan(back["accuracy"].tolist()[1])
    assert back["adc_bits"].tolist() == [4, 8, 6]
    assert "**" not in text and "textbf" not in text


def test_markdown_labels_bold_and_comment(front: pd.DataFrame) -> None:
    text = render_table(front, COLUMNS, "markdown", PROV, best=BEST)
    lines = text.strip().splitlines()
    assert lines[0].startswith("<!-- study=tech_sweep") and lines[0].endswith("-->")
    assert column_label("energy_per_inference_pj") in lines[1] and "Area (mm²)" in lines[1]
    assert lines[2] == "| :--- | ---: | ---: | ---: | ---: | :--- |"
    assert "**0.950**" in text and "**12.500**" in text and text.count("**") == 4
    assert r"a\|b" in text  # pipe escaped, so the row keeps its cell count
    assert all(line.count(" | ") == len(COLUMNS) - 1 for line in lines[1:] if "\\|" not in line)


def test_latex_structure_escaping_and_bold(front: pd.DataFrame) -> None:
    text = render_table(front, COLUMNS, "latex", PROV, precision=2, best=BEST)
    assert text.startswith("% study=tech_sweep;")
    for rule in (r"\toprule", r"\midrule", r"\bottomrule", r"\begin{tabular}{lrrrrl}", r"\caption{"):
        assert rule in text
    assert r"\caption{Study tech\_sweep: 42 trials" in text
    assert r"Energy/inference (pJ)" in text and "Area (mm²)" in text
    assert r"50\% \& up" in text and r"stt\_mram" in text
    body = text.split(r"\midrule")[1]
    assert "%" not in body.replace(r"\%", "")  # no unescaped percent in the table body
    assert re.findall(r"\\textbf\{([^}]*)\}", text) == ["12.50", "0.95"]
    assert "0.91 " in text and "--" in body  # precision and NaN marker


def test_latex_headers_escaped() -> None:
    df = pd.DataFrame({"yield_%": [0.5], "x_y": [1.0]})
    text = render_table(df, ["yield_%", "x_y"], "latex", PROV)
    assert r"Yield \%" in text and "X y" in text  # display names: escaped, capitalised


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
def test_latex_compiles(front: pd.DataFrame, tmp_path: Path) -> None:
    table = render_table(front, COLUMNS, "latex", PROV, best=BEST)
    doc = (
        "\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n" + table + "\\end{document}\n"
    )
    (tmp_path / "t.tex").write_text(doc, encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "t.tex"],
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-2000:]
    assert (tmp_path / "t.pdf").read_bytes().startswith(b"%PDF")


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
    assert format_number(2.0e-7, 3) == "2e-07"
    assert format_number(np.int64(7), 3) == "7"
    assert format_number(float("nan"), 3) == ""
    assert latex_escape("a_b%c&d") == r"a\_b\%c\&d"


def test_rich_table(front: pd.DataFrame) -> None:
    table = rich_table(front, COLUMNS, "Pareto front", best=BEST)
    assert table.title == "Pareto front" and len(table.columns) == len(COLUMNS) and table.row_count == 3
    console = Console(width=200, record=True, file=io.StringIO())
    console.print(table)
    out = console.export_text()
    assert "Energy/inference (pJ)" in out and "0.912" in out and "stt_mram" in out
