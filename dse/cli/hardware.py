"""Hardware commands: ``dse cost RESULTS --trial N`` (per-layer breakdown) and ``dse cite RESULTS``.

``cost`` rebuilds the trial's network from its stored design point, maps it as the trial did and
prints NeuroSim's per-layer breakdown [NS]: energy by component, latency, tiles and area. Each
layer's cell reads are the ones the row stores (``input_duty_by_layer``, ``cell_g_us_by_layer``:
the measured input duty and the evaluated chips' pair conductance), so the layers sum to the
stored row; for rows from before those columns (schema < 5) the nominal conductance is recovered
from the array energy, which is linear in it. ``cite`` prints the BibTeX
of every source whose constants or models a study used, from ``docs/references.md``.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Annotated, Any

import typer

from dse.cli.common import app, bad_input, console, load_rows

REFERENCES_MD = Path(__file__).resolve().parents[2] / "docs" / "references.md"
"""The project's bibliography: one ``###`` section per key (the key in brackets) with a BibTeX block."""

KEY_RE = re.compile(r"(?<![\w\]])\[([A-Z][A-Z0-9]{0,5}(?:, ?[A-Z][A-Z0-9]{0,5})*)\]")
"""A citation in code or docs: ``[NS]``, ``[ISAAC, ACC]`` (not ``list[T]``: no word before ``[``)."""

COST_KEYS = ("ISAAC", "ACC", "NS", "H14", "X", "MN")
"""Sources of the cost model every study uses (models/cost/)."""
MODE_KEYS: dict[str, tuple[str, ...]] = {
    "hwa": ("J20",),
    "apt": (),
    "onchip_sgd": ("A", "G19"),
    "mixed_precision": ("N20",),
    "hic": ("HIC",),
    "qnn": ("G21",),
    "pcm_2t1c": ("A18",),
}
"""Sources of each training mode's algorithm (docs/training_modes.md)."""
ANALOG_KEYS = ("A", "J20")
"""Drift, read noise and global drift compensation of analog devices [A, J20]."""

BREAKDOWN_COLUMNS = (
    "layer",
    "rows",
    "cols",
    "uses",
    "tiles",
    "array_pj",
    "adc_pj",
    "dac_pj",
    "shift_add_pj",
    "buffer_pj",
    "energy_pj",
    "latency_ns",
    "area_mm2",
)


def cited_keys(text: str) -> set[str]:
    """Every key cited in ``text``."""
    return {k.strip() for group in KEY_RE.findall(text) for k in group.split(",")}


def bibliography(path: Path = REFERENCES_MD) -> dict[str, str]:
    """Key → BibTeX entry, from the ``###`` sections of ``docs/references.md``."""
    out: dict[str, str] = {}
    for section in re.split(r"^### ", path.read_text(encoding="utf-8"), flags=re.M)[1:]:
        head = re.match(r"\[([A-Z][A-Z0-9]*)\]", section)
        bib = re.search(r"```bibtex\n(.*?)```", section, flags=re.S)
        if head and bib:
            out[head.group(1)] = bib.group(1).strip()
    return out


def device_keys(device: str) -> set[str]:
    """Keys cited beside one device preset in ``models/physics/devices.py``."""
    from models.physics import devices

    text = Path(devices.__file__).read_text(encoding="utf-8")
    block = re.search(rf'"{re.escape(device)}": DeviceSpec\((.*?)\n    \),', text, flags=re.S)
    return cited_keys(block.group(1)) if block else set()


def study_keys(df: Any) -> list[str]:
    """Keys of the sources the rows of a study used: cost model, devices, modes, analog physics."""
    keys = set(COST_KEYS)
    for device in sorted(set(df["device"].dropna())):
        keys |= device_keys(str(device))
        if device != "sram":
            keys |= set(ANALOG_KEYS)
    for mode in sorted(set(df["mode"].dropna())):
        keys |= set(MODE_KEYS.get(str(mode), ()))
    return sorted(keys)


@app.command()
def cite(results: Annotated[Path, typer.Argument(help="results folder")]) -> None:
    """Print the BibTeX of every source whose constants or models the study used."""
    _, df = load_rows(results)
    bib = bibliography()
    keys = study_keys(df)
    missing = [k for k in keys if k not in bib]
    if missing:
        raise bad_input(f"{REFERENCES_MD} has no BibTeX for {missing}")
    console.print("\n\n".join(bib[k] for k in keys), highlight=False, markup=False, soft_wrap=True)


