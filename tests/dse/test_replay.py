"""Repeats, intervals and replay end to end through the real CLI: ``dse run`` a quickstart-like
space with ``repeats = 3`` and ``accuracy_ci_low`` as an objective, then ``dse show`` and
``dse replay`` rows of it, from a fresh process."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from dse.results.folder import STUDY_FILE
from dse.results.store import ResultStore

SPACE = """
[study]
name = "quick3"
sampler = "random"
trials = 2
workers = 1
seed = 7
repeats = 3

[params]
device = { choices = ["pcm", "rram"] }
tile_size = { low = 64, high = 128, step = 64 }
adc_bits = { low = 3, high = 8 }
dac_bits = { choices = [4, 6, 8] }
width_mult = 0.5
update_bits = 8             # one training setting: trial 1 loads trial 0's weights from the cache
mode = "hwa"
model = "mlp"
dataset = "digits"
hidden = [32]
epochs = 2
batch_size = 32
hardware_seeds = 2
read_time = "1d"

[objectives]
accuracy_ci_low = "max"
energy_per_inference_pj = "min"
"""


def dse(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dse", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("replay")
    space = root / "quick3.toml"
    space.write_text(SPACE)
    proc = dse("run", str(space), "--out", str(root / "out"), "--executor", "local")
    assert proc.returncode == 0, proc.stderr
    return root / "out"


def test_repeats_write_interval_columns_and_provenance(results: Path) -> None:
    df = ResultStore(results).read()
    assert list(df["status"]) == ["complete", "complete"]
    assert (df["repeats"] == 3).all() and (df["torch_device"] == "cpu").all()
    assert list(df.sort_values("trial_number")["cache_hit"]) == [False, True]  # replays cover both
    for col in ("accuracy", "accuracy_t_1y", "accuracy_t_1s_gdc"):
        assert (df[f"{col}_ci_low"] <= df[col]).all() and (df[col] <= df[f"{col}_ci_high"]).all()
        assert (df[f"{col}_ci_high"] - df[f"{col}_ci_low"] > 0.01).all()  # 450 test samples: never a point
    meta = json.loads((results / STUDY_FILE).read_text())
    assert meta["repeats"] == 3 and meta["torch_device"] == "cpu" and "repeats = 3" in meta["space_text"]
    assert "git_commit" in meta and meta["objectives"][0] == "accuracy_ci_low:max"


def test_show_prints_configuration_seeds_provenance_and_metrics(results: Path) -> None:
    proc = dse("show", str(results), "--trial", "1")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "repeat 2: training seed 9, hardware seeds [9001, 9002]" in out  # seed 7 + 2
    assert "data split seed (study seed): 7" in out and "git_commit" in out
    assert "eta_train" in out and "ignored (default)" in out  # apt's knobs are ignored by hwa
    assert re.search(r"│ accuracy +│ 0\.\d+ +│ \[0\.\d{4}, [01]\.\d{4}\]", out)  # mean and its interval
    assert "torch_device: cpu" in out and "torch threads:" in out


def test_replay_reproduces_a_row_bit_for_bit_on_the_cpu(results: Path) -> None:
    proc = dse("replay", str(results), "--trial", "0")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "match the stored row bit for bit" in proc.stdout


def test_replay_detects_a_changed_metric(results: Path, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(results, copy)
    (part,) = [p for p in ResultStore(copy).files() if 1 in pq.read_table(p)["trial_number"].to_pylist()]
    table = pq.read_table(part)
    rows = table.to_pylist()
    for row in rows:
        if row["trial_number"] == 1:
            row["energy_adc_pj"] *= 1.0 + 1e-9  # one stored value, off in its ninth digit
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), part)
    proc = dse("replay", str(copy), "--trial", "1")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    # only the edited value differs: the cache-hit row otherwise replays bit for bit
    assert "energy_adc_pj" in proc.stdout and "1 of" in proc.stdout


def test_replay_of_a_missing_trial_is_bad_input(results: Path) -> None:
    proc = dse("replay", str(results), "--trial", "99")
    assert proc.returncode == 2 and "no trial 99" in proc.stderr and "[0, 1]" in proc.stderr
