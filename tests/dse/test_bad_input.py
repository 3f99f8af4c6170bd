"""Bad input: exit 2, a message naming the field and what is allowed, nothing written, Ray never started."""

from __future__ import annotations

import gzip
import pickle
from collections.abc import Callable
from pathlib import Path

import pytest
import ray
from typer.testing import CliRunner

from dse.cli.common import app

GOOD = """
[study]
name = "bad"
trials = 2
workers = 1
seed = 1

[params]
hidden = [8]
epochs = 1
hardware_seeds = 1
{extra_params}

{extra}
[objectives]
accuracy = "max"
"""


def space(tmp_path: Path, extra_params: str = "", extra: str = "", name: str = "bad") -> Path:
    path = tmp_path / "space.toml"
    text = GOOD.format(extra_params=extra_params, extra=extra).replace('name = "bad"', f'name = "{name}"')
    path.write_text(text)
    return path


def run_cli(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args)
    return result.exit_code, " ".join(result.output.split())


def idx_folder(tmp_path: Path, damage: Callable[[bytes], bytes]) -> Path:
    folder = tmp_path / "mnist"
    folder.mkdir()
    images = bytes([0, 0, 8, 3]) + (2).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(2 * 28 * 28)
    labels = bytes([0, 0, 8, 1]) + (2).to_bytes(4, "big") + bytes([3, 4])
    for split in ("train", "t10k"):
        (folder / f"{split}-images-idx3-ubyte").write_bytes(damage(images))
        (folder / f"{split}-labels-idx1-ubyte").write_bytes(labels)
    return folder


def fidelity_space(tmp_path: Path, study: str, params: str = "") -> Path:
    """The good space with ``study`` lines added to its ``[study]`` table (epochs = 1 unless ``params``
    sets another)."""
    path = space(tmp_path, params)
    text = path.read_text().replace("seed = 1\n", f"seed = 1\n{study}\n", 1)
    if "epochs =" in params:
        text = text.replace("epochs = 1\n", "", 1)
    path.write_text(text)
    return path


