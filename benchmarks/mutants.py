"""Mutation score of the modules where a silent bug corrupts results (issue 16): killed/survived per module.

Each module is mutated by mutmut in a scratch copy of the project and checked with its own fast tests only
(the whole suite would take hours per module on 2 cores). Not part of ``make test``: run ``make mutants``
or ``python benchmarks/mutants.py [MODULE ...]`` (a module path as listed in ``MODULES``).

A mutant counts as killed when its tests fail, crash or time out, as survived when they pass, and as
"no test" when none of the module's tests reaches the mutated function (mutmut's exit code 33). Survivors are
listed per function so they can be read with ``mutmut show`` in the scratch copy, which is kept.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRATCH = ROOT / "results" / "_mutants"

COST_TESTS = [
    "tests/models/test_cost.py",
    "tests/models/test_cost_totals.py",
    "tests/validation/test_published_figures.py",
    "tests/models/test_cost_mutants.py",
    "tests/validation/test_published_area.py",
    "tests/validation/test_cell_read_energy.py",
]
"""The cost model's in-process tests (model, breakdown and periphery share them)."""

MODULES: dict[str, list[str]] = {
    "dse/analysis/pareto.py": [
        "tests/dse/test_pareto.py",
        "tests/dse/test_pareto_edges.py",
        "tests/dse/test_hypervolume.py",
        "tests/dse/test_significance.py",
    ],
    "models/cost/model.py": [*COST_TESTS, "tests/models/test_write_counts.py"],
    "models/cost/breakdown.py": COST_TESTS,
    "models/cost/periphery.py": COST_TESTS,
    "models/cost/constants.py": ["tests/models/test_cost.py", "tests/validation/test_published_figures.py"],
    "models/physics/converters.py": [
        "tests/models/test_converters_mutants.py",
        "tests/models/test_converters_percentile.py",
        "tests/models/test_layers.py",
        "tests/models/test_quantizer_zero_range.py",
        "tests/models/test_update_speed.py",
        "tests/models/test_adc_kernel.py",
    ],
    "models/physics/pulses.py": [
        "tests/models/test_training_rules.py",
        "tests/validation/test_pulse_response.py",
        "tests/models/test_update_speed.py",
        "tests/models/test_pulses_mutants.py",
        "tests/models/test_update_kernels.py",
        "tests/models/test_device_rows.py",
    ],
    "models/physics/update_rules.py": [
        "tests/validation/test_pulse_response.py",
        "tests/models/test_update_speed.py",
        "tests/models/test_pulse_counts.py",
        "tests/models/test_update_rules_mutants.py",
    ],
    "models/training/hic.py": [
        "tests/models/test_training_rules.py",
        "tests/models/test_training_speedups.py",
        "tests/models/test_hic_mutants.py",
        "tests/models/test_update_kernels.py",
        "tests/models/test_hic_kernel.py",
        "tests/models/test_chip_refresh.py",
    ],
    "models/training/onchip.py": [
        "tests/models/test_training_rules.py",
        "tests/models/test_training_speedups.py",
        "tests/models/test_onchip_mutants.py",
        "tests/models/test_chi_register.py",
        "tests/models/test_update_kernels.py",
        "tests/models/test_device_rows.py",
    ],
    "models/training/qnn.py": [
        "tests/models/test_training_rules.py",
        "tests/models/test_training_speedups.py",
        "tests/models/test_update_speed.py",
        "tests/models/test_qnn_mutants.py",
        "tests/models/test_update_kernels.py",
        "tests/models/test_qnn_kernel.py",
    ],
    "dse/schema/point.py": [
        "tests/dse/test_point.py",
        "tests/dse/test_point_values.py",
        "tests/dse/test_point_registry.py",
        "tests/dse/test_point_onchip.py",
        "tests/dse/test_point_mutants.py",
    ],
    "dse/engine/lease.py": [
        "tests/dse/test_lease.py",
        "tests/dse/test_lease_rules.py",
        "tests/dse/test_lease_mutants.py",
        "tests/dse/test_precheck.py::test_the_driver_records_infeasible_designs_without_training_them",
        "tests/dse/test_precheck.py::test_a_recovering_driver_tells_an_infeasible_row_as_its_driver_would",
    ],
    "dse/engine/budget.py": [  # in process; the PostgreSQL lock on a throwaway server (skipped without one)
        "tests/dse/test_budget.py",
        "tests/dse/test_budget_mutants.py",
        "tests/dse/test_postgres.py::test_the_budget_lock_makes_a_second_driver_wait_for_the_first",
        "tests/dse/test_postgres.py::test_a_budget_on_postgres_holds_its_studys_lock_for_a_turn_only",
        "-k",
        "not drivers_on_one_journal",
    ],
}
"""Module → its own fast tests as pytest arguments (what mutmut runs for each of its mutants). Tests that
run the CLI in a subprocess reach no mutant (mutmut sees only in-process calls), so they are left out."""

