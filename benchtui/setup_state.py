"""What the Setup screens edit: one experiment (dataset, model settings, the
sweep) that becomes a preset ``benchtui replay`` runs unchanged. UI-free, so
tests can check it directly."""

from __future__ import annotations

import contextlib
import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from engine.config import apply_overrides, parse_value, leaf_types, resolve_key
from engine.errors import BenchError
from engine.kinds import dataset_choices, default_kind, get_kind
from engine.preset import Experiment, Preset, load_preset

SEED_KEY = "system.seed"  # the Sweep tab's seeds field is a grid over this key


def choice_value(dataset: str, kind: str) -> str:
    """The dataset name, or ``kind:dataset`` when more than one kind reads it."""
    shared = sum(name == dataset for name, _ in dataset_choices()) > 1
    return f"{kind}:{dataset}" if shared else dataset


def choices() -> list[tuple[str, str]]:
    """(label, value) of every dataset a kind reads, for the Setup screen."""
    return [(f"{name} ({kind.title})", choice_value(name, kind.name)) for name, kind in dataset_choices()]


@dataclass
class SetupState:
    name: str = "bench"
    title: str = "benchtui session"
    kind: str = field(default_factory=lambda: default_kind().name)
    settings: dict[str, Any] = field(default_factory=dict)  # dotted key -> value
    grid: dict[str, list] = field(default_factory=dict)
    zipped: dict[str, list] = field(default_factory=dict)
    extra_runs: list[dict[str, Any]] = field(default_factory=list)
    figures: list[dict] = field(default_factory=list)
    experiment: str = "sweep"
    others: list[Experiment] = field(default_factory=list)  # a loaded preset's other experiments, kept as they are
    description: str = ""  # a loaded preset's, kept when saving
    report: bool = False  # a loaded preset's report flag, kept when saving
    # where the runs train (not part of the preset): auto | local | processes | ray, and how many at once
    executor: str = "auto"
    workers: int | None = None
    early_stop: dict | None = None  # a loaded experiment's early_stop, kept when saving
    typed: dict[str, str] = field(default_factory=dict)  # field -> problem of a text that does not parse
    sweep_fields: dict[str, str] = field(default_factory=dict)  # swept key -> its Sweep tab row ("grid-0", "seeds")
    edited: bool = False  # changed since loaded (the load dialog asks before discarding)

    @property
    def config_type(self) -> type:
        return get_kind(self.kind).config_type

    @property
    def dataset(self) -> str:
        return self.settings.get("data.dataset") or self.config_type().data.dataset

    @property
    def choice(self) -> str:
        """The dataset Select's value for this state (see ``choices``)."""
        return choice_value(self.dataset, self.kind)

    def set_dataset(self, choice: str) -> None:
        """``choice`` is a dataset name, or ``kind:dataset`` where several kinds read that dataset."""
        kind, _, dataset = choice.rpartition(":")
        kind = kind or next(k.name for name, k in dataset_choices() if name == dataset)
        if kind != self.kind:
            self.kind, self.settings, self.grid, self.zipped, self.extra_runs = kind, {}, {}, {}, []
            self.figures = []
        if self.config_type().data.dataset != dataset:  # a kind with several datasets
            self.settings["data.dataset"] = dataset
        else:
            self.settings.pop("data.dataset", None)

    # ------------------------------------------------------------ editing
    # Every edit goes through one of these. A text that does not parse is
    # kept out of the setup and recorded under its field in ``typed``
    # (field -> problem), so that ``validate`` refuses to run until it is
    # fixed: what runs is never a stale value the screen no longer shows.

    def _typed(self, field_name: str, problem: str | None) -> str | None:
        if problem is None:
            self.typed.pop(field_name, None)
        else:
            self.typed[field_name] = problem
        return problem

    def set_value(self, key: str, text: str) -> str | None:
        """Set (or with empty text, clear) one config value from its field's
        text; returns the problem (also recorded for ``validate``) or None."""
        key = resolve_key(self.config_type, key)
        with self._editing(key):
            return self._set_value(key, text)

    def _set_value(self, key: str, text: str) -> str | None:
        if text.strip() == "":
            self.settings.pop(key, None)
            return self._typed(key, None)
        try:
            value = parse_value(key, leaf_types(self.config_type)[key], text.strip())
        except BenchError as exc:
            self.settings.pop(key, None)
            return self._typed(key, str(exc))
        self.set_field(key, value)
        return self._typed(key, None)

    @contextlib.contextmanager
    def _editing(self, *fields: str):
        """Marks the setup ``edited`` when the block changed what runs (a
        field that shows its loaded value again, on mount, changes nothing)."""
        def snapshot():
            return repr((self.settings, self.grid, self.zipped, self.extra_runs,
                         {f: self.typed.get(f) for f in fields}))

        before = snapshot()
        try:
            yield
        finally:
            if snapshot() != before:
                self.edited = True

    def set_field(self, key: str, value: Any) -> None:
        """A typed value (a switch, a choice); the default is not stored."""
        from engine.config import get_value

        with self._editing(key):
            self._set_field(key, value, get_value)

    def _set_field(self, key: str, value: Any, get_value) -> None:
        if key in self.settings and self.settings[key] == value and type(self.settings[key]) is type(value):
            pass  # as it was (a loaded preset may set a default value: it stays)
        elif value == get_value(self.config_type(), key) and key not in self.swept():
            self.settings.pop(key, None)
        else:
            self.settings[key] = value
        self._typed(key, None)

    def set_workers(self, text: str) -> str | None:
        text = text.strip()
        self.workers = None
        if text and not (text.isdigit() and int(text) >= 1):
            return self._typed("workers", f"workers: a whole number of 1 or more (got {text!r})")
        self.workers = int(text) if text else None
        return self._typed("workers", None)

    def set_sweep(self, table: str, key: str, text: str) -> None:
        """``text`` is a comma-separated list of values; empty clears the key; raises BenchError."""
        target = self.grid if table == "grid" else self.zipped
        key = resolve_key(self.config_type, key)
        if not text.strip():
            target.pop(key, None)
            return
        ftype = leaf_types(self.config_type)[key]
        if typing_origin_is_tuple(ftype):  # a list-valued key: one value per ';' (e.g. "1,2; 4")
            parts = text.split(";")
        else:
            parts = text.split(",")
        values = [parse_value(key, ftype, part.strip()) for part in parts if part.strip()]
        if not values:
            raise BenchError(f"{key}: the list of values is empty", key=key)
        target[key] = values

    def set_sweep_rows(self, rows: list[tuple[str, str, str, str]], seeds: str = "") -> None:
        """Rebuild the grid and zip from the Sweep tab's rows, each
        ``(field, table, key text, values text)``, and the seeds field (a
        grid over ``system.seed``). A row that does not parse is a problem
        under that row: it never silently drops an axis. The explicit runs
        are kept as they are."""
        with self._editing():
            self._set_sweep_rows(rows, seeds)

    def _set_sweep_rows(self, rows: list[tuple[str, str, str, str]], seeds: str = "") -> None:
        self.grid, self.zipped = {}, {}
        self.sweep_fields = {}
        for name in [f for f in self.typed if f.startswith(("grid-", "zip-")) or f == "seeds"]:
            del self.typed[name]
        for field_name, table, key, values in rows:
            key = key.strip()
            if not key and values.strip():
                self.typed[field_name] = "values without a key"
                continue
            if not key:
                continue
            try:
                key = resolve_key(self.config_type, key)  # an unknown key first, then its values
                if key in self.grid or key in self.zipped:
                    raise BenchError(f"{key} is already swept in another row", key=key)
                if not values.strip():
                    raise BenchError(f"{key}: no values", key=key)
                self.set_sweep(table, key, values)
                self.sweep_fields[key] = field_name
            except BenchError as exc:
                self.typed[field_name] = str(exc)
        if seeds.strip():
            try:
                if SEED_KEY in self.grid or SEED_KEY in self.zipped:
                    raise BenchError(f"{SEED_KEY} is also swept in a row above: use one or the other", key=SEED_KEY)
                self.set_sweep("grid", SEED_KEY, seeds)
                self.sweep_fields[SEED_KEY] = "seeds"
            except BenchError as exc:
                self.typed["seeds"] = str(exc)

    def set_run(self, index: int, text: str) -> str | None:
        """Replace explicit run ``index`` by ``key=value; key=value`` (empty:
        a run with the experiment's values only)."""
        try:
            run = parse_run(self.config_type, text)
        except BenchError as exc:
            return self._typed(f"run-{index}", str(exc))
        if run != self.extra_runs[index]:
            self.edited = True
        self.extra_runs[index] = run
        return self._typed(f"run-{index}", None)

    def remove_run(self, index: int) -> None:
        self.edited = True
        del self.extra_runs[index]
        for name in [f for f in self.typed if f.startswith("run-")]:  # the rows are numbered anew
            del self.typed[name]

    def swept(self) -> dict[str, list]:
        """Every swept key with its values, in order (grid, zip, explicit runs)."""
        out: dict[str, list] = {}
        for table in (self.grid, self.zipped):
            for key, values in table.items():
                out.setdefault(key, []).extend(v for v in values if v not in out.get(key, []))
        for run in self.extra_runs:
            for key, value in run.items():
                if value not in out.setdefault(key, []):
                    out[key].append(value)
        return out

    def swept_marks(self) -> dict[str, tuple[list, bool]]:
        """Every swept key: its values, and whether every run sweeps it (then
        a single value set for it would never run)."""
        try:
            runs = self.runs()
        except BenchError:
            runs = []
        return {key: (values, bool(runs) and all(key in run for run in runs)) for key, values in self.swept().items()}

    def field_of(self, key: str | None, run: dict) -> str:
        """The field that shows a problem with ``key`` in ``run``: its sweep
        row or explicit run when the run sweeps it, else its own field."""
        if key is None:
            return "sweep"
        if key in run:
            if key in self.sweep_fields:
                return self.sweep_fields[key]
            for index, extra in enumerate(self.extra_runs):
                if extra is run or extra == run:
                    return f"run-{index}"
            return "sweep"
        return key

    def runs(self) -> list[dict[str, Any]]:
        if self.zipped and len({len(v) for v in self.zipped.values()}) > 1:
            raise BenchError("paired (zip) lists must all have the same length")
        zip_rows = [dict(zip(self.zipped, row)) for row in zip(*self.zipped.values())] if self.zipped else [{}]
        grid_rows = [dict(zip(self.grid, row)) for row in itertools.product(*self.grid.values())] if self.grid else [{}]
        rows = [{**g, **z} for g in grid_rows for z in zip_rows] if (self.grid or self.zipped) else []
        rows += self.extra_runs
        return rows or [{}]

    def config(self) -> Any:
        return apply_overrides(self.config_type(), self.settings)

    def to_toml(self) -> str:
        experiment: dict[str, Any] = {"name": self.experiment, "kind": self.kind, "title": self.title}
        if self.settings:
            experiment["set"] = dict(self.settings)
        if self.grid:
            experiment["grid"] = dict(self.grid)
        if self.zipped:
            experiment["zip"] = dict(self.zipped)
        if self.extra_runs:
            experiment["runs"] = list(self.extra_runs)
        experiment["figures"] = self.figures or [dict(f) for f in get_kind(self.kind).default_figures]
        if self.early_stop:
            experiment["early_stop"] = {k: v for k, v in self.early_stop.items() if k != "mode"}
        experiments = [experiment] + [_experiment_table(e) for e in self.others]
        doc: dict[str, Any] = {"name": self.name, "title": self.title}
        if self.description:
            doc["description"] = self.description
        if self.report:
            doc["report"] = True
        doc["experiment"] = experiments
        return "# saved by benchtui\n" + tomli_w.dumps(_plain(doc))

    def save(self, path: Path) -> Path:
        from engine.io import write_text

        text = self.to_toml()
        write_text(path, text)
        load_preset(path)  # what we wrote must load
        return path

    @classmethod
    def from_preset(cls, preset: Preset, experiment: str | None = None) -> "SetupState":
        chosen = next((e for e in preset.experiments if e.name == experiment), preset.experiments[0])
        grid_keys, zip_keys = _split_sweep(chosen)
        state = cls(name=preset.name, title=chosen.title, kind=chosen.kind, settings=dict(chosen.settings),
                    figures=list(chosen.figures), experiment=chosen.name,
                    others=[e for e in preset.experiments if e is not chosen],
                    description=preset.description, report=preset.report, early_stop=chosen.early_stop)
        state.grid, state.zipped, state.extra_runs = grid_keys, zip_keys, []
        if state.runs() != chosen.runs:  # not a plain grid/zip (e.g. grid + explicit runs): keep the exact runs
            state.grid, state.zipped, state.extra_runs = {}, {}, [dict(r) for r in chosen.runs if r]
        rows = [(k, "grid") for k in state.grid if k != SEED_KEY] + [(k, "zip") for k in state.zipped]
        state.sweep_fields = {key: f"{table}-{i}" for table in ("grid", "zip")
                              for i, key in enumerate(k for k, t in rows if t == table)}
        if SEED_KEY in state.grid:
            state.sweep_fields[SEED_KEY] = "seeds"
        return state


