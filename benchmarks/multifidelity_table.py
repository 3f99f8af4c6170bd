"""The table the multi-fidelity benchmark replays: true metrics of every design of a finite
quickstart space after each rung's epochs, measured with the real trial (``evaluate_point``).

The space is ``search_spaces/quickstart.toml`` with the tile fixed at 128 rows, the DAC at 8
bits, the ADC on five values (2, 3, 4, 6, 8), the width on four (0.25, 0.5, 1, 2) and 9 epochs
in place of 10: device (4) × ADC bits (5; SRAM has none) × width (4) × update bits (3) = 192
distinct designs. Each is trained from scratch for 1, 3 and 9 epochs (the rungs of
min_epochs = 1, reduction_factor = 3, epochs = 9). On 2 shared cores it takes about 20 min. Training is
deterministic given the seed and has no schedule, so the metrics after e epochs of a 10-epoch
run are those of an e-epoch run. Rows are appended as JSON lines, so an interrupted build resumes.

    PYTHONPATH=. .venv/bin/python benchmarks/multifidelity_table.py [--processes 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

TABLE = Path(__file__).parent / "data" / "multifidelity_quickstart.jsonl"
RUNG_EPOCHS = (1, 3, 9)
GRID: dict[str, list[Any]] = {
    "device": ["pcm", "rram", "stt_mram", "sram"],
    "adc_bits": [2, 3, 4, 6, 8],
    "width_mult": [0.25, 0.5, 1.0, 2.0],
    "update_bits": [4, 8, 32],
}
FIXED = {"tile_size": 128, "dac_bits": 8}
KEEP = (
    "accuracy",
    "accuracy_fp",
    "energy_per_inference_pj",
    "model_size_bits",
    "max_writes_per_device",
    "area_mm2",
    "train_seconds",
    "eval_seconds",
)


def designs() -> list[dict[str, Any]]:
    """The distinct designs (SRAM ignores the ADC: one design per width × update bits)."""
    out, seen = [], set()
    for combo in itertools.product(*GRID.values()):
        params = dict(zip(GRID, combo, strict=True))
        if params["device"] == "sram":
            params["adc_bits"] = None
        key = json.dumps(params, sort_keys=True)
        if key not in seen:
            seen.add(key)
            out.append(params)
    return out


def measure(params: dict[str, Any]) -> list[dict[str, Any]]:
    """The design's metrics after each rung's epochs."""
    import torch

    from dse.engine.data import load_dataset
    from dse.engine.space import load_space
    from dse.engine.trial import evaluate_point
    from dse.schema.point import DesignPoint

    torch.set_num_threads(1)
    space = load_space(Path(__file__).parents[1] / "search_spaces" / "quickstart.toml")
    data = load_dataset("digits", seed=space.seed)
    given = {k: v for k, v in params.items() if v is not None}
    rows = []
    for epochs in RUNG_EPOCHS:
        params_at = {**space.fixed_params(), **FIXED, **given, "epochs": epochs}
        point = DesignPoint.from_params(params_at).normalized()
        metrics = evaluate_point(point, data)
        rows.append({**params, "epochs": epochs, **{k: float(metrics[k]) for k in KEEP}})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--limit", type=int, default=0, help="only the first N designs (0: all)")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    done = set()
    if TABLE.exists():
        for line in TABLE.read_text().splitlines():
            row = json.loads(line)
            done.add(json.dumps({k: row[k] for k in GRID}, sort_keys=True))
    todo = [p for p in designs() if json.dumps(p, sort_keys=True) not in done]
    if args.limit:
        todo = todo[: args.limit]
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    with multiprocessing.get_context("spawn").Pool(args.processes) as pool, TABLE.open("a") as fh:
        for i, rows in enumerate(pool.imap_unordered(measure, todo), 1):
            fh.write("".join(json.dumps(r) + "\n" for r in rows))
            fh.flush()
            print(f"{i}/{len(todo)}", flush=True)


if __name__ == "__main__":
    main()
