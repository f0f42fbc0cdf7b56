"""Presets: a TOML file that lists experiments, each a sweep of runs.

    name = "my_study"                 # output folder under the runs dir
    title = "My study"
    [defaults]                        # config values for every experiment
    "optim.epochs" = 50
    [[experiment]]
    name = "lr"                       # output folder under the preset
    kind = "KIND"                     # the experiment kind (engine.kinds; default: the registry's default)
    title = "A.1.1 Learning rate"
    set = { "model.batchnorm" = false }        # values for every run
    grid = { "optim.lr" = [1.0, 0.01] }        # cartesian product
    zip = { "optim.batch_size" = [1, 16], "optim.epochs" = [1, 10] }  # paired
    runs = [{ "model.depth" = 1 }]             # explicit extra runs
    figures = [{ kind = "curves", metrics = ["val_loss"] }]

Keys are dotted config keys (``optim.lr``) or a unique leaf (``lr``). Every
key, value and figure is checked before any training starts; errors name the
file, the line and the key.
"""

from __future__ import annotations

import itertools
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.config import apply_overrides, resolve_key
from engine.errors import BenchError

NAME_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]*"  # a folder name; no leading dot (no '..')
PRESET_KEYS = {"name", "title", "description", "defaults", "experiment", "report", "seeds"}
EXPERIMENT_KEYS = {"name", "kind", "title", "description", "set", "grid", "zip", "runs", "figures", "seeds",
                   "early_stop"}
EARLY_STOP_KINDS = ("asha",)  # carried out by Ray Tune's ASHAScheduler on the ray executor
SEED_KEY = "system.seed"


@dataclass
class Experiment:
    name: str
    kind: str
    title: str
    description: str
    settings: dict[str, Any]  # preset defaults + experiment set, full dotted keys
    runs: list[dict[str, Any]]  # per run: the swept values (full dotted keys), system.seed included with seeds
    figures: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific tables (gallery)
    seeds: list[int] | None = None  # every run repeated with each of these seeds (`seeds = [...]`)
    # early stopping of bad trials: {"kind": "asha", "metric", "grace_epochs", "reduction_factor"} (ray executor)
    early_stop: dict[str, Any] | None = None


@dataclass
class Preset:
    path: Path
    name: str
    title: str
    description: str
    experiments: list[Experiment]
    report: bool = False  # write REPORT.md / REPORT.html answering STUDY after the replay


class _Locator:
    """Finds the line of a key in the preset text, for error messages."""

    def __init__(self, path: Path, text: str):
        self.path, self.lines = path, text.splitlines()

    def line_of(self, *needles: str) -> int | None:
        for needle in needles:
            pattern = re.compile(r'(^|[\s{,"\[])' + re.escape(needle) + r'("?\s*=|\b)')
            for number, line in enumerate(self.lines, 1):
                if pattern.search(line.split("#", 1)[0]):
                    return number
        return None

    def error(self, message: str, *needles: str) -> BenchError:
        line = self.line_of(*needles) if needles else None
        where = f"{self.path}:{line}" if line else str(self.path)
        return BenchError(f"{where}: {message}")


def load_preset(path: str | Path) -> Preset:
    from engine.kinds import default_kind, load_kinds  # the registry imports the trainers

    kinds = load_kinds()

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BenchError(f"{path}: cannot read preset ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise BenchError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at offset {exc.start}); "
                         "a preset is TOML, which is UTF-8") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise BenchError(f"{path}: TOML syntax error: {exc}") from None
    loc = _Locator(path, text)

    for key in doc:
        if key not in PRESET_KEYS:
            raise loc.error(f"unknown top-level key '{key}' (allowed: {', '.join(sorted(PRESET_KEYS))})", key)
    name = doc.get("name", path.stem)
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise loc.error(f"'name' must be a plain folder name (got {name!r})", "name")
    defaults = doc.get("defaults", {})
    if not isinstance(defaults, dict):
        raise loc.error("'defaults' must be a table", "defaults")
    raw_experiments = doc.get("experiment", [])
    if not isinstance(raw_experiments, list) or not raw_experiments:
        raise loc.error("no [[experiment]] tables: the preset would run nothing")

    preset_seeds = _seeds(doc["seeds"], loc, "seeds") if "seeds" in doc else None
    experiments, seen = [], set()
    for key in defaults:  # a default applies to the experiments whose kind has that key
        if not any(_known(kind.config_type, key) for kind in kinds.values()):
            try:
                resolve_key(default_kind().config_type, key)
            except BenchError as exc:
                raise loc.error(f"defaults: {exc}", key) from None
    for raw in raw_experiments:
        if not isinstance(raw, dict):
            raise loc.error("every [[experiment]] must be a table", "experiment")
        kind = kinds.get(raw.get("kind", default_kind().name))
        own_defaults = {k: v for k, v in defaults.items() if kind is None or _known(kind.config_type, k)}
        exp = _parse_experiment(raw, own_defaults, loc, kinds, default_kind().name, preset_seeds)
        if exp.name in seen:
            raise loc.error(f"experiment name '{exp.name}' is used twice", exp.name)
        seen.add(exp.name)
        experiments.append(exp)
    report = doc.get("report", False)
    if not isinstance(report, bool):
        raise loc.error(f"'report' must be true or false (got {report!r})", "report")
    return Preset(path, name, str(doc.get("title", name)), str(doc.get("description", "")), experiments, report)


