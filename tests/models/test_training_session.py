"""TrainingRun: a run stopped after an epoch, saved, loaded and resumed is bit-identical to one that
never stopped, for every training mode; damaged or foreign checkpoints are refused by name."""

from __future__ import annotations

import dataclasses
import functools
from pathlib import Path

import pytest
import torch
from torch import nn

from models.config import AnalogConfig, MomentumPlacement, NetworkConfig, TrainConfig, TrainMode
from models.nn.networks import analog_layers, build_network
from models.training.outcome import TrainingDiverged, TrainResult
from models.training.session import CheckpointError, TrainingRun, code_version
from models.training.trainers import train
from tests.torch_devices import TORCH_DEVICES


@functools.cache
def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """200 digits (7 batches of 32 per epoch: converter recalibration every 5 steps and pcm_2t1c
    transfers every 3 steps fall across epoch boundaries)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.data / 16.0, dtype=torch.float32)
    return x[:200], torch.tensor(bunch.target, dtype=torch.int64)[:200]


CASES = {  # mode, device, analog extras, train extras
    "hwa": ("hwa", "pcm", {}, {"eta_train": 0.05, "train_weight_bits": 6}),
    "apt": ("apt", "rram", {}, {"apt_steps": 5}),
    "onchip_sgd_rram": ("onchip_sgd", "rram", {"stuck_off_fraction": 0.01}, {}),
    "onchip_sgd_pcm": ("onchip_sgd", "pcm", {}, {"momentum_placement": MomentumPlacement.IN_MEMORY}),
    "mixed_precision": ("mixed_precision", "pcm", {}, {"update_bits": 8}),
    "hic": ("hic", "pcm", {"binary_devices": 1}, {"update_bits": 4}),
    "qnn": ("qnn", "stt_mram", {}, {"lr": 0.2}),
    "pcm_2t1c": ("pcm_2t1c", "pcm", {}, {"transfer_images": 96}),
}


VARIANTS = {  # update-rule and network variants, on 64 digits (2 steps an epoch)
    "hwa_in_loop": ("hwa", "rram", {}, {"hwa_converters_in_loop": True, "update_bits": 4}),
    "onchip_sgd_bits_ideal_backward": ("onchip_sgd", "rram", {}, {"update_bits": 4, "backward": "ideal"}),
    "onchip_sgd_no_momentum": ("onchip_sgd", "ecram", {}, {"momentum_placement": MomentumPlacement.NONE}),
    "mixed_precision_float": ("mixed_precision", "rram", {}, {}),
    "qnn_binary": ("qnn", "stt_mram", {}, {"lr": 0.2, "qnn_weights": "binary"}),
    "pcm_2t1c_leak": ("pcm_2t1c", "pcm", {}, {"transfer_images": 96, "cap_retention_images": 500.0}),
    "onchip_sgd_lenet": ("onchip_sgd", "rram", {"stuck_on_fraction": 0.01}, {"model": "lenet"}),
}


def _case(name: str, epochs: int = 3) -> tuple[nn.Module, TrainConfig]:
    mode, device, analog, extra = {**CASES, **VARIANTS}[name]
    extra = dict(extra)
    model = str(extra.pop("model", "mlp"))
    torch.manual_seed(0)
    shape = (1, 8, 8) if model == "lenet" else (64,)
    net_cfg = NetworkConfig(
        model=model, hidden=(32,), width_mult=0.25 if model != "mlp" else 1.0, in_features=64, in_shape=shape
    )
    net = build_network(net_cfg, AnalogConfig(device=device, tile_rows=64, tile_cols=64, **analog))
    kw = {"epochs": epochs, "batch_size": 32, "lr": 0.05, "range_recalibration_steps": 5, **extra}
    return net, TrainConfig(mode=TrainMode(mode), **kw)


def _timeless(r: TrainResult) -> TrainResult:
    return dataclasses.replace(r, seconds=0.0, calibration_seconds=0.0)


def _device_state(run: TrainingRun) -> list[torch.Tensor]:
    """The loop's momentum buffers, every tensor the updater holds (device state, accumulators,
    counters) and each trained chip."""
    out: list[torch.Tensor] = list(getattr(run.loop, "bufs", []))
    updater = getattr(run.loop, "updater", None)
    if updater is not None:
        for name, value in vars(updater).items():
            if name in ("_buf", "_bufs", "_gaps", "_flips"):
                continue  # scratch, written before every read (uninitialised memory otherwise;
                # qnn's compiled CPU step, models/physics/mtj_kernel.py, never uses its scratch)
            items = value if isinstance(value, list) else [value]
            for item in items:
                if isinstance(item, torch.Tensor):
                    out.append(item)
                elif hasattr(item, "__dict__") and not isinstance(item, nn.Module):
                    out += [t for k, t in vars(item).items() if isinstance(t, torch.Tensor) and k != "_buf"]
    for layer in analog_layers(run.model):
        if layer.trained_chip is not None:
            out.append(layer.trained_chip.g)
    return out


def _assert_same(a: TrainingRun, ra: TrainResult, b: TrainingRun, rb: TrainResult) -> None:
    assert _timeless(ra) == _timeless(rb)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k
    da, db = _device_state(a), _device_state(b)
    assert len(da) == len(db) and all(torch.equal(p, q) for p, q in zip(da, db, strict=True))


@pytest.mark.parametrize("name", [*CASES, *VARIANTS])
def test_stop_save_load_resume_is_bit_identical(name: str, tmp_path: Path) -> None:
    x, y = digits()
    _check_resume(name, *((x[:64], y[:64]) if name in VARIANTS else (x, y)), tmp_path, "cpu")


@pytest.mark.parametrize("where", [p for p in TORCH_DEVICES if p.id != "cpu"])
@pytest.mark.parametrize("name", ["hwa", "onchip_sgd_pcm", "hic", "qnn", "pcm_2t1c"])
def test_resume_on_an_accelerator_is_bit_identical(name: str, where: str, tmp_path: Path) -> None:
    """The same on the GPU (model and generators there, data left on the CPU)."""
    x, y = digits()
    _check_resume(name, x, y, tmp_path, where)


def _check_resume(name: str, x: torch.Tensor, y: torch.Tensor, tmp_path: Path, where: str) -> None:
    """Train 3 epochs straight, and 1 + 1 + 1 with a save, a disturbed global stream and a load
    between each; everything must be equal."""
    n, steps = x.shape[0], -(-x.shape[0] // 32)
    net, cfg = _case(name)
    straight = TrainingRun.start(net.to(where), x, y, cfg)
    straight.advance(3)
    r_straight = straight.finish()
    after_straight = torch.rand(4)  # the global stream as training leaves it

    net2, _ = _case(name)
    first = TrainingRun.start(net2.to(where), x, y, cfg)
    first.advance(1)
    first.save(tmp_path / "run.ckpt")
    del first
    torch.manual_seed(12345)  # whatever runs between rungs (an evaluation) draws from the global stream
    torch.rand(1000)
    resumed = TrainingRun.load(tmp_path / "run.ckpt", x, y, cfg)
    assert resumed.epochs_done == 1
    resumed.advance(2)
    resumed.save(tmp_path / "run.ckpt")  # a second rung, saved over the first
    resumed = TrainingRun.load(tmp_path / "run.ckpt", x, y, cfg)
    resumed.advance(3)
    r_resumed = resumed.finish()

    _assert_same(straight, r_straight, resumed, r_resumed)
    assert torch.equal(torch.rand(4), after_straight)
    assert r_resumed.steps == 3 * steps and r_resumed.seconds > 0
    on_chip = cfg.mode not in (TrainMode.HWA, TrainMode.APT)
    assert r_resumed.train_samples == (3 * n if on_chip else 0)


@pytest.mark.parametrize("name", ["hwa", "hic", "pcm_2t1c"])
def test_train_is_a_run_straight_to_cfg_epochs(name: str) -> None:
    """trainers.train is start → advance(cfg.epochs) → finish (the old entry point's results)."""
    x, y = digits()
    net, cfg = _case(name, epochs=2)
    r_train = train(net, x, y, cfg)
    net2, _ = _case(name, epochs=2)
    run = TrainingRun.start(net2, x, y, cfg)
    run.advance(2)
    assert _timeless(run.finish()) == _timeless(r_train)
    for k, v in net.state_dict().items():
        assert torch.equal(v, net2.state_dict()[k]), k


@pytest.mark.parametrize("name", ["onchip_sgd_rram", "qnn", "pcm_2t1c"])
def test_a_run_stopped_early_reports_the_epochs_it_ran(name: str) -> None:
    """cfg.epochs is the full fidelity; a run finished after 1 of 3 epochs is the 1-epoch run:
    its samples, steps, writes and weights are those of cfg.epochs = 1."""
    x, y = digits()
    net, cfg = _case(name, epochs=3)
    run = TrainingRun.start(net, x, y, cfg)
    run.advance(1)
    early = run.finish()
    net1, cfg1 = _case(name, epochs=1)
    one = train(net1, x, y, cfg1)
    assert early.train_samples == 200 and early.steps == 7
    assert _timeless(early) == _timeless(one)
    for k, v in net.state_dict().items():
        assert torch.equal(v, net1.state_dict()[k]), k


def test_finish_ends_the_run_and_advance_checks_its_target(tmp_path: Path) -> None:
    x, y = digits()
    net, cfg = _case("hwa")
    run = TrainingRun.start(net, x, y, cfg)
    with pytest.raises(ValueError, match=r"epochs=4: must be in 0\.\.3"):
        run.advance(4)
    run.advance(2)
    with pytest.raises(ValueError, match=r"epochs=1: must be in 2\.\.3"):
        run.advance(1)
    run.finish()
    with pytest.raises(RuntimeError, match="ended"):
        run.advance(3)
    with pytest.raises(RuntimeError, match="ended"):
        run.save(tmp_path / "x.ckpt")


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, TrainConfig]:
    x, y = digits()
    net, cfg = _case("onchip_sgd_rram")
    run = TrainingRun.start(net, x, y, cfg)
    run.advance(1)
    path = tmp_path_factory.mktemp("ckpt") / "run.ckpt"
    run.save(path)
    return path, cfg


