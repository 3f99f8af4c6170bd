"""End to end through the real CLI on real local Ray, journal storage and Parquet."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import optuna
import pandas as pd
import pyarrow.parquet as pq
import torch

from dse.engine.cache import WeightCache
from dse.engine.data import load_digits
from dse.engine.study import open_storage
from dse.engine.trial import evaluate_point
from dse.results.folder import JOURNAL_FILE
from dse.results.store import ResultStore
from dse.schema.point import DesignPoint


def dse(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dse", *args], capture_output=True, text=True, timeout=timeout
    )


def test_run_status_pareto_and_resume_on_local_ray(tiny_space, tmp_path: Path) -> None:
    space, out = tiny_space(trials=4), tmp_path / "out"
    proc = dse("run", str(space), "--out", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "Pareto front of tiny" in proc.stdout

    store = ResultStore(out)
    df = store.read()
    assert sorted(df["trial_number"]) == [0, 1, 2, 3]
    assert df["status"].tolist() == ["complete"] * 4, df["error"].tolist()
    done = df
    # one row recomputed in this process from its stored parameters and the study's split (seed 3): the
    # cost exactly, the accuracy within one test image of 900 on one of the two chips
    row = df.sort_values("trial_number").iloc[0]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as the study's trials ran (cpus_per_trial 1): the same float sums
    try:
        fresh = evaluate_point(
            DesignPoint.from_row(row.to_dict()),
            load_digits(seed=3),
            WeightCache(tmp_path / "fresh"),
            device="cpu",
        )
    finally:
        torch.set_num_threads(threads)
    assert fresh["energy_per_inference_pj"] == row["energy_per_inference_pj"]
    assert fresh["model_size_bits"] == row["model_size_bits"]
    assert abs(fresh["accuracy"] - row["accuracy"]) <= 1 / 1800 + 1e-12
    right = done["accuracy"] * 900 * 2  # a whole number of right answers on 900 digits, 2 chips
    assert (right - right.round()).abs().max() < 1e-6 and (done["accuracy"] > 0.3).all()  # chance 0.1
    assert (done["model_size_bits"] > 0).all() and (done["max_writes_per_device"] >= 1).all()
    assert done["worker_node"].notna().all()

    study = optuna.load_study(study_name="tiny", storage=open_storage(out, None))
    assert study.metric_names == ["accuracy", "energy_per_inference_pj"]
    assert study.user_attrs["sampler"]["name"] == "random" and "torch" in study.user_attrs["versions"]
    assert (out / JOURNAL_FILE).is_file()

    first_parts = {p.name: p.stat().st_mtime_ns for p in store.files()}
    proc = dse("run", str(space), "--out", str(out), "--trials", "6", "--resume", "--executor", "local")
    assert proc.returncode == 0, proc.stderr
    df = store.read()
    assert sorted(df["trial_number"]) == [0, 1, 2, 3, 4, 5]  # no duplicate, none lost
    assert {p.name: p.stat().st_mtime_ns for p in store.files() if p.name in first_parts} == first_parts
    assert sum(pq.read_table(p).num_rows for p in store.files()) == 6  # no row written twice

    status = dse("status", str(out))
    assert status.returncode == 0, status.stderr
    assert (
        "complete" in status.stdout and "hypervolume" in status.stdout and "reference point" in status.stdout
    )

    for fmt, marker in (("csv", "accuracy"), ("markdown", "|"), ("latex", "\\toprule")):
        target = tmp_path / f"front.{fmt}"
        proc = dse(
            "pareto",
            str(out),
            "--objectives",
            "accuracy:max,energy_per_inference_pj:min",
            "--format",
            fmt,
            "--output",
            str(target),
        )
        assert proc.returncode == 0, proc.stderr
        provenance = (
            target.with_name(target.name + ".json").read_text() if fmt == "csv" else target.read_text()
        )
        assert marker in target.read_text() and "tiny" in provenance  # provenance names the study


def test_resume_without_a_study_is_bad_input(tiny_space, tmp_path: Path) -> None:
    proc = dse("run", str(tiny_space()), "--out", str(tmp_path / "none"), "--resume", "--executor", "local")
    assert proc.returncode == 2
    assert "--resume" in proc.stderr


def test_status_of_a_folder_that_is_not_a_study_is_bad_input(tmp_path: Path) -> None:
    proc = dse("status", str(tmp_path))
    assert proc.returncode == 2 and "not a results folder" in proc.stderr


def test_grid_runs_every_distinct_design_once_and_ends_cleanly(tmp_path: Path) -> None:
    from dse.engine.data import load_dataset
    from dse.engine.executor import LocalExecutor
    from dse.engine.space import parse_space
    from dse.engine.study import run_study

    raw = {
        "study": {"name": "grid", "sampler": "grid", "seed": 1},
        "objectives": {"accuracy": "max"},
        "params": {
            "device": {"choices": ["pcm", "sram"]},
            "adc_bits": {"low": 4, "high": 8, "step": 4},
            "hidden": [16],
            "epochs": 1,
            "hardware_seeds": 1,
        },
    }
    space = parse_space(raw, "grid.toml")
    import dataclasses

    assert space.grid_size() == 3  # SRAM ignores adc_bits: (sram, 4) and (sram, 8) are one design
    space = dataclasses.replace(space, trials=space.grid_size())
    progress = run_study(space, LocalExecutor(load_dataset("digits")), tmp_path, workers=1)
    assert progress.complete == 3
    df = ResultStore(tmp_path).read()
    pairs = sorted(
        (d, None if pd.isna(a) else int(a)) for d, a in zip(df["device"], df["adc_bits"], strict=True)
    )
    assert pairs == [("pcm", 4), ("pcm", 8), ("sram", None)]  # SRAM has no ADC: null, trained once


def test_the_study_folder_reads_as_a_dataset_and_a_resume_must_match_its_space(
    tiny_space, tmp_path: Path
) -> None:
    import duckdb
    import polars as pl
    import pyarrow.dataset as ds

    space, out = tiny_space(trials=3), tmp_path / "out"
    proc = dse("run", str(space), "--out", str(out), "--executor", "local")
    assert proc.returncode == 0, proc.stderr
    assert {"_study.json", "_optuna.journal", "_cache", "trials"} <= {p.name for p in out.iterdir()}
    # the folder as it is, with the cache, the journal and the study file inside it
    assert sorted(pd.read_parquet(out)["trial_number"]) == [0, 1, 2]
    assert ds.dataset(out, format="parquet").count_rows() == 3
    assert pl.read_parquet(out / "**/*.parquet").height == 3
    sql = f"SELECT count(*) FROM read_parquet('{out}/**/*.parquet', union_by_name=true)"
    assert duckdb.sql(sql).fetchall() == [(3,)]

    again = dse("run", str(space), "--out", str(out))  # finished: the front, without starting Ray
    assert again.returncode == 0, again.stderr
    assert "nothing to run" in again.stdout and "starting Ray" not in again.stderr

    changed = tmp_path / "changed.toml"
    changed.write_text(
        space.read_text().replace("adc_bits = { low = 3, high = 8 }", "adc_bits = { low = 2, high = 3 }")
    )
    refused = dse("run", str(changed), "--out", str(out), "--trials", "5")
    assert refused.returncode == 2
    text = " ".join(refused.stderr.split())
    assert "changed since it was recorded" in text and "domains" in text
    assert sorted(pd.read_parquet(out)["trial_number"]) == [0, 1, 2]  # nothing written
