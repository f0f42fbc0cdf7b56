"""Where a replay's time went: per experiment and the fixed costs.

A replay keeps one ``Timings``: the wall time of each experiment (from its
first unit starting to its summary and figures written), the seconds its
units spent training and starting up, and the fixed costs around training:

- data preparation and caches: loading (and on a first replay decoding and
  caching) every dataset before training starts, in the bench's process;
- pretraining: units whose run notes say they pretrained a backbone (the
  time from the unit's start to its first run starting);
- worker start-up: the same gap for every other unit (a worker process
  starting, importing, loading its own copy of the data);
- figures: each experiment's summary and figures;
- report: the study report (known only after it is written, so the
  report's appendix shows the other items).

``write`` saves them atomically as ``timings.json`` in the preset's runs
folder, ``lines`` is what the replay prints at its end, ``appendix`` the
Markdown section the report ends with. ``durations`` reads the last
``timings.json`` back so a replay can start its longest units first.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from engine.io import write_json

FILE = "timings.json"
DATA, PRETRAINING, STARTUP, FIGURES, REPORT = (
    "data preparation and caches", "pretraining", "worker start-up", "figures", "report")
FIXED = (DATA, PRETRAINING, STARTUP, FIGURES, REPORT)


@dataclass
class ExperimentTime:
    units: int = 0
    runs: int = 0
    first_begin: float | None = None
    last_end: float | None = None
    train: float = 0.0  # seconds from each unit's first run starting to the unit's results (summed over units)
    startup: float = 0.0  # seconds from each unit's start to its first run starting (summed over units)
    figures: float = 0.0

    @property
    def wall(self) -> float:
        if self.first_begin is None or self.last_end is None:
            return 0.0
        return self.last_end - self.first_begin


@dataclass
class Timings:
    preset: str
    executor: str = ""
    started: float = field(default_factory=time.perf_counter)
    fixed: dict[str, float] = field(default_factory=lambda: {name: 0.0 for name in FIXED})
    experiments: dict[str, ExperimentTime] = field(default_factory=dict)
    units: dict[str, float] = field(default_factory=dict)  # unit key (its run ids) -> seconds, for the next replay
    total: float = 0.0

    def experiment(self, name: str) -> ExperimentTime:
        return self.experiments.setdefault(name, ExperimentTime())

    def unit_done(self, experiment: str, run_ids: list[str], begun: float | None, first_start: float | None,
                  ended: float, pretrained: bool) -> None:
        """One unit's results are in: ``begun`` when it was handed to a worker, ``first_start`` when its first
        run started (None: it never started)."""
        exp = self.experiment(experiment)
        exp.units += 1
        exp.runs += len(run_ids)
        begun = ended if begun is None else begun
        started = ended if first_start is None else max(begun, first_start)
        exp.first_begin = begun if exp.first_begin is None else min(exp.first_begin, begun)
        exp.last_end = ended if exp.last_end is None else max(exp.last_end, ended)
        exp.startup += started - begun
        exp.train += ended - started
        self.fixed[PRETRAINING if pretrained else STARTUP] += started - begun
        self.units[unit_key(run_ids)] = ended - begun

    def figures_done(self, experiment: str, seconds: float) -> None:
        exp = self.experiment(experiment)
        exp.figures += seconds
        exp.last_end = time.perf_counter() if exp.first_begin is not None else exp.last_end
        self.fixed[FIGURES] += seconds

    def to_dict(self) -> dict:
        return {
            "preset": self.preset,
            "executor": self.executor,
            "total_seconds": round(self.total, 3),
            "fixed_seconds": {k: round(v, 3) for k, v in self.fixed.items()},
            "experiments": {name: {"wall_seconds": round(e.wall, 3), "train_seconds": round(e.train, 3),
                                   "startup_seconds": round(e.startup, 3), "figures_seconds": round(e.figures, 3),
                                   "units": e.units, "runs": e.runs}
                            for name, e in self.experiments.items()},
            "units": {k: round(v, 3) for k, v in self.units.items()},
        }

    def write(self, folder: Path) -> Path:
        path = Path(folder) / FILE
        write_json(path, self.to_dict())
        return path

    def lines(self) -> list[str]:
        return table_lines(self.to_dict())


def unit_key(run_ids: list[str]) -> str:
    return " ".join(run_ids)


def table_lines(data: dict) -> list[str]:
    """Where the time went, as plain text lines (the replay's closing lines)."""
    experiments = data.get("experiments") or {}
    width = max([len("experiment")] + [len(name) for name in experiments])
    lines = [f"where the time went ({data.get('executor') or 'no training'}; seconds of wall time; "
             f"train and start-up are summed over units, which may run side by side):",
             f"  {'experiment':<{width}} {'units':>5} {'runs':>5} {'wall':>8} {'train':>8} {'start-up':>8} "
             f"{'figures':>8}"]
    for name, e in sorted(experiments.items(), key=lambda item: -item[1]["wall_seconds"]):
        lines.append(f"  {name:<{width}} {e['units']:>5} {e['runs']:>5} {e['wall_seconds']:>8.1f} "
                     f"{e['train_seconds']:>8.1f} {e['startup_seconds']:>8.1f} {e['figures_seconds']:>8.1f}")
    fixed = data.get("fixed_seconds") or {}
    lines.append("  fixed costs: " + ", ".join(f"{name} {fixed.get(name, 0.0):.1f} s" for name in FIXED))
    lines.append(f"  total: {data.get('total_seconds', 0.0):.1f} s")
    return lines


def read(folder: Path, file: str = FILE) -> dict | None:
    """The last replay's timings.json in this folder, or None (absent or unreadable: nothing to learn from)."""
    try:
        data = json.loads((Path(folder) / file).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def hint_file(preset_path: Path) -> Path:
    """A preset's shipped timings (``presets/quick.toml`` -> ``presets/quick.timings.json``): a measured
    replay's timings.json, copied there, so that a first replay also starts its longest units first."""
    return Path(preset_path).with_suffix(".timings.json")


def durations(folder: Path, file: str = FILE) -> dict[str, float]:
    """Unit key -> seconds it took in the last replay (to start the longest units first)."""
    units = (read(folder, file) or {}).get("units")
    if not isinstance(units, dict):
        return {}
    return {k: float(v) for k, v in units.items() if isinstance(v, (int, float))}


def known_durations(folder: Path, preset_path: Path) -> dict[str, float]:
    """The unit durations to order a replay by: its runs folder's last timings.json, or where there is none
    yet (a first replay) the preset's shipped timings (``hint_file``). Only the order depends on them."""
    hint = hint_file(preset_path)
    return durations(folder) or durations(hint.parent, hint.name)


def longest_first(units: list, key, known: dict[str, float]) -> list:
    """Units whose time is known from the last replay, longest first, after the
    units not timed yet (in their order: they may be the long ones)."""
    unknown = [u for u in units if key(u) not in known]
    timed = sorted((u for u in units if key(u) in known), key=lambda u: -known[key(u)])
    return unknown + timed


def appendix(folder: Path) -> str:
    """The report's closing section: the table of timings.json, or nothing when there is none."""
    data = read(folder)
    if data is None:
        return ""
    experiments = data.get("experiments") or {}
    fixed = data.get("fixed_seconds") or {}
    lines = ["", "## Appendix: where the time went", "",
             f"Read from `{FILE}` of the replay that wrote this report ({data.get('executor') or 'no training'}); "
             "seconds of wall time. Train and start-up are summed over an experiment's units, which may run "
             "side by side; the report's own time is not known until it is written.", "",
             "| experiment | units | runs | wall | train | start-up | figures |", "|---|---|---|---|---|---|---|"]
    for name, e in sorted(experiments.items(), key=lambda item: -item[1]["wall_seconds"]):
        lines.append(f"| {name} | {e['units']} | {e['runs']} | {e['wall_seconds']:.1f} | {e['train_seconds']:.1f} "
                     f"| {e['startup_seconds']:.1f} | {e['figures_seconds']:.1f} |")
    lines += ["", "| fixed cost | seconds |", "|---|---|"]
    lines += [f"| {name} | {fixed.get(name, 0.0):.1f} |" for name in FIXED if name != REPORT]
    lines += [f"| total before the report | {data.get('total_seconds', 0.0):.1f} |", ""]
    return "\n".join(lines)
