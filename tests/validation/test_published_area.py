"""Chip and macro AREA against published figures, within the bands docs/validation.md claims.

Two sources, each reproduced with its own network, node, array, converters and column sharing:

- [ISAAC] Table I (ISAAC-CE, 32 nm): one IMA (8 arrays of 128×128, one 8-bit ADC per array,
  1-bit DACs, 16-bit inputs streamed bit-serially, 16-bit weights as 8 cells of 2 bits), the
  tile of 12 IMAs and the 168-tile chip.
- [NS] DNN+NeuroSim V1.4's release test (``Data/1.4_Release_test.csv``): VGG-8 on CIFAR-10,
  22 nm RRAM 1T1R, 128×128 subarrays, 1-bit cells, 4-bit ADC shared by 8 columns.

The published figures are literals here. Our model leaves out whole blocks both sources include
(eDRAM buffers, buses, routers, chip I/O; NeuroSim's decoders, switch matrices, accumulation
and H-tree), so the bands are the disagreement we report, not agreement: a change that moves a
ratio out of its band fails, and the docs must then be updated with the new figure.
"""

from __future__ import annotations

import pytest
import torch

from models.config import AnalogConfig, CostConfig, NetworkConfig
from models.cost.model import HardwareCost, LayerShape, hardware_cost
from models.nn.networks import build_network, layer_shapes
from models.physics.devices import DEVICES

# ---------------------------------------------------------------- ISAAC-CE [ISAAC] Table I, 32 nm

ISAAC_IMA_MM2 = 0.157 / 12  # "IMA Total | 12 | 289 mW | 0.157 mm²"
ISAAC_TILE_MM2 = 0.372  # "1 Tile Total | 330 mW | 0.372 mm²"
ISAAC_168_TILES_MM2 = 62.5  # "168 Tile Total | 55.4 W | 62.5 mm²"
ISAAC_CHIP_MM2 = 85.4  # "Chip Total | 65.8 W | 85.4 mm²" (with 22.88 mm² of HyperTransport)
ISAAC_ADCS_MM2 = 0.0096  # "ADC | 8 bits / 1.2 GSps / 8 | 16 mW | 0.0096" per IMA
ISAAC_PE_TOPS_W = 0.6275  # Table IV: ISAAC-CE PE 627.5 GOPS/W (16-bit ops, HyperTransport included)


def isaac_ima() -> HardwareCost:
    """One ISAAC IMA: 128 rows × 128 16-bit weights, 8 slices of 2-bit cells in 8 arrays."""
    analog = AnalogConfig(
        device="rram",
        tile_size=128,
        adc_bits=8,
        dac_bits=16,
        binary_devices=0,
        multilevel_devices=8,
        slice_levels=4,
    )
    cost = CostConfig(node_nm=32.0, adc_column_sharing=128, activation_bits=16)
    return hardware_cost(analog, DEVICES["rram"], [LayerShape(128, 128)], 0.0, 0.0, 0.5, cost=cost)


def test_isaac_ima_has_the_published_arrays_adcs_and_one_conversion_per_mac() -> None:
    ima = isaac_ima()
    assert ima.tiles == 8 and ima.adcs == 8  # "8 128×128 arrays, 8 ADCs per IMA"
    # 8 cells per weight × 16 input bits / 128 rows: one 8-bit conversion per 16-bit MAC
    assert ima.adc_conversions_per_inference == ima.macs_per_inference == 128 * 128
    assert ima.area_adc_mm2 == pytest.approx(ISAAC_ADCS_MM2, rel=0.005)


def test_isaac_ima_area_is_larger_by_the_band_we_report() -> None:
    # measured 2.10 (1.36 with the 12 F² cell read before): our 1T1R sign-pair cells (48 F² [NS],
    # 2 per entry) take 1,611 µm² per array against ISAAC's 25 µm², and our registers hold rows +
    # physical columns at 16 bits
    assert 1.9 <= isaac_ima().area_mm2 / ISAAC_IMA_MM2 <= 2.3


def test_isaac_tile_and_chip_area_miss_the_buffers_routers_and_io_we_do_not_model() -> None:
    ima = isaac_ima().area_mm2
    tile, chip = 12 * ima, 168 * 12 * ima
    # measured 0.886: eDRAM buffer, eDRAM-IMA bus and router share (57 % of ISAAC's tile) are not
    # modelled, and our IMA is 2.1× ISAAC's (larger cells)
    assert 0.8 <= tile / ISAAC_TILE_MM2 <= 0.97
    assert 0.8 <= chip / ISAAC_168_TILES_MM2 <= 0.97
    # measured 0.649: HyperTransport (22.88 mm²) on top
    assert 0.58 <= chip / ISAAC_CHIP_MM2 <= 0.72


