"""Data flows one way: models/ never imports the engine (dse/), Optuna, Ray or Parquet."""

from __future__ import annotations

import ast
import subprocess
import sys
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


ROOT = Path(__file__).resolve().parents[1]
TORCH_FREE = ("dse/schema", "dse/results", "dse/analysis")
"""Reading and analysing results must need neither torch, Optuna nor Ray."""
BELOW: dict[str, set[str]] = {
    "dse/schema": {"dse.engine", "dse.results", "dse.analysis", "dse.cli"},
    "dse/results": {"dse.engine", "dse.analysis", "dse.cli"},
    "dse/analysis": {"dse.engine", "dse.cli"},
    "dse/engine": {"dse.analysis", "dse.cli"},
}
"""What each layer must not import (at module level): the layers above it and its siblings'."""


def module_imports(path: Path) -> set[str]:
    """Dotted names imported at module level (not inside functions: those are lazy on purpose)."""
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_results_and_analysis_import_no_torch_optuna_or_ray_at_module_level() -> None:
    offenders = {}
    for folder in TORCH_FREE:
        for path in (ROOT / folder).rglob("*.py"):
            bad = {n for n in module_imports(path) if n.split(".")[0] in {"torch", "optuna", "ray"}}
            if bad:
                offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, offenders


def test_no_layer_imports_a_layer_above_it() -> None:
    offenders = {}
    for folder, banned in BELOW.items():
        for path in (ROOT / folder).rglob("*.py"):
            bad = {n for n in module_imports(path) if any(n == b or n.startswith(b + ".") for b in banned)}
            if bad:
                offenders[str(path.relative_to(ROOT))] = sorted(bad)
    assert not offenders, offenders


def test_reading_results_loads_no_torch_optuna_or_ray() -> None:
    code = (
        "import sys, dse.results.store, dse.results.query, dse.analysis.pareto, dse.analysis.report; "
        "import dse.cli; "
        "print(sorted(m for m in ('torch', 'optuna', 'ray') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
