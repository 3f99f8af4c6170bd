"""A row's cell-read energy is the cost model charged with what ran: the DAC codes the test pass
converted at the headline reading (recounted here by hooks on the layers' inputs) and the
conductances of the chips that were programmed (summed here from the devices)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from dse.engine.data import Dataset, load_dataset
from dse.engine.trial import CALIBRATION_SAMPLES, _train_and_read, evaluate_point
from dse.schema.point import READ_TIMES, DesignPoint
from dse.schema.record import COLUMNS, TrialRecord, arrow_schema
from models.cost.breakdown import LayerReads, slices
from models.cost.model import hardware_cost
from models.nn import inference
from models.nn.networks import analog_layers, layer_shapes
from models.physics import converters
from models.physics.devices import DEVICES

POINT = DesignPoint.of(
    device="pcm", mode="hwa", model="mlp", hidden=(24,), epochs=1, tile_size=32, dac_bits=4, hardware_seeds=2
)
ENERGY = ("energy_array_pj", "energy_adc_pj", "energy_dac_pj", "energy_per_inference_pj", "tops_per_w")
READ_COLUMNS = ("input_duty_measured", "cell_g_us", "input_duty_by_layer", "cell_g_us_by_layer")


@pytest.fixture(scope="module")
def data() -> Dataset:
    return load_dataset("digits")


@pytest.fixture(scope="module")
def row(data: Dataset) -> dict[str, Any]:
    return evaluate_point(POINT, data)


def _tensors(data: Dataset) -> tuple[torch.Tensor, ...]:
    return (
        torch.from_numpy(data.x_train).reshape(-1, *data.in_shape),
        torch.from_numpy(data.y_train),
        torch.from_numpy(data.x_test).reshape(-1, *data.in_shape),
        torch.from_numpy(data.y_test),
    )


def _brute_force_reads(data: Dataset) -> tuple[list[float], list[float], list[Any]]:
    """Per layer: the bit-serial 1-bit density of the codes the DAC made of the layer's inputs in
    the headline test pass of every chip, and the mean pair conductance of the programmed chips."""
    tensors = _tensors(data)
    model, _ = _train_and_read(POINT, data, tensors, None, "cpu")
    layers, bits = analog_layers(model), POINT.dac_bits
    ones, drives, g_sum = [0] * len(layers), [0] * len(layers), [0.0] * len(layers)
    captured: list[tuple[int, torch.Tensor]] = []
    hooks = [
        layer.register_forward_pre_hook(lambda m, args, i=i: captured.append((i, args[0].detach().clone())))
        for i, layer in enumerate(layers)
    ]
    headline = (READ_TIMES[POINT.read_time], POINT.gdc)
    try:
        for seed in POINT.hardware_seeds_list():  # as evaluate_read_times reads each chip
            inference.program(model, seed)
            inference.calibrate(model, tensors[0][:CALIBRATION_SAMPLES])
            for i, layer in enumerate(layers):
                g_sum[i] += float(layer._g.double().sum())  # type: ignore[union-attr]
            for t in READ_TIMES.values():
                inference.set_read_time(model, t, seed)
                for gdc in (False, True):
                    inference.set_gdc(model, gdc)
                    captured.clear()
                    inference.accuracy(model, tensors[2], tensors[3])
                    if (t, gdc) != headline:
                        continue
                    for i, x in captured:
                        r = float(layers[i].dac_range)
                        signed = bool(x.min() < 0)
                        q = converters.quantize_uniform(x, bits, r, signed)
                        codes = torch.round(q.abs() / converters.quant_step(bits, r, signed)).long()
                        ones[i] += sum(bin(int(c)).count("1") for c in codes.flatten())
                        drives[i] += codes.numel()
    finally:
        for h in hooks:
            h.remove()
        inference._unprogram(model)
    analog = POINT.analog_config()
    k = slices(analog, DEVICES["pcm"])
    chips = len(POINT.hardware_seeds_list())
    duty = [o / (bits * n) for o, n in zip(ones, drives, strict=True)]
    g = [s / (chips * layer.weight.numel() * k) for s, layer in zip(g_sum, layers, strict=True)]
    return duty, g, layer_shapes(model, tensors[2][:2])


def test_a_rows_energy_is_the_cost_model_charged_with_the_codes_and_chips_that_ran(
    row: dict[str, Any], data: Dataset
) -> None:
    duty, g, shapes = _brute_force_reads(data)
    assert min(duty) > 0.02 and max(duty) < 0.5  # digits and ReLU activations: sparser than uniform codes
    stored_duty = [float(v) for v in row["input_duty_by_layer"].split(",")]
    stored_g = [float(v) for v in row["cell_g_us_by_layer"].split(",")]
    assert stored_duty == pytest.approx(duty, rel=1e-12) and stored_g == pytest.approx(g, rel=1e-9)
    macs = [s.rows * s.cols * s.uses_per_inference for s in shapes]
    assert row["input_duty_measured"] == pytest.approx(
        sum(d * m for d, m in zip(duty, macs, strict=True)) / sum(macs), rel=1e-12
    )
    expected = hardware_cost(
        POINT.analog_config(),
        DEVICES["pcm"],
        shapes,
        row["max_writes_per_device"],
        row["mean_writes_per_device"],
        reads=[LayerReads(d, gi) for d, gi in zip(duty, g, strict=True)],
        cost=POINT.cost_config(),
        write_attempts_total=row["write_attempts_total"],
    ).as_row()
    for name in ENERGY:
        assert row[name] == pytest.approx(expected[name], rel=1e-9), name
    nominal = hardware_cost(POINT.analog_config(), DEVICES["pcm"], shapes, 0.0, 0.0, 0.5)
    assert row["energy_array_pj"] != pytest.approx(nominal.energy_array_pj, rel=0.05)  # it moved


def test_a_fixed_duty_overrides_the_measured_one_which_is_still_recorded(
    row: dict[str, Any], data: Dataset
) -> None:
    fixed = evaluate_point(POINT.replace(input_duty_source="fixed", input_duty=0.5), data)
    assert fixed["input_duty_measured"] == row["input_duty_measured"]  # the same chips and codes
    assert fixed["cell_g_us_by_layer"] == row["cell_g_us_by_layer"]
    duty = row["input_duty_measured"]
    assert fixed["energy_array_pj"] == pytest.approx(row["energy_array_pj"] * 0.5 / duty, rel=0.2)
    assert fixed["energy_adc_pj"] == row["energy_adc_pj"]  # conversions do not depend on the duty


def test_the_digital_baseline_has_no_cell_reads(data: Dataset) -> None:
    sram = evaluate_point(POINT.replace(device="sram"), data)
    assert all(sram[c] is None for c in READ_COLUMNS)


def test_the_read_columns_are_declared_and_round_trip_through_the_store(
    row: dict[str, Any], tmp_path
) -> None:
    import pyarrow as pa

    from dse.results.store import ResultStore

    schema = arrow_schema()
    assert schema.field("input_duty_measured").type == pa.float64() == schema.field("cell_g_us").type
    assert schema.field("input_duty_by_layer").type == pa.string() == schema.field("cell_g_us_by_layer").type
    assert COLUMNS["cell_g_us"].unit == "µS" and COLUMNS["input_duty_measured"].group == "hardware"
    ResultStore(tmp_path).append([TrialRecord("s", 0, "complete", POINT, {c: row[c] for c in READ_COLUMNS})])
    back = ResultStore(tmp_path).read().iloc[0]
    assert [back[c] for c in READ_COLUMNS] == [row[c] for c in READ_COLUMNS]  # exact floats in the lists


def test_replay_compares_the_per_layer_reads_exactly_on_one_device_and_within_1_percent_across() -> None:
    from dse.cli.replay import compare

    stored = {"cell_g_us_by_layer": "20.0,nan", "cell_g_us": 20.0, "status": "complete"}
    near = {**stored, "cell_g_us_by_layer": "20.1,nan"}
    far = {**stored, "cell_g_us_by_layer": "20.5,nan"}
    assert compare(stored, stored, exact=True) == []
    assert [d[0] for d in compare(stored, near, exact=True)] == ["cell_g_us_by_layer"]
    assert compare(stored, near, exact=False) == []
    assert [d[0] for d in compare(stored, far, exact=False)] == ["cell_g_us_by_layer"]
