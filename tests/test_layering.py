"""Data flows one way: models/ never imports the engine (dse/), Optuna, Ray or Parquet."""

from __future__ import annotations

import ast
from pathlib import Path

FORBIDDEN = {"dse", "optuna", "ray", "pyarrow", "duckdb", "pandas"}


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_models_imports_nothing_from_the_engine() -> None:
    models = Path(__file__).resolve().parents[1] / "models"
    offenders = {p.name: sorted(imported_roots(p) & FORBIDDEN) for p in models.rglob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}, offenders


def test_the_check_sees_an_offending_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import torch\nfrom dse.results.store import load\n")
    assert "dse" in imported_roots(bad)