NO_TESTS, TIMEOUTS = 33, {24, 36, 152, -24}
SINGLE_THREADED = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "DSE_TORCH_UPDATES": "1"}
"""mutmut forks its workers from a parent that has run torch: with torch's thread pool started there, a
forked worker hangs at its first parallel tensor operation, whatever the mutant, and the hang was counted as a
kill by timeout. One thread per process keeps every verdict a test's. ``DSE_TORCH_UPDATES=1``: the tests run
the torch path of the pulsed updates (the reference, and the path on accelerators), which the compiled CPU
kernels (``models/physics/kernels.py``, not mutable by mutmut) are tested equal to."""


def _scratch(module: str, tests: list[str]) -> Path:
    """A copy of the sources and tests with a ``[tool.mutmut]`` section for this one module."""
    where = SCRATCH / module.replace("/", "_").removesuffix(".py")
    shutil.rmtree(where, ignore_errors=True)
    where.mkdir(parents=True)
    for part in ("dse", "models", "tests", "search_spaces"):
        shutil.copytree(ROOT / part, where / part, ignore=shutil.ignore_patterns("__pycache__"))
    config = (ROOT / "pyproject.toml").read_text()
    config += (
        "\n[tool.mutmut]\n"
        'source_paths = ["dse", "models"]\n'
        f"only_mutate = [{json.dumps(module)}]\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q", "-x"]\n'
    )
    (where / "pyproject.toml").write_text(config)
    return where


def score(module: str, where: Path) -> dict[str, object]:
    """Killed / survived / no-test counts of one module, from mutmut's per-file results."""
    meta = json.loads((where / "mutants" / (module + ".meta")).read_text())
    codes = meta["exit_code_by_key"]
    survived = sorted(k for k, v in codes.items() if v == 0)
    untested = sorted(k for k, v in codes.items() if v == NO_TESTS)
    pending = [k for k, v in codes.items() if v is None]
    killed = len(codes) - len(survived) - len(untested) - len(pending)
    timeouts = sum(1 for v in codes.values() if v in TIMEOUTS)
    by_function = collections.Counter(k.rsplit("__mutmut_", 1)[0].rsplit(".", 1)[-1] for k in survived)
    return {
        "module": module,
        "mutants": len(codes),
        "killed": killed,
        "of_which_timeouts": timeouts,
        "survived": len(survived),
        "no_test": len(untested),
        "score": killed / max(1, len(codes) - len(pending)),
        "survivors_by_function": dict(by_function.most_common()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", default=list(MODULES), help="module paths (default: all)")
    parser.add_argument("--jobs", type=int, default=2, help="mutants run at once (default 2)")
    args = parser.parse_args()
    unknown = [m for m in args.modules if m not in MODULES]
    if unknown:
        print(f"error: unknown module(s) {unknown}; allowed: {', '.join(MODULES)}", file=sys.stderr)
        return 2
    rows = []
    for module in args.modules:
        where = _scratch(module, MODULES[module])
        run = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.jobs)]
        subprocess.run(run, cwd=where, stdout=subprocess.DEVNULL, check=False, env=SINGLE_THREADED)
        row = score(module, where)
        rows.append(row)
        print(json.dumps(row), flush=True)
    head = ("module", "mutants", "killed", "timeout", "survived", "no test", "score")
    print("\n" + f"{head[0]:34}" + "".join(f" {h:>8}" for h in head[1:]))
    for r in rows:
        counts = (r["mutants"], r["killed"], r["of_which_timeouts"], r["survived"], r["no_test"])
        print(f"{r['module']:34}" + "".join(f" {c:>8}" for c in counts) + f" {r['score']:>8.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
