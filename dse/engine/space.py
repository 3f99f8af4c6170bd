"""Search spaces from TOML, validated before any work starts.

A file has four tables::

    [study]        name, sampler, trials, workers, seed, repeats, cpus_per_trial, gpus_per_trial,
                   description, budget_epochs, fidelity, min_epochs, reduction_factor
    [sampler]      optional sampler settings, passed to the sampler's constructor
    [params]       name = fixed value | {choices = [...]} | {low, high, step?} | {low, high, log = true}
    [objectives]   column = "max" | "min"           (order kept; at least one)
    [constraints]  column = "<= 0.01" | ">= 0.9"    (optional; a trial is feasible when all hold)

Every error is a :class:`SpaceError` naming the file, the field and the allowed values.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import math
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dse.engine.domain import Domain, DomainKind, optuna_label
from dse.engine.fields import SpaceError, _int, _num, _table, _unknown
from dse.engine.samplers import SAMPLERS, option_problem
from dse.schema.point import PARAMETERS, DesignPoint, allowed_text, check_value
from dse.schema.record import Direction, Objective, objective_columns

STUDY_KEYS = (
    "name",
    "description",
    "sampler",
    "trials",
    "workers",
    "seed",
    "cpus_per_trial",
    "gpus_per_trial",
    "max_retries",
    "repeats",
    "budget_epochs",
    "fidelity",
    "min_epochs",
    "reduction_factor",
)
MAX_REPEATS = 100
"""Training repeats per design allowed by ``[study] repeats``."""
DIRECTION_WORDS = {
    "max": Direction.MAXIMIZE,
    "maximize": Direction.MAXIMIZE,
    "min": Direction.MINIMIZE,
    "minimize": Direction.MINIMIZE,
}


@dataclass(frozen=True)
class Constraint:
    """``column <= bound`` or ``column >= bound``; Optuna value ≤ 0 means feasible."""

    column: str
    op: str
    bound: float

    def violation(self, value: float) -> float:
        """Amount by which ``value`` breaks the constraint (≤ 0 when it holds)."""
        return value - self.bound if self.op == "<=" else self.bound - value


@dataclass(frozen=True)
class SearchSpace:
    """A validated search space: domains, objectives, constraints and study settings."""

    name: str
    domains: tuple[Domain, ...]
    objectives: tuple[Objective, ...]
    constraints: tuple[Constraint, ...] = ()
    sampler: str = "tpe"
    sampler_options: tuple[tuple[str, Any], ...] = ()
    trials: int = 16
    workers: int = 2
    seed: int = 0
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    max_retries: int = 2
    description: str = ""
    repeats: int = 1
    """Training repeats per design (seeds ``seed`` … ``seed + repeats - 1``), for accuracy intervals."""
    source: str = ""
    """Path of the TOML file (for provenance)."""
    text: str = ""
    """The TOML file's content (recorded with the study, so a row can be replayed from it)."""
    fidelity: str | None = None
    """``"epochs"``: multi-fidelity search (MO-ASHA) with rungs in training epochs; None: every
    trial trains its full ``epochs``."""
    min_epochs: int = 1
    """The first rung (epochs), with a fidelity."""
    reduction_factor: int = 3
    """η: a trial continues past a rung when it ranks in the top 1/η there; rungs grow by η."""
    budget_epochs: int | None = None
    """Training epochs (summed over trials and repeats) after which no new trial is asked; None: no
    epoch budget, only ``trials``."""

    @property
    def full_epochs(self) -> int:
        """The full-fidelity epoch count: the fixed ``epochs`` (its default when not given)."""
        fixed = self.fixed_params()
        return int(fixed.get("epochs", PARAMETERS["epochs"].default))

    @property
    def rungs(self) -> tuple[int, ...]:
        """The rungs in epochs (``dse.engine.asha.rung_epochs``); ``(epochs,)`` without a fidelity."""
        from dse.engine.asha import rung_epochs

        full = self.full_epochs
        return rung_epochs(self.min_epochs, full, self.reduction_factor) if self.fidelity else (full,)

    def canonical(self) -> dict[str, Any]:
        """What defines the study, as JSON-able data: the domains, objectives, constraints,
        sampler and seed. A resumed run must match it; the budget, workers and per-trial
        resources may change."""
        raw = {
            "domains": [dataclasses.asdict(d) for d in self.domains],
            "objectives": [[o.name, o.direction.value] for o in self.objectives],
            "constraints": [[c.column, c.op, c.bound] for c in self.constraints],
            "sampler": self.sampler,
            "sampler_options": [list(o) for o in self.sampler_options],
            "seed": self.seed,
        }
        if self.repeats != 1:  # absent when 1, so studies recorded before repeats existed still match
            raw["repeats"] = self.repeats
        if self.fidelity is not None:  # likewise absent without one; the rungs define what a row means
            raw["fidelity"] = [self.fidelity, self.min_epochs, self.reduction_factor]
        return json.loads(json.dumps(raw, default=list))

    @property
    def searched(self) -> tuple[Domain, ...]:
        """The domains Optuna samples (not fixed)."""
        return tuple(d for d in self.domains if d.kind is not DomainKind.FIXED)

    def fixed_params(self) -> dict[str, Any]:
        """Fixed values, plus the study seed as the training seed unless the file sets one."""
        fixed = {d.name: d.value for d in self.domains if d.kind is DomainKind.FIXED}
        fixed.setdefault("seed", self.seed)
        return fixed

    def grid(self) -> dict[str, list[Any]]:
        """The grid sampler's search space."""
        return {d.name: d.grid_values() for d in self.searched}

    def grid_points(self) -> list[dict[str, Any]]:
        """The distinct designs of the grid, as the searched values of each (Optuna's labels for
        list values). Combinations that differ only in knobs the design ignores (ADC bits on
        SRAM, another mode's knobs) are one design: it is run once, and those knobs are left out."""
        names = [d.name for d in self.searched]
        fixed = self.fixed_params()
        seen: dict[str, dict[str, Any]] = {}
        for combo in itertools.product(*(self.grid()[n] for n in names)):
            params = dict(zip(names, combo, strict=True))
            point = DesignPoint.from_params({**fixed, **params})
            kept = {n: optuna_label(v) for n, v in params.items() if not point.ignores(n)}
            seen.setdefault(json.dumps(kept, sort_keys=True), kept)
        return list(seen.values())

    def grid_size(self) -> int:
        """Number of distinct grid designs (see :meth:`grid_points`)."""
        return len(self.grid_points())