def _known(cfg_type: type, key: str) -> bool:
    try:
        resolve_key(cfg_type, key)
        return True
    except BenchError:
        return False


def _seeds(value: Any, loc: _Locator, where: str) -> list[int]:
    """A non-empty list of distinct integer seeds."""
    if (not isinstance(value, list) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value)):
        raise loc.error(f"{where}: 'seeds' must be a non-empty list of whole numbers >= 0 (got {value!r})", "seeds")
    if len(set(value)) != len(value):
        raise loc.error(f"{where}: 'seeds' lists a seed twice ({value})", "seeds")
    return list(value)


def seeded(runs: list[dict[str, Any]], seeds: list[int]) -> list[dict[str, Any]]:
    """Every run once per seed (the seed last, so folders read ``lr=0.01,seed=43``)."""
    return [{**{k: v for k, v in run.items() if k != SEED_KEY}, SEED_KEY: seed} for run in runs for seed in seeds]


def group_name(swept: dict[str, Any]) -> str:
    """The name of a run without its seed: the runs of one setting share it."""
    return run_name({k: v for k, v in swept.items() if k != SEED_KEY})


def _parse_experiment(raw: dict, defaults: dict, loc: _Locator, kinds: dict, default: str,
                      preset_seeds: list[int] | None = None) -> Experiment:
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(NAME_PATTERN, name):
        raise loc.error(f"every [[experiment]] needs a plain 'name' (got {name!r})", "[[experiment]]")
    for key in raw:
        if key not in EXPERIMENT_KEYS:
            raise loc.error(
                f"experiment '{name}': unknown key '{key}' (allowed: {', '.join(sorted(EXPERIMENT_KEYS))})", key
            )
    kind_name = raw.get("kind", default)
    if kind_name not in kinds:
        raise loc.error(f"experiment '{name}': unknown kind '{kind_name}' (known: {', '.join(kinds)})", "kind")
    kind = kinds[kind_name]
    cfg_type = kind.config_type

    def full_keys(table: Any, what: str) -> dict[str, Any]:
        if not isinstance(table, dict):
            raise loc.error(f"experiment '{name}': '{what}' must be a table", what)
        out = {}
        for key, value in table.items():
            try:
                out[resolve_key(cfg_type, key)] = value
            except BenchError as exc:
                raise loc.error(f"experiment '{name}', {what}: {exc}", key) from None
        return out

    own_set = full_keys(raw.get("set", {}), "set")
    settings = {**full_keys(defaults, "defaults"), **own_set}
    grid = full_keys(raw.get("grid", {}), "grid")
    zipped = full_keys(raw.get("zip", {}), "zip")
    for what, table in (("grid", grid), ("zip", zipped)):
        for key, values in table.items():
            if not isinstance(values, list) or not values:
                raise loc.error(f"experiment '{name}', {what}: '{key}' must be a non-empty list", key.split(".")[-1])
    lengths = {len(v) for v in zipped.values()}
    if len(lengths) > 1:
        raise loc.error(f"experiment '{name}', zip: all lists must have the same length", "zip")

    for key in set(grid) & set(zipped) | (set(grid) | set(zipped)) & set(own_set):  # defaults may be swept
        raise loc.error(f"experiment '{name}': '{key}' is set in more than one of set/grid/zip", key.split(".")[-1])
    zip_rows = [dict(zip(zipped, row)) for row in zip(*zipped.values())] if zipped else [{}]
    grid_rows = [dict(zip(grid, row)) for row in itertools.product(*grid.values())] if grid else [{}]
    runs = [{**g, **z} for g in grid_rows for z in zip_rows] if (grid or zipped) else []
    explicit = raw.get("runs", [])
    if not isinstance(explicit, list) or not all(isinstance(r, dict) for r in explicit):
        raise loc.error(f"experiment '{name}': 'runs' must be a list of tables", "runs")
    runs += [full_keys(r, "runs") for r in explicit]
    if not runs:
        runs = [{}]
    seeds = _seeds(raw["seeds"], loc, f"experiment '{name}'") if "seeds" in raw else preset_seeds
    if seeds is not None:
        if any(SEED_KEY in table for table in (own_set, *runs)):  # a [defaults] seed is overridden
            raise loc.error(f"experiment '{name}': give either 'seeds' or a value of system.seed, not both", "seeds")
        runs = seeded(runs, seeds)
    names = [run_name(r) for r in runs]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        raise loc.error(f"experiment '{name}': two runs would share the folder '{dup}' (repeated or too-close values)",
                        "experiment")

    # type-check every value now, so a bad one fails before any training
    for run in runs:
        try:
            apply_overrides(cfg_type(), {**settings, **run})
        except BenchError as exc:
            key = str(exc).split("'")[1] if "'" in str(exc) else ""
            raise loc.error(f"experiment '{name}': {exc}", key.split(".")[-1]) from None

    figures = raw.get("figures", [])
    if not isinstance(figures, list) or not all(isinstance(f, dict) for f in figures):
        raise loc.error(f"experiment '{name}': 'figures' must be a list of tables", "figures")
    for fig in figures:
        try:
            kind.check_figure(fig)
        except BenchError as exc:
            raise loc.error(f"experiment '{name}', figures: {exc}", "figures") from None
    extra: dict[str, Any] = {}
    early_stop = _early_stop(raw["early_stop"], kind, name, loc) if "early_stop" in raw else None
    return Experiment(
        name=name,
        kind=kind_name,
        title=str(raw.get("title", name)),
        description=str(raw.get("description", "")),
        settings=settings,
        runs=runs,
        figures=figures,
        extra=extra,
        seeds=seeds,
        early_stop=early_stop,
    )