FIDELITY = 'fidelity = "epochs"'
CASES: dict[str, tuple[Callable[[Path], list[str]], str]] = {
    "min_epochs 0": (
        lambda t: [str(fidelity_space(t, f"{FIDELITY}\nmin_epochs = 0"))],
        "study.min_epochs: 0 must be an integer ≥ 1",
    ),
    "min_epochs above epochs": (
        lambda t: [str(fidelity_space(t, f"{FIDELITY}\nmin_epochs = 4", "epochs = 3"))],
        "study.min_epochs: 4 must be an integer in [1, epochs = 3]",
    ),
    "reduction_factor 1": (
        lambda t: [str(fidelity_space(t, f"{FIDELITY}\nreduction_factor = 1"))],
        "study.reduction_factor: 1 must be an integer ≥ 2",
    ),
    "fidelity steps": (
        lambda t: [str(fidelity_space(t, 'fidelity = "steps"'))],
        "study.fidelity: 'steps'; allowed: 'epochs'",
    ),
    "fidelity with searched epochs": (
        lambda t: [str(fidelity_space(t, FIDELITY, "epochs = { low = 1, high = 9 }"))],
        "params.epochs: is searched, but a fidelity needs one full-fidelity epoch count",
    ),
    "fidelity with a grid": (
        lambda t: [str(fidelity_space(t, f'{FIDELITY}\nsampler = "grid"'))],
        "study.sampler: 'grid' cannot use fidelity = 'epochs'",
    ),
    "fidelity with --sampler grid": (
        lambda t: [str(fidelity_space(t, FIDELITY)), "--sampler", "grid"],
        "--sampler: 'grid' cannot use the space's fidelity = 'epochs'",
    ),
    "min_epochs without fidelity": (
        lambda t: [str(fidelity_space(t, "min_epochs = 1"))],
        'study.min_epochs: applies only with fidelity = "epochs"',
    ),
    "budget_epochs 0": (
        lambda t: [str(fidelity_space(t, "budget_epochs = 0"))],
        "study.budget_epochs: 0 must be an integer ≥ 1",
    ),
    "budget_epochs below the first rung": (
        lambda t: [str(fidelity_space(t, f"{FIDELITY}\nmin_epochs = 3\nbudget_epochs = 2", "epochs = 9"))],
        "study.budget_epochs: 2 is below the first rung (min_epochs = 3)",
    ),
    "lr nan": (lambda t: [str(space(t, "lr = nan"))], "params.lr"),
    "width_mult nan": (lambda t: [str(space(t, "width_mult = nan"))], "params.width_mult"),
    "lr inf range": (lambda t: [str(space(t, "lr = { low = 0.01, high = inf }"))], "params.lr"),
    "sampler option type": (
        lambda t: [str(space(t, extra='[sampler]\nn_startup_trials = "ten"\n'))],
        "sampler.n_startup_trials",
    ),
    "constraint e": (
        lambda t: [str(space(t, extra='[constraints]\narea_mm2 = "<= e"\n'))],
        "constraints.area_mm2",
    ),
    "study name ..": (lambda t: [str(space(t, name=".."))], "study.name"),
    "mapping typo": (lambda t: [str(space(t, 'mapping = "sign-pair"'))], "params.mapping"),
    "no slices": (lambda t: [str(space(t, "multilevel_devices = 0"))], "multilevel_devices"),
    "searched data_path": (
        lambda t: [str(space(t, 'data_path = { choices = ["a", "b"] }'))],
        "params.data_path",
    ),
    "missing data_path": (
        lambda t: [str(space(t, f'dataset = "mnist"\ndata_path = "{t / "absent"}"'))],
        "data_path",
    ),
    "mnist without data_path": (lambda t: [str(space(t, 'dataset = "mnist"'))], "data_path"),
    "truncated idx header": (
        lambda t: [str(space(t, f'dataset = "mnist"\ndata_path = "{idx_folder(t, lambda b: b[:9])}"'))],
        "truncated",
    ),
    "truncated idx data": (
        lambda t: [str(space(t, f'dataset = "mnist"\ndata_path = "{idx_folder(t, lambda b: b[:100])}"'))],
        "truncated",
    ),
    "damaged gzip idx": (
        lambda t: [
            str(
                space(t, f'dataset = "mnist"\ndata_path = "{idx_folder(t, lambda b: gzip.compress(b)[:30])}"')
            )
        ],
        "params.dataset",
    ),
    "seed -1": (lambda t: [str(space(t)), "--seed", "-1"], "--seed"),
    "cpus -1": (lambda t: [str(space(t)), "--cpus-per-trial", "-1"], "--cpus-per-trial"),
    "gpus -1": (lambda t: [str(space(t)), "--gpus-per-trial", "-1"], "--gpus-per-trial"),
    "trials 0": (lambda t: [str(space(t)), "--trials", "0"], "--trials"),
    "workers 0": (lambda t: [str(space(t)), "--workers", "0"], "--workers"),
    "sampler": (lambda t: [str(space(t)), "--sampler", "cmaes"], "--sampler"),
    "executor": (lambda t: [str(space(t)), "--executor", "dask"], "--executor"),
    "storage foo": (lambda t: [str(space(t)), "--storage", "foo://bar"], "--storage"),
    "storage not a url": (lambda t: [str(space(t)), "--storage", "not-a-url"], "--storage"),
    "storage unreachable": (
        lambda t: [str(space(t)), "--storage", "postgresql://nobody@127.0.0.1:1/none"],
        "--storage",
    ),
    "out is a file": (lambda t: [str(space(t)), "--out", str(t / "space.toml")], "--out"),
    "cache-dir is a file": (lambda t: [str(space(t)), "--cache-dir", str(t / "space.toml")], "--cache-dir"),
    "cache-dir under a file": (
        lambda t: [str(space(t)), "--cache-dir", str(t / "space.toml" / "cache")],
        "--cache-dir",
    ),
    "resume without study": (lambda t: [str(space(t)), "--resume"], "--resume"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_exits_2_before_any_work(case: str, tmp_path: Path) -> None:
    make, field = CASES[case]
    args = make(tmp_path)
    out = tmp_path / "out"
    if "--out" not in args:
        args += ["--out", str(out)]
    before = sorted(p.name for p in tmp_path.iterdir())
    code, text = run_cli(["run", *args])
    assert code == 2, text
    assert field in text, text
    assert "starting Ray" not in text
    assert not ray.is_initialized()
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_a_binary_space_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "space.toml"
    path.write_bytes(bytes(range(256)))
    code, text = run_cli(["run", str(path), "--out", str(tmp_path / "out")])
    assert code == 2 and "not a text file" in text and str(path) in text


def test_a_non_pickle_cifar_batch_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "cifar"
    folder.mkdir()
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(
            pickle.dumps({b"data": [1, 2, 3], b"labels": [0]}) if name != "test_batch" else b"x"
        )
    code, text = run_cli(["run", str(space(tmp_path, f'dataset = "cifar10"\ndata_path = "{folder}"'))])
    assert code == 2 and "is not a CIFAR-10 python batch" in text and "params.dataset" in text


def test_compact_with_zero_rows_per_part_exits_2(tmp_path: Path) -> None:
    (tmp_path / "_study.json").write_text('{"study": "s", "objectives": ["accuracy:max"], "trials": 1}')
    code, text = run_cli(["compact", str(tmp_path), "--max-rows", "0"])
    assert code == 2 and "--max-rows" in text


def test_status_of_a_folder_that_is_no_study_exits_2(tmp_path: Path) -> None:
    code, text = run_cli(["status", str(tmp_path)])
    assert code == 2 and "not a results folder" in text


def test_spaces_names_a_broken_space_and_exits_2_after_listing_the_good_ones(tmp_path: Path) -> None:
    (tmp_path / "good.toml").write_text(GOOD.format(extra_params="", extra=""))
    (tmp_path / "broken.toml").write_text(
        GOOD.format(extra_params="adc_bits = { low = 9, high = 2 }", extra="")
    )
    code, text = run_cli(["spaces", str(tmp_path)])
    assert code == 2, text
    assert "good.toml" in text and "params.adc_bits" in text and "low 9 > high 2" in text
    assert "1 of 2 spaces" in text and "invalid: broken.toml" in text


@pytest.mark.parametrize("make", [lambda t: t / "absent", lambda t: t], ids=["missing", "no toml"])
def test_spaces_of_a_folder_without_spaces_exits_2(make: Callable[[Path], Path], tmp_path: Path) -> None:
    code, text = run_cli(["spaces", str(make(tmp_path))])
    assert code == 2 and "FOLDER" in text and str(tmp_path) in text, text


def test_the_shipped_spaces_are_all_valid() -> None:
    code, text = run_cli(["spaces", str(Path(__file__).resolve().parents[2] / "search_spaces")])
    assert code == 0 and "quickstart.toml" in text, text


def test_status_before_any_complete_trial_counts_zero_and_no_front(tmp_path: Path) -> None:
    (tmp_path / "_study.json").write_text('{"study": "s", "objectives": ["accuracy:max"], "trials": 3}')
    code, text = run_cli(["status", str(tmp_path)])
    assert code == 0, text
    assert "complete 0, failed 0, running 0, budget 3" in text and "hypervolume" not in text


@pytest.mark.parametrize(("value", "message"), [("-3", "must be ≥ 1, got -3"), ("x", "valid integer")])
def test_compact_with_bad_max_rows_exits_2(value: str, message: str, tmp_path: Path) -> None:
    (tmp_path / "_study.json").write_text('{"study": "s", "objectives": ["accuracy:max"], "trials": 1}')
    code, text = run_cli(["compact", str(tmp_path), "--max-rows", value])
    assert code == 2 and "--max-rows" in text and message in text, text


def test_compact_of_a_folder_that_is_no_study_exits_2(tmp_path: Path) -> None:
    code, text = run_cli(["compact", str(tmp_path)])
    assert code == 2 and "not a results folder" in text