def test_a_checkpoint_holds_no_training_data(saved: tuple[Path, TrainConfig]) -> None:
    path, _ = saved
    state = torch.load(path, weights_only=False)
    assert not hasattr(state["loop"].chip, "x_cal")
    assert state["loop"].chip.cal_index.shape == (32,)
    assert [p.name for p in path.parent.iterdir()] == ["run.ckpt"]  # no temp file left behind


def test_a_missing_checkpoint_is_named(tmp_path: Path) -> None:
    x, y = digits()
    _, cfg = _case("hwa")
    with pytest.raises(CheckpointError, match=r"nope\.ckpt: missing"):
        TrainingRun.load(tmp_path / "nope.ckpt", x, y, cfg)


@pytest.mark.parametrize("damage", ["truncated", "random", "empty", "foreign"])
def test_a_damaged_checkpoint_is_refused_by_name(
    damage: str, saved: tuple[Path, TrainConfig], tmp_path: Path
) -> None:
    path, cfg = saved
    x, y = digits()
    bad = tmp_path / f"{damage}.ckpt"
    data = path.read_bytes()
    if damage == "truncated":
        bad.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        bad.write_bytes(torch.randint(0, 256, (4096,), dtype=torch.uint8).numpy().tobytes())
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        torch.save({"weights": torch.zeros(3)}, bad)
    reason = "not a training-run checkpoint" if damage == "foreign" else "damaged or not a checkpoint"
    with pytest.raises(CheckpointError, match=rf"{damage}\.ckpt: {reason}"):
        TrainingRun.load(bad, x, y, cfg)


