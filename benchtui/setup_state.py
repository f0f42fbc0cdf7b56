"""What the Setup screens edit: one experiment (dataset, model settings, the
sweep) that becomes a preset ``benchtui replay`` runs unchanged. UI-free, so
tests can check it directly."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from engine.config import apply_overrides, parse_value, leaf_types, resolve_key
from engine.errors import BenchError
from engine.kinds import dataset_choices, default_kind, get_kind
from engine.preset import Experiment, Preset, load_preset


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

    def set_value(self, key: str, text: str) -> None:
        """Set (or with empty text, clear) one config value; raises BenchError."""
        key = resolve_key(self.config_type, key)
        if text.strip() == "":
            self.settings.pop(key, None)
            return
        self.settings[key] = parse_value(key, leaf_types(self.config_type)[key], text.strip())

    def set_sweep(self, table: str, key: str, text: str) -> None:
        """``text`` is a comma-separated list of values; empty clears the key."""
        target = self.grid if table == "grid" else self.zipped
        key = resolve_key(self.config_type, key)
        if not text.strip():
            target.pop(key, None)
            return
        ftype = leaf_types(self.config_type)[key]
        target[key] = [parse_value(key, ftype, part.strip()) for part in text.split(",") if part.strip()]
        if not target[key]:
            raise BenchError(f"{key}: the list of values is empty")

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
            state.grid, state.zipped, state.extra_runs = {}, {}, list(chosen.runs)
        return state


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