def typing_origin_is_tuple(ftype) -> bool:
    import typing

    return typing.get_origin(ftype) is tuple


def shown_value(value: Any) -> str:
    """A value as typed in a field: ``true``, ``1,2``, ``0.01``."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(shown_value(v) for v in value)
    return str(value)


def run_text(run: dict[str, Any]) -> str:
    """An explicit run as its Sweep tab field shows it: ``optim.lr=0.01; model.depth=1``."""
    return "; ".join(f"{key}={shown_value(value)}" for key, value in run.items())


def parse_run(config_type: type, text: str) -> dict[str, Any]:
    """The inverse of ``run_text``; raises BenchError naming the part at fault."""
    run: dict[str, Any] = {}
    types = leaf_types(config_type)
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, eq, value = part.partition("=")
        if not eq or not key.strip():
            raise BenchError(f"{part!r}: write key=value (several separated by ';')")
        key = resolve_key(config_type, key.strip())
        run[key] = parse_value(key, types[key], value.strip())
    return run


def validate(state: SetupState) -> dict[str, str]:
    """Every problem of the setup, by the field that shows it (a config key,
    ``data.path``, ``workers``, ``grid-0``…``zip-1``, ``seeds``, ``run-N``,
    or ``sweep`` for the sweep as a whole). Empty: what the screen shows is
    exactly what runs."""
    problems = dict(state.typed)
    swept = state.swept_marks()
    for key in state.settings:
        if key in swept and swept[key][1]:  # every run sweeps it: a single value would never run
            values = ", ".join(shown_value(v) for v in swept[key][0])
            problems.setdefault(key, f"{key} is swept ({values}) on the Sweep tab: remove it there to set one value")
    folder = state.settings.get("data.path")
    if folder and not Path(str(folder)).expanduser().is_dir():
        problems.setdefault("data.path", f"{folder}: not a folder")
    try:
        runs = state.runs()
    except BenchError as exc:
        problems.setdefault("sweep", str(exc))
        return problems
    kind = get_kind(state.kind)
    settings = state.settings
    for run in runs:  # the kind's own check, on every run's config
        try:
            kind.check_config(apply_overrides(state.config_type(), {**settings, **run}))
        except BenchError as exc:
            problems.setdefault(state.field_of(exc.key, run), str(exc))
    return problems


def _split_sweep(exp: Experiment) -> tuple[dict, dict]:
    """Recover a grid from a planned list of runs (best effort)."""
    keys = list(exp.runs[0]) if exp.runs and exp.runs[0] else []
    grid = {}
    for key in keys:
        values = []
        for run in exp.runs:
            if run.get(key) not in values:
                values.append(run.get(key))
        grid[key] = values
    total = 1
    for values in grid.values():
        total *= len(values)
    if total == len(exp.runs):
        return grid, {}
    return {}, {k: [run.get(k) for run in exp.runs] for k in keys}


def _experiment_table(exp: Experiment) -> dict:
    table: dict[str, Any] = {"name": exp.name, "kind": exp.kind, "title": exp.title}
    if exp.settings:
        table["set"] = dict(exp.settings)
    table["runs"] = [dict(r) for r in exp.runs if r]
    if not table["runs"]:
        del table["runs"]
    if exp.figures:
        table["figures"] = exp.figures
    if exp.early_stop:
        table["early_stop"] = {k: v for k, v in exp.early_stop.items() if k != "mode"}
    return table


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