def _early_stop(value: Any, kind: Any, name: str, loc: _Locator) -> dict[str, Any]:
    """``early_stop = { kind = "asha", metric = "val_loss", grace_epochs = 5, reduction_factor = 3 }``:
    checked now; the metric's direction comes from the kind."""
    where = f"experiment '{name}', early_stop"
    if not isinstance(value, dict):
        raise loc.error(f"{where}: must be a table like {{ kind = \"asha\", metric = \"val_loss\" }}", "early_stop")
    allowed = {"kind", "metric", "grace_epochs", "reduction_factor"}
    for key in value:
        if key not in allowed:
            raise loc.error(f"{where}: unknown key '{key}' (allowed: {', '.join(sorted(allowed))})", "early_stop")
    method = value.get("kind")
    if method not in EARLY_STOP_KINDS:
        raise loc.error(f"{where}: unknown kind {method!r} (known: {', '.join(EARLY_STOP_KINDS)})", "early_stop")
    metric = value.get("metric", kind.primary)
    names = [m.name for m in kind.metrics]
    if metric not in names:
        raise loc.error(f"{where}: unknown metric {metric!r} for kind '{kind.name}' (known: {', '.join(names)})",
                        "early_stop")
    out = {"kind": method, "metric": metric, "mode": "min" if kind.metric(metric).better == "lower" else "max"}
    for key, default, low in (("grace_epochs", 1, 1), ("reduction_factor", 3, 2)):
        number = value.get(key, default)
        if isinstance(number, bool) or not isinstance(number, int) or number < low:
            raise loc.error(f"{where}: '{key}' must be a whole number >= {low} (got {number!r})", "early_stop")
        out[key] = number
    return out


def run_name(swept: dict[str, Any]) -> str:
    """Folder name of a run from its swept values: ``lr=0.001,batchnorm=true``."""
    if not swept:
        return "run"

    def fmt(v: Any) -> str:
        if isinstance(v, bool):
            return str(v).lower()
        if isinstance(v, float):
            return f"{v:g}"
        return re.sub(r"[^A-Za-z0-9_.+-]", "_", str(v))

    return ",".join(f"{k.split('.')[-1]}={fmt(v)}" for k, v in swept.items())