def load_space(path: str | Path) -> SearchSpace:
    """Read and validate a TOML search space."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise SpaceError(file, "file", f"cannot read it ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise SpaceError(file, "file", "not a text file (not UTF-8); a space is a TOML file") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SpaceError(file, "syntax", f"not valid TOML: {exc}") from None
    return parse_space(raw, file, text)


def parse_space(raw: Mapping[str, Any], file: str = "<space>", text: str = "") -> SearchSpace:
    """Validate a parsed TOML document into a :class:`SearchSpace`."""
    _unknown(file, "top level", raw, ("study", "sampler", "params", "objectives", "constraints"))
    study = _table(file, "study", raw.get("study", {}))
    _unknown(file, "study", study, STUDY_KEYS)
    name = study.get("name", re.sub(r"[^A-Za-z0-9_.-]", "", Path(file).stem) or "study")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}", name):
        raise SpaceError(
            file,
            "study.name",
            f"{name!r} must be a plain name: a letter or digit, then letters, digits, '_', '-' or '.'",
        )
    sampler = study.get("sampler", "tpe")
    if sampler not in SAMPLERS:
        raise SpaceError(
            file, "study.sampler", f"{sampler!r} is not a sampler; allowed: {', '.join(SAMPLERS)}"
        )
    params = _table(file, "params", raw.get("params", {}))
    domains = tuple(_domain(file, k, v) for k, v in params.items())
    objectives = _objectives(file, raw.get("objectives"))
    constraints = _constraints(file, raw.get("constraints", {}))
    space = SearchSpace(
        name=name,
        domains=domains,
        objectives=objectives,
        constraints=constraints,
        sampler=sampler,
        sampler_options=tuple(sorted(_table(file, "sampler", raw.get("sampler", {})).items())),
        trials=_int(file, "study.trials", study.get("trials", 16), 1),
        workers=_int(file, "study.workers", study.get("workers", 2), 1),
        seed=_int(file, "study.seed", study.get("seed", 0), 0),
        cpus_per_trial=_num(file, "study.cpus_per_trial", study.get("cpus_per_trial", 1.0), 0.0),
        gpus_per_trial=_num(file, "study.gpus_per_trial", study.get("gpus_per_trial", 0.0), 0.0),
        max_retries=_int(file, "study.max_retries", study.get("max_retries", 2), 0),
        description=str(study.get("description", "")),
        repeats=_int(file, "study.repeats", study.get("repeats", 1), 1),
        source=file,
        text=text,
        fidelity=study.get("fidelity"),
        min_epochs=_int(file, "study.min_epochs", study.get("min_epochs", 1), 1),
        reduction_factor=_int(file, "study.reduction_factor", study.get("reduction_factor", 3), 2),
        budget_epochs=None
        if study.get("budget_epochs") is None
        else _int(file, "study.budget_epochs", study["budget_epochs"], 1),
    )
    from dse.engine.fidelity import fidelity_problem

    problem = fidelity_problem(space, study)
    if problem:
        raise SpaceError(file, *problem)
    if space.repeats > MAX_REPEATS:
        raise SpaceError(file, "study.repeats", f"{space.repeats} must be an integer in [1, {MAX_REPEATS}]")
    problem = option_problem(sampler, dict(space.sampler_options))
    if problem:
        raise SpaceError(file, *problem)
    if sampler == "grid":
        try:
            space.grid()
        except ValueError as exc:
            raise SpaceError(file, "params", f"{exc} (sampler 'grid')") from None
    try:
        point = DesignPoint.from_params(space.fixed_params())
        if "mode" in point_fixed(space):
            point.train_config()
    except (KeyError, TypeError, ValueError) as exc:
        raise SpaceError(file, "params", str(exc)) from None
    _check_modes(file, space)
    return space


def point_fixed(space: SearchSpace) -> set[str]:
    """Names of the parameters the space fixes."""
    return {d.name for d in space.domains if d.kind is DomainKind.FIXED}


def _check_modes(file: str, space: SearchSpace) -> None:
    """Reject a space whose device × mode pairs are all invalid (``models.training.modes``).

    A space that fixes both gets the pair's reason; a space that searches either and keeps
    some valid pairs passes, and a sampled invalid pair fails its trial at once with that
    reason (``dse.engine.trial.evaluate_point``), before any training.
    """
    from models.config import TrainMode
    from models.physics.devices import get_device
    from models.training.modes import check_mode, invalid_reason

    def values(name: str) -> list[Any]:
        dom = next((d for d in space.domains if d.name == name), None)
        if dom is None:
            return [PARAMETERS[name].default]
        return [dom.value] if dom.kind is DomainKind.FIXED else list(dom.choices)

    devices, modes = values("device"), values("mode")
    if any(invalid_reason(get_device(d), TrainMode(m)) is None for d in devices for m in modes):
        return
    if len(devices) == 1 and len(modes) == 1:
        try:
            check_mode(devices[0], modes[0])
        except ValueError as exc:
            raise SpaceError(file, "params.mode", str(exc)) from None
    raise SpaceError(
        file, "params.mode", f"no valid device × mode pair among devices {devices} × modes {modes}"
    )


def _domain(file: str, name: str, spec: Any) -> Domain:
    field = f"params.{name}"
    if name not in PARAMETERS:
        raise SpaceError(file, field, f"unknown parameter; allowed: {', '.join(PARAMETERS)}")

    def check(value: Any) -> Any:
        why = check_value(name, value)
        if why:
            raise SpaceError(file, field, f"{why}; allowed: {allowed_text(name)}")
        return value

    if not isinstance(spec, dict):
        return Domain(name, DomainKind.FIXED, value=check(tuple(spec) if isinstance(spec, list) else spec))
    keys = set(spec)
    if "choices" in keys:
        _unknown(file, field, spec, ("choices",))
        choices = spec["choices"]
        if not isinstance(choices, list) or not choices:
            raise SpaceError(file, field, "choices must be a non-empty list (empty domain)")
        return Domain(name, DomainKind.CATEGORICAL, choices=tuple(check(c) for c in choices))
    _unknown(file, field, spec, ("low", "high", "step", "log"))
    if not {"low", "high"} <= keys:
        raise SpaceError(file, field, "a range needs low and high; or give choices = [...] or a fixed value")
    low, high, step, log = (
        check(spec["low"]),
        check(spec["high"]),
        spec.get("step"),
        bool(spec.get("log", False)),
    )
    if low > high:
        raise SpaceError(file, field, f"empty domain: low {low!r} > high {high!r}")
    is_int = PARAMETERS[name].kind == "int"
    if is_int and not (isinstance(low, int) and isinstance(high, int)):
        raise SpaceError(file, field, "low and high must be integers for an integer parameter")
    if step is not None and (isinstance(step, bool) or not isinstance(step, int | float) or step <= 0):
        raise SpaceError(file, field, f"step {step!r} must be a positive number")
    if log and (low <= 0 or step is not None):
        raise SpaceError(file, field, "a log domain needs low > 0 and no step")
    kind = DomainKind.INT if is_int else DomainKind.FLOAT
    if PARAMETERS[name].kind not in ("int", "float"):
        raise SpaceError(file, field, "ranges apply to numeric parameters only; use choices")
    return Domain(name, kind, low=low, high=high, step=int(step or 1) if is_int else step, log=log)


def _objectives(file: str, raw: Any) -> tuple[Objective, ...]:
    if raw is None:
        raise SpaceError(file, "objectives", 'missing; give at least one, e.g. accuracy = "max"')
    table = _table(file, "objectives", raw)
    if not table:
        raise SpaceError(file, "objectives", 'empty; give at least one, e.g. accuracy = "max"')
    columns = objective_columns()
    out = []
    for column, word in table.items():
        if column not in columns:
            raise SpaceError(
                file,
                f"objectives.{column}",
                f"not a recorded numeric column; allowed: {', '.join(sorted(columns))}",
            )
        if word not in DIRECTION_WORDS:
            raise SpaceError(file, f"objectives.{column}", f"{word!r}; allowed: max, min")
        out.append(Objective(column, DIRECTION_WORDS[word]))
    return tuple(out)


def _constraints(file: str, raw: Any) -> tuple[Constraint, ...]:
    table = _table(file, "constraints", raw)
    columns = objective_columns()
    out = []
    for column, expr in table.items():
        field = f"constraints.{column}"
        if column not in columns:
            raise SpaceError(
                file, field, f"not a recorded numeric column; allowed: {', '.join(sorted(columns))}"
            )
        m = re.fullmatch(r"\s*(<=|>=)\s*(\S+)\s*", str(expr))
        try:
            bound = float(m.group(2)) if m else math.nan
        except ValueError:
            bound = math.nan
        if not m or not math.isfinite(bound):
            raise SpaceError(file, field, f'{expr!r}; write "<= number" or ">= number" with a finite number')
        out.append(Constraint(column, m.group(1), bound))
    return tuple(out)
