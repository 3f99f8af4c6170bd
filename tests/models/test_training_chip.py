"""On-chip training on the chip that trains: the trained device state is what evaluation reads,
training reads are noisy, converter ranges never come from the batch they convert, and the
analog backward pass is a transposed read with the array's read noise."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from models.config import AnalogConfig, BackwardPass, TrainConfig, TrainMode
from models.nn import inference
from models.nn.conv import AnalogConv2d
from models.nn.layers import AnalogLinear
from models.nn.networks import analog_layers
from models.physics import crossbar
from models.physics.devices import DEVICES
from models.training.chip import weight_chip
from models.training.trainers import train
from tests.models.test_training_modes import _net, digits

RRAM = DEVICES["rram"]
RRAM_READ_US = 0.01 * 40.0
"""RRAM read noise: 1 % of g_max = 40 µS per device and read [A] (REFERENCES.md)."""


def _onchip(stuck: float = 0.0, **analog: object) -> torch.nn.Module:
    x, y, _, _ = digits()
    net = _net("rram", stuck_off_fraction=stuck, **analog)
    train(net, x, y, TrainConfig(mode=TrainMode.ONCHIP_SGD, epochs=1, batch_size=32, lr=0.05))
    return net


def _chip_layer(rows: int = 96, out: int = 40, **analog: object) -> AnalogLinear:
    """An rram layer in on-chip training reads (tiles of 32 rows and 16 columns)."""
    torch.manual_seed(0)
    cfg = AnalogConfig(device="rram", tile_rows=32, tile_cols=16, **analog)  # type: ignore[arg-type]
    layer = AnalogLinear(rows, out, cfg)
    layer.start_chip_reads(weight_chip(layer), None, analog_backward=True)
    layer.train()
    return layer


def _calibrate(layer: torch.nn.Module, x: torch.Tensor, d: torch.Tensor) -> None:
    layer.calibrating = True
    try:
        layer(x.clone().requires_grad_()).backward(d)
    finally:
        layer.calibrating = False


def test_stuck_devices_of_training_are_stuck_at_evaluation_and_nothing_is_reprogrammed() -> None:
    net = _onchip(stuck=0.05)
    assert inference.eval_chip(net) == "trained"
    for layer in analog_layers(net):
        chip, faults = layer.trained_chip, layer.chip_faults
        assert chip is not None and faults is not None and bool((faults < 0).any())
        stuck_read = chip.weight(crossbar.apply_stuck(chip.g, faults, RRAM))
        reads = []
        for seed in (1, 2):
            inference.program(torch.nn.Sequential(layer), seed)
            assert torch.equal(layer._g[faults < 0], torch.full_like(layer._g[faults < 0], RRAM.g_min_us))
            reads.append(layer.programmed.clone())
        layer.unprogram()
        # two hardware seeds read the same devices (no programming noise, the same faults)
        assert torch.equal(reads[0], reads[1]) and torch.equal(reads[0], stuck_read)


def test_training_reads_see_the_stuck_devices() -> None:
    layer = _chip_layer()
    chip = weight_chip(layer)
    faults = crossbar.stuck_mask(chip.g.shape, 0.1, 0.05, torch.Generator().manual_seed(3))
    layer.start_chip_reads(chip, faults, analog_backward=False)
    expected = chip.weight(crossbar.apply_stuck(chip.g, faults, RRAM))
    assert torch.equal(layer.current_weight(), expected)
    assert not torch.equal(expected, layer.weight.detach())


def test_without_read_noise_and_drift_the_trained_chip_gives_the_training_end_accuracy() -> None:
    x, _, xt, yt = digits()
    net = _onchip(read_noise_scale=0.0, drift=False)  # programming noise stays on: it must not act
    inference.calibrate(net, x[:256])
    end = inference.accuracy(net, xt, yt)  # the weights the devices held when training ended
    by_time = inference.evaluate_read_times(net, x[:256], xt, yt, [1, 2], (1.0, 86400.0))
    assert all(acc == end for accs in by_time.values() for acc in accs), (end, by_time)


def test_an_off_chip_mode_programs_fresh_chips() -> None:
    x, y, _, _ = digits()
    net = _net("rram")
    train(net, x, y, TrainConfig(mode=TrainMode.HWA, epochs=1))
    assert inference.eval_chip(net) == "fresh"
    layer = analog_layers(net)[0]
    reads = []
    for seed in (1, 2):
        inference.program(net, seed)
        reads.append(layer.programmed.clone())
    assert not torch.equal(reads[0], reads[1])  # programming noise differs per chip


def test_two_training_reads_differ_by_the_read_noise_of_the_devices() -> None:
    layer = _chip_layer(adc_bits=None, dac_bits=None)
    x = torch.rand(512, 96)
    with torch.no_grad():
        diff = layer(x) - layer(x)
    # each weight: two devices with independent N(0, σ_us²), w = coef·(g⁺ − g⁻), coef = w_max/span
    w_max = float(layer.weight.detach().abs().max())
    sigma_w = RRAM_READ_US * math.sqrt(2.0) * w_max / (RRAM.g_max_us - RRAM.g_min_us)
    expected = math.sqrt(2.0) * sigma_w * torch.linalg.vector_norm(x, dim=1, keepdim=True)
    z = diff / expected
    assert abs(float(z.std()) - 1.0) < 0.03 and abs(float(z.mean())) < 0.03


def test_converter_ranges_do_not_depend_on_the_batch_being_converted() -> None:
    layer = _chip_layer(read_noise_scale=0.0)
    x = torch.rand(64, 96)
    _calibrate(layer, x, torch.randn(64, 40) * 0.01)
    x0, big = torch.rand(1, 96), torch.rand(1, 96) * 50.0
    d0, dbig = torch.randn(1, 40) * 0.01, torch.randn(1, 40) * 10.0
    outs, grads = [], []
    for xb, db in ((x0, d0), (torch.cat((x0, big)), torch.cat((d0, dbig)))):
        xb = xb.clone().requires_grad_()
        y = layer(xb)
        y.backward(db)
        outs.append(y[0].detach())
        grads.append(xb.grad[0])
    assert torch.equal(outs[0], outs[1]) and torch.equal(grads[0], grads[1])
    layer.chip_reads = False  # off-chip training: dynamic ranges, taken from the batch itself
    assert not torch.equal(layer(x0)[0], layer(torch.cat((x0, big)))[0])


def test_analog_backward_equals_the_ideal_one_without_noise_and_converters() -> None:
    layer = _chip_layer(adc_bits=None, dac_bits=None, read_noise_scale=0.0)
    x, d = torch.rand(32, 96, requires_grad=True), torch.randn(32, 40)
    layer(x).backward(d)
    analog_x, analog_w = x.grad.clone(), layer.weight.grad.clone()
    x.grad = layer.weight.grad = None
    layer.analog_backward = False
    layer(x).backward(d)
    torch.testing.assert_close(analog_x, d @ layer.weight.detach().t(), rtol=1e-5, atol=1e-6)  # tile sums
    assert torch.equal(analog_w, layer.weight.grad)  # ∂W is the same outer product either way


def test_analog_backward_differs_from_the_ideal_one_by_the_read_noise() -> None:
    layer = _chip_layer(adc_bits=None, dac_bits=None)
    x, d = torch.rand(512, 96, requires_grad=True), torch.randn(512, 40)
    layer(x).backward(d)
    w_max = float(layer.weight.detach().abs().max())
    sigma_w = RRAM_READ_US * math.sqrt(2.0) * w_max / (RRAM.g_max_us - RRAM.g_min_us)
    z = (x.grad - d @ layer.weight.detach().t()) / (
        sigma_w * torch.linalg.vector_norm(d, dim=1, keepdim=True)
    )
    assert abs(float(z.std()) - 1.0) < 0.03 and abs(float(z.mean())) < 0.03


def test_analog_backward_with_8_bit_converters_stays_close_to_the_ideal_one() -> None:
    layer = _chip_layer(read_noise_scale=0.0)
    x, d = torch.rand(64, 96), torch.randn(64, 40)
    _calibrate(layer, x, d)
    xg = x.clone().requires_grad_()
    layer(xg).backward(d)
    ideal = d @ layer.weight.detach().t()
    err = float((xg.grad - ideal).norm() / ideal.norm())
    assert 0 < err < 0.05  # quantized (not exact), within a few LSBs of 8 bits over 3 column tiles


@pytest.mark.parametrize("backward", [BackwardPass.ANALOG, BackwardPass.IDEAL])
def test_conv_analog_backward_is_the_transposed_read_of_every_patch(backward: BackwardPass) -> None:
    torch.manual_seed(0)
    cfg = AnalogConfig(
        device="rram", tile_rows=18, tile_cols=4, adc_bits=None, dac_bits=None, read_noise_scale=0.0
    )
    conv = AnalogConv2d(4, 6, 3, cfg, padding=1, stride=2)
    conv.start_chip_reads(weight_chip(conv), None, analog_backward=backward is BackwardPass.ANALOG)
    conv.train()
    x, d = torch.rand(2, 4, 9, 9, requires_grad=True), torch.randn(2, 6, 5, 5)
    conv(x).backward(d)
    xr = x.detach().clone().requires_grad_()
    F.conv2d(xr, conv.kernel(conv.weight.detach()), None, 2, 1).backward(d)
    torch.testing.assert_close(x.grad, xr.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("n", [2, 3, 64, 1000, 30000])
@pytest.mark.parametrize("q", [99.99, 99.9, 99.5, 90.0, 50.0])
def test_percentile_of_the_largest_values_equals_torch_quantile(n: int, q: float) -> None:
    from models.physics.converters import percentile

    v = torch.randn(3, n, 5, generator=torch.Generator().manual_seed(n))
    v[0, :2] = 7.0  # a tie at the top
    torch.testing.assert_close(
        percentile(v, q, dim=1), torch.quantile(v, q / 100.0, dim=1), rtol=1e-5, atol=1e-5
    )


def test_pcm_read_noise_level_from_a_sample_matches_the_whole_array() -> None:
    from models.physics.chip import training_read_std
    from models.training.chip import NOISE_SAMPLE

    torch.manual_seed(0)
    layer = AnalogLinear(784, 512, AnalogConfig(device="pcm"))
    n = layer.weight.numel()
    sample = torch.arange(0, n, max(1, n // NOISE_SAMPLE))
    full = training_read_std(weight_chip(layer), DEVICES["pcm"], 1.0)
    sampled = training_read_std(weight_chip(layer, sample), DEVICES["pcm"], 1.0)
    assert full > 0 and abs(sampled / full - 1.0) < 0.02