def test_isaac_power_efficiency_is_lower_by_the_band_we_report() -> None:
    # measured 0.506 (0.305 with every row driven at every bit): our cell reads (V²·G·t, 0.5 V,
    # 10 ns [NS], half the rows driven per bit) are 66 % of the energy, 17.8× ISAAC's array
    # energy per MAC (test_cell_read_energy.py)
    ima = isaac_ima()
    assert 0.45 <= ima.tops_per_w / ISAAC_PE_TOPS_W <= 0.56
    assert ima.energy_array_pj / ima.energy_per_inference_pj > 0.6


# ---------------------------------------------------------------- NeuroSim V1.4 VGG-8 [NS], 22 nm

NS_CHIP_MM2 = 84.7747  # ChipArea 8.47747e+07 µm²
NS_ARRAY_MM2 = 3.60536  # Chip total CIM array 3.60536e+06 µm²
NS_ADC_MM2 = 5.06475  # Total ADC area 5.06475e+06 µm²
NS_TOPS_W = 23.9369  # Energy Efficiency TOPS/W (pipelined), numRowParallel 128


def neurosim_vgg8() -> HardwareCost:
    """VGG-8 at the release test's settings: 4-bit weights on 1-bit cells, 4-bit inputs."""
    net = build_network(
        NetworkConfig(model="vgg8", in_features=3072, in_shape=(3, 32, 32)), AnalogConfig(tile_size=128)
    )
    shapes = layer_shapes(net, torch.zeros(2, 3, 32, 32))
    analog = AnalogConfig(
        device="rram", tile_size=128, adc_bits=4, dac_bits=4, binary_devices=4, multilevel_devices=0
    )
    return hardware_cost(analog, DEVICES["rram"], shapes, 0.0, 0.0, 0.25, cost=CostConfig(node_nm=22.0))


def test_neurosim_vgg8_does_the_same_work_on_the_same_arrays() -> None:
    c = neurosim_vgg8()
    assert 2 * c.macs_per_inference == 1_231_835_136  # the CSV's numComputation, 1.23184e+09
    assert c.adcs == 16 * c.tiles  # numColMuxed = 8 on 128 columns


def test_neurosim_vgg8_area_is_smaller_by_the_band_we_report() -> None:
    c = neurosim_vgg8()
    # measured 0.153: NeuroSim's accumulation, H-tree/bus and "other peripheries" (76 mm²)
    # are 90 % of its chip; ours (registers, S/H, shift-add, DACs) are 1.9 mm²
    assert 0.13 <= c.area_mm2 / NS_CHIP_MM2 <= 0.18
    # measured 0.671: 2 × 48 F² per entry on 3,176 tiles, F = 22 nm; NeuroSim sizes its 1T1R cell
    # 4 F × 12 F at the node too (SubArray.cpp, tech.featureSize) but holds 2.98× as many
    # subarrays (pipeline duplication, whole tiles) with one cell per bit
    assert 0.6 <= c.area_array_mm2 / NS_ARRAY_MM2 <= 0.75
    # measured 1.71: an ISAAC SAR scaled to 4 bits against NeuroSim's multilevel sense amplifier
    assert 1.5 <= c.area_adc_mm2 / NS_ADC_MM2 <= 1.95


def test_neurosim_vgg8_efficiency_is_lower_by_the_band_we_report() -> None:
    # measured 0.189 (0.107 with every row driven at every bit): our cell reads (V²·G·t for 10 ns
    # per input bit, half the rows driven) are 77 % of our energy; NeuroSim's column energy has
    # no cell-current term (test_cell_read_energy.py)
    c = neurosim_vgg8()
    assert 0.16 <= c.tops_per_w / NS_TOPS_W <= 0.22


# ---------------------------------------------------------------- the RRAM cell [NS, X]


def test_rram_cell_is_neurosims_1t1r_footprint_and_near_nvmexplorers() -> None:
    # [NS] Param.cpp (DNN+NeuroSim V1.4, 9e6742c): heightInFeatureSize1T1R = 4,
    # widthInFeatureSize1T1R = 12, and SubArray.cpp sizes a 1T1R array with F = the node
    # (tech.featureSize), so one cell at 22 nm is 4 × 12 × (22 nm)² = 0.023232 µm²
    cell_um2 = DEVICES["rram"].cell_area_f2 * 0.022**2
    assert cell_um2 == pytest.approx(4 * 0.022 * 12 * 0.022, rel=1e-12)
    # [X] NVMExplorer data/cell_cfgs/RRAM.cell (1T1R, CMOS access): 53 F²; we claim 10 %
    assert 0.9 <= DEVICES["rram"].cell_area_f2 / 53.0 <= 1.0
