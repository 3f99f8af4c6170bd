"""What the tool offers: ``dse devices``, ``dse params`` and ``dse spaces``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from dse.cli.common import app, bad_input, console


@app.command()
def devices(
    costs: Annotated[bool, typer.Option("--costs", help="also print the cost-model constants")] = False,
) -> None:
    """The device presets and their parameters (and, with --costs, the cited cost-model constants)."""
    from rich.table import Table

    from models.cost.model import constants_table
    from models.physics.devices import DEVICES

    table = Table(title="Device presets (sources in models/physics/devices.py and docs/references.md)")
    for col in ("name", "levels", "g_min µS", "g_max µS", "endurance", "write pJ", "write ns", "description"):
        table.add_column(col)
    for d in DEVICES.values():
        table.add_row(
            d.name,
            str(d.levels),
            f"{d.g_min_us:g}",
            f"{d.g_max_us:g}",
            f"{d.endurance_cycles:.0e}",
            f"{d.write_energy_pj:g}",
            f"{d.write_latency_ns:g}",
            d.description,
        )
    console.print(table)
    if costs:
        constants = Table(title="Cost-model constants (models/cost/constants.py; keys in docs/references.md)")
        for col, justify in (("name", "left"), ("value", "right"), ("unit", "left"), ("source", "left")):
            constants.add_column(col, justify=justify)
        for name, value, unit, source in constants_table():
            constants.add_row(name, f"{value:g}", unit, source)
        console.print(constants)


@app.command()
def params(
    group: Annotated[
        str | None, typer.Option(help="only this group: hardware, network, train, data, cost")
    ] = None,
) -> None:
    """Every search parameter: group, type, default, allowed values, and what it does."""
    from rich.table import Table

    from dse.schema.point import GROUPS, PARAMETERS, allowed_text

    if group is not None and group not in GROUPS:
        raise bad_input(f"--group: {group!r}; allowed: {', '.join(GROUPS)}")
    table = Table(title="Search parameters (set in a space's \\[params]; declared in models/config/)")
    for col in ("name", "group", "type", "default", "allowed", "acts in", "doc"):
        table.add_column(col)
    for p in PARAMETERS.values():
        if group is None or p.group == group:
            where = "analog devices" if p.analog_only else ""
            when = f"{p.acts_if[0]} = {' | '.join(p.acts_if[1])}" if p.acts_if else ""
            where = ", ".join(filter(None, [where, " ".join(p.modes), when])) or "all"
            table.add_row(p.name, p.group, p.kind, repr(p.default), allowed_text(p.name), where, p.doc)
    console.print(table)


@app.command()
def spaces(
    folder: Annotated[Path, typer.Argument(help="folder of TOML spaces")] = Path("search_spaces"),
) -> None:
    """List the ready search spaces with their descriptions, validating each (exit 2 if one is invalid)."""
    from dse.engine.space import SpaceError, load_space

    if not folder.is_dir():
        raise bad_input(f"FOLDER: {str(folder)!r} is not a folder of TOML search spaces")
    paths = sorted(folder.glob("*.toml"))
    if not paths:
        raise bad_input(f"FOLDER: {str(folder)!r} holds no *.toml search space")
    broken = []
    for path in paths:
        try:
            space = load_space(path)
            console.print(f"[bold]{path}[/]: {space.description} ({space.trials} trials, {space.sampler})")
        except SpaceError as exc:
            console.print(f"[red]{exc}[/]")
            broken.append(path.name)
    if broken:
        raise bad_input(
            f"{len(broken)} of {len(paths)} spaces in {str(folder)!r} are invalid: {', '.join(broken)}"
        )