def test_a_checkpoint_of_another_cfg_names_the_field(saved: tuple[Path, TrainConfig]) -> None:
    path, cfg = saved
    x, y = digits()
    with pytest.raises(CheckpointError, match=r"run\.ckpt: saved with cfg\.lr=0\.05, but this run has 0\.1"):
        TrainingRun.load(path, x, y, dataclasses.replace(cfg, lr=0.1))
    with pytest.raises(CheckpointError, match=r"cfg\.epochs=3, but this run has 9"):
        TrainingRun.load(path, x, y, dataclasses.replace(cfg, epochs=9))


def test_a_checkpoint_of_other_data_is_refused(saved: tuple[Path, TrainConfig]) -> None:
    path, cfg = saved
    x, y = digits()
    for xs, ys in ((x.flip(0), y.flip(0)), (x * 1.001, y), (x[:-1], y[:-1])):
        with pytest.raises(CheckpointError, match=r"run\.ckpt: trained on other data"):
            TrainingRun.load(path, xs, ys, cfg)


def test_a_checkpoint_of_other_code_is_refused(saved: tuple[Path, TrainConfig], tmp_path: Path) -> None:
    """A checkpoint resumes only under the code that wrote it (a study restarted after an upgrade
    retrains instead)."""
    path, cfg = saved
    x, y = digits()
    state = torch.load(path, weights_only=False)
    assert state["code"] == code_version()
    state["code"] = "0123456789abcdef"
    torch.save(state, tmp_path / "old.ckpt")
    with pytest.raises(
        CheckpointError, match=r"old\.ckpt: written by other code \(models/ source hash 0123456789abcdef"
    ):
        TrainingRun.load(tmp_path / "old.ckpt", x, y, cfg)


def test_a_failed_save_leaves_the_last_checkpoint_whole(tmp_path: Path) -> None:
    """save writes a temp file and replaces: a save that dies half-way (here pickling fails part-way, after
    the loop's other state was written) leaves the previous checkpoint as it was, and no temp file."""
    x, y = digits()
    net, cfg = _case("hwa")
    run = TrainingRun.start(net, x, y, cfg)
    run.advance(1)
    path = tmp_path / "run.ckpt"
    run.save(path)
    before = path.read_bytes()
    run.advance(2)
    run.loop.unpicklable = lambda: None  # type: ignore[attr-defined]
    with pytest.raises(Exception, match="pickle"):
        run.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]
    assert TrainingRun.load(path, x, y, cfg).epochs_done == 1


def test_a_run_that_diverged_cannot_be_saved_or_go_on(tmp_path: Path) -> None:
    x, y = digits()
    x = x.clone()
    x[5, 3] = float("nan")
    net, cfg = _case("onchip_sgd_rram")
    run = TrainingRun.start(net, x, y, cfg)
    with pytest.raises(TrainingDiverged, match="training loss is nan after 7 steps"):
        run.advance(2)
    assert run.epochs_done == 1
    for act in (lambda: run.save(tmp_path / "run.ckpt"), lambda: run.advance(2), run.finish):
        with pytest.raises(
            RuntimeError, match=r"last advance failed \(TrainingDiverged: training loss is nan"
        ):
            act()
    assert not (tmp_path / "run.ckpt").exists()