def stored_reads(row: dict[str, Any], cost: Any) -> list[Any] | None:
    """The cell reads a row's energy charged, from its ``_by_layer`` columns (None for rows
    written before they existed, schema < 5, and for the digital baseline)."""
    from models.cost.reads import layer_reads

    duties, g = row.get("input_duty_by_layer"), row.get("cell_g_us_by_layer")
    if not isinstance(duties, str) or not isinstance(g, str):
        return None
    pairs = zip(duties.split(","), g.split(","), strict=True)
    return [layer_reads(None if math.isnan(float(d)) else float(d), float(v), cost) for d, v in pairs]


def breakdown(row: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Per-layer rows of one stored trial, and what its cell reads charged (a caption)."""
    import torch

    from dse.engine.data import load_dataset
    from dse.schema.point import DesignPoint
    from models.cost.breakdown import layer_costs
    from models.nn.networks import build_network, layer_shapes
    from models.physics.devices import DEVICES

    point = DesignPoint.from_row(row)
    data = load_dataset(point.dataset, point.data_path or None, point.seed)
    analog, cost = point.analog_config(), point.cost_config()
    model = build_network(point.network_config(data.in_shape, data.classes), analog)
    x = torch.from_numpy(data.x_test[:2]).reshape(-1, *data.in_shape)
    shapes = layer_shapes(model, x)
    device = DEVICES[analog.device]
    reads = stored_reads(row, cost)
    if reads is not None:  # what the trial measured, layer by layer
        g_frac = 0.5
        note = (
            f"input duty {row.get('input_duty_measured', math.nan):.3f} measured, "
            f"{cost.input_duty_source.value}; cell pair {row.get('cell_g_us', math.nan):.3f} µS"
        )
    else:  # an older row: the nominal conductance, recovered from its array energy (linear in it)
        lo, hi = (sum(c.array_pj for c in layer_costs(analog, device, shapes, g, cost)) for g in (0.0, 1.0))
        stored = float(row.get("energy_array_pj", math.nan))
        g_frac = min(1.0, max(0.0, (stored - lo) / (hi - lo))) if hi > lo and math.isfinite(stored) else 0.5
        note = f"mean |w|/w_max {g_frac:.3f}"
    costs = layer_costs(analog, device, shapes, g_frac, cost, reads=reads)
    rows = []
    for i, (s, c) in enumerate(zip(shapes, costs, strict=True)):
        rows.append(
            {
                "layer": i,
                "rows": s.rows,
                "cols": s.cols,
                "uses": s.uses_per_inference,
                "tiles": c.tiles,
                "array_pj": c.array_pj,
                "adc_pj": c.adc_pj,
                "dac_pj": c.dac_pj,
                "shift_add_pj": c.shift_add_pj,
                "buffer_pj": c.buffer_pj,
                "energy_pj": c.energy_pj,
                "latency_ns": c.latency_ns,
                "area_mm2": c.area_mm2,
            }
        )
    return rows, note


@app.command()
def cost(
    results: Annotated[Path, typer.Argument(help="results folder")],
    trial: Annotated[int, typer.Option("--trial", help="trial number (a complete trial)")],
    csv_path: Annotated[Path | None, typer.Option("--csv", help="also write the table as CSV here")] = None,
) -> None:
    """Per-layer cost of one trial: energy by component, latency, tiles and area (NeuroSim-style)."""
    from rich.table import Table

    _, df = load_rows(results)
    done = df[(df["status"] == "complete") & (df["trial_number"] == trial)]
    if done.empty:
        numbers = sorted(int(n) for n in df.loc[df["status"] == "complete", "trial_number"])
        raise bad_input(f"--trial: no complete trial {trial}; complete trials: {numbers or 'none'}")
    row = done.iloc[-1].to_dict()
    layers, note = breakdown(row)
    table = Table(title=f"Trial {trial}: per-layer cost per inference ({note})")
    for col in BREAKDOWN_COLUMNS:
        table.add_column(col, justify="right")
    for r in layers:
        table.add_row(*(f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]) for c in BREAKDOWN_COLUMNS))
    console.print(table)
    total = sum(r["energy_pj"] for r in layers)
    console.print(
        f"total {total:.6g} pJ (stored row: {row['energy_per_inference_pj']:.6g} pJ); "
        f"training writes {row.get('energy_training_write_j', math.nan):.3g} J "
        f"({row.get('write_attempts_total', math.nan):.3g} pulses, whole network)",
        highlight=False,
    )
    if csv_path is not None:
        with csv_path.open("w", newline="", encoding="utf-8") as f:
            writer = csv.DictWriter(f, fieldnames=list(BREAKDOWN_COLUMNS))
            writer.writeheader()
            writer.writerows(layers)
        console.print(f"wrote {csv_path}")
