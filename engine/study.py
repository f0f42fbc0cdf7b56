"""Replay a preset: plan its runs, train what is not finished, draw figures.

Used by ``benchtui replay`` (console or TUI) and by tests. Everything that
can be checked (preset, overrides, data) is checked in ``plan`` before any
training starts.
"""

from __future__ import annotations

import threading
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from engine import checkpoint
from engine.config import apply_overrides, config_hash, resolve_key, to_dict
from engine.errors import BenchError
from engine.events import Callback
from engine.figures import FigureContext, first_of_each_setting, summary_table
from engine.io import read_json, write_json, write_text
from engine.kinds import dataset_of, datasets, get_kind, load_kinds
from engine.preset import SEED_KEY, Experiment, Preset, group_name, run_name, seeded
from engine.runs import (FINISHED, Claim, RunWriter, archive_other_config, check_writable, load_finished, now,
                         outputs_claim, run_claim, write_failure)
from engine.system import environment, resolve_device


@dataclass
class ReplayOptions:
    runs_dir: Path = Path("runs")
    data_root: Path = Path("data")
    overrides: dict[str, str] = field(default_factory=dict)  # --set, applied last
    data_paths: dict[str, str] = field(default_factory=dict)  # --data name=path
    only: list[str] = field(default_factory=list)
    device: str | None = None
    force: bool = False
    stack: bool = True  # train runs that can share a stacked model together (see Kind.stack_key)
    seeds: int | None = None  # --seeds N: every run with N seeds (the experiment's first seed and the next ones)
    executor: str | None = "local"  # local | processes | ray; None: the default (engine.executors.choose)
    workers: int | None = None  # processes / ray: how many units train at once (default: one per core or GPU)
    ray_address: str | None = None  # ray: None starts a local instance; "auto" or HOST:PORT joins a cluster
    keep_checkpoints: bool = False  # --keep-checkpoints: a finished run keeps its last checkpoint.pt


@dataclass
class PlannedRun:
    experiment: Experiment
    name: str
    swept: dict[str, Any]
    config: Any
    run_dir: Path
    group: str = ""  # the run's name without its seed: the runs of one setting over seeds share it

    @property
    def run_id(self) -> str:
        return f"{self.experiment.name}/{self.name}"


@dataclass
class Plan:
    preset: Preset
    options: ReplayOptions
    runs: list[PlannedRun]
    datasets: dict[tuple, Any]
    data_seconds: float = 0.0  # engine.timings: loading (and preparing, caching) the datasets

    def data_for(self, cfg: Any, kind_name: str) -> Any:
        kind = get_kind(kind_name)
        key = kind.data_key(cfg)
        if key not in self.datasets:
            loading = time.perf_counter()
            self.datasets[key] = kind.load_data(cfg, self.options.data_root)
            self.data_seconds += time.perf_counter() - loading
        return self.datasets[key]


@dataclass
class ReplaySummary:
    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # one line each: failed / stopped runs, figure errors
    records: dict[str, list[dict]] = field(default_factory=dict)  # experiment -> run records
    figures: dict[str, list[str]] = field(default_factory=dict)  # experiment -> files written
    wall_time: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems


def plan(preset: Preset, options: ReplayOptions) -> Plan:
    experiments = preset.experiments
    if options.only:
        known = {e.name for e in experiments}
        for name in options.only:
            if name not in known:
                raise BenchError(f"--only: no experiment '{name}' in {preset.path} (has {', '.join(known)})")
        experiments = [e for e in experiments if e.name in options.only]
    known = datasets()
    for name, path in options.data_paths.items():
        if name not in known:
            raise BenchError(f"--data {name}={path}: unknown dataset '{name}' (known: {', '.join(known)})")
    if options.device is not None:
        resolve_device(options.device)  # fails now if cuda is asked for and absent
    for exp in experiments:  # early stopping is carried out by Ray Tune's ASHA scheduler
        if exp.early_stop is not None and options.executor not in (None, "ray"):
            raise BenchError(f"experiment '{exp.name}': early_stop ({exp.early_stop['kind']}) needs --executor ray "
                             f"(got --executor {options.executor})")

    runs: list[PlannedRun] = []
    for exp in experiments:
        kind = get_kind(exp.kind)
        cfg_type = kind.config_type
        cli = {}
        for key, value in options.overrides.items():
            try:
                cli[resolve_key(cfg_type, key)] = value
            except BenchError as exc:
                raise BenchError(f"--set {key}={value}: {exc}") from None
        if options.device is not None:
            cli["system.device"] = options.device
        for swept in _runs_with_seeds(exp, cfg_type, options.seeds):
            try:
                cfg = apply_overrides(cfg_type(), {**exp.settings, **swept, **cli})
                name = dataset_of(cfg)
                if name in options.data_paths:  # --data NAME=PATH: the runs on that dataset read the folder
                    if not hasattr(getattr(cfg, "data", None), "path"):
                        raise BenchError(f"--data {name}={options.data_paths[name]}: the '{name}' data are "
                                         "built in; there is no folder to read")
                    cfg = apply_overrides(cfg, {"data.path": str(Path(options.data_paths[name]).resolve())})
            except BenchError as exc:
                raise BenchError(str(exc) if str(exc).startswith("--data") else f"--set: {exc}") from None
            name = run_name(swept)
            try:  # every run's config is checked before any training starts
                kind.check_config(cfg)
            except BenchError as exc:
                raise BenchError(f"{exp.name}/{name}: {exc}") from None
            runs.append(PlannedRun(exp, name, swept, cfg, options.runs_dir / preset.name / exp.name / name,
                                   group_name(swept)))
    used = sorted({dataset_of(run.config) for run in runs})
    for name, path in options.data_paths.items():
        if name not in used:
            raise BenchError(f"--data {name}={path}: no experiment of {preset.path} uses '{name}' "
                             f"(it uses: {', '.join(used) or 'none'})")
        if not Path(path).is_dir():
            raise BenchError(f"--data {name}={path}: not a folder")
    check_writable(options.runs_dir / preset.name, f"--runs-dir {options.runs_dir}")  # before any data loads
    result = Plan(preset, options, runs, {})
    for run in runs:  # load (and validate) every dataset before any training
        result.data_for(run.config, run.experiment.kind)
    return result


def _runs_with_seeds(exp: Experiment, cfg_type: type, count: int | None) -> list[dict[str, Any]]:
    """The experiment's runs; with ``--seeds N``, each setting with N seeds
    starting at the experiment's first seed (its configured system.seed when
    it lists none)."""
    if count is None:
        return exp.runs
    if count < 1:
        raise BenchError(f"--seeds {count}: give 1 or more seeds")
    if exp.seeds is None and any(SEED_KEY in run for run in exp.runs):
        raise BenchError(f"--seeds {count}: experiment '{exp.name}' already sweeps system.seed")
    first = exp.seeds[0] if exp.seeds else apply_overrides(cfg_type(), exp.settings).system.seed
    settings: list[dict[str, Any]] = []
    for run in exp.runs:
        base = {k: v for k, v in run.items() if k != SEED_KEY}
        if base not in settings:
            settings.append(base)
    return seeded(settings, [first + i for i in range(count)])


def replay(
    the_plan: Plan,
    callbacks_for: Callable[[PlannedRun], list[Callback]] = lambda run: [],
    stop: threading.Event | None = None,
    log: Callable[[str], None] = lambda line: None,
) -> ReplaySummary:
    """Train every unfinished run of the plan with the chosen executor; each
    experiment's summary and figures are written as soon as all its runs are
    done, the report at the end."""
    from engine import executors, timings as timing

    summary = ReplaySummary()
    started = time.perf_counter()
    claims = _Claims(the_plan.options.force, log)
    timings = timing.Timings(the_plan.preset.name)  # where the time went (timings.json)
    timings.units = timing.durations(the_plan.options.runs_dir / the_plan.preset.name)  # kept for units not run now
    data_before = the_plan.data_seconds
    stop = stop if stop is not None else threading.Event()
    preset = the_plan.preset
    by_experiment: dict[str, list[PlannedRun]] = {}
    for run in the_plan.runs:
        by_experiment.setdefault(run.experiment.name, []).append(run)

    done: dict[str, dict[str, dict]] = {name: {} for name in by_experiment}
    units: list[executors.Unit] = []
    waiting: dict[str, int] = {}  # experiment -> units not finished yet
    pending_of: dict[str, list[PlannedRun]] = {}  # experiment -> its runs not finished yet
    for exp_name, runs in by_experiment.items():
        exp = runs[0].experiment
        pending: list[PlannedRun] = []
        for run in runs:
            record = (None if the_plan.options.force
                      else load_finished(run.run_dir, config_hash(run.config), exp.early_stop))
            if record is not None:
                log(f"{run.run_id}: already finished ({record['status']}), skipped")
                done[exp_name][run.name] = record
            else:
                pending.append(run)
        waiting[exp_name] = 0
        pending_of[exp_name] = pending

    def make_units(runs: list[PlannedRun], first: int) -> list[executors.Unit]:
        """Units of work for runs of one experiment (counted as waiting)."""
        if not runs:
            return []
        exp = runs[0].experiment
        made = []
        kind = get_kind(exp.kind)
        saved = _find_checkpoints(the_plan, runs, log)
        # ASHA decides per run: an experiment that asks for it trains every run alone
        for group in _resume_apart(_stacks(kind, runs, the_plan.options.stack and exp.early_stop is None),
                                   saved, log):
            made.append(executors.Unit(first + len(made), group, exp.kind,
                                       the_plan.data_for(group[0].config, exp.kind),
                                       the_plan.options.data_root, exp.early_stop,
                                       prepare=lambda unit, saved=saved: _prepare(the_plan, unit, callbacks_for,
                                                                                  log, saved),
                                       claim=lambda unit: claim(unit),
                                       resume=[saved[r.run_id].payload if r.run_id in saved else None
                                               for r in group],
                                       prep=kind.shared_prep(group[0].config) if kind.shared_prep else None))
        waiting[exp.name] += len(made)
        return made

    for pending in pending_of.values():
        units += make_units(pending, len(units))

    written: set[str] = set()
    drawer: list = []  # a thread that draws figures while worker processes train (not with the local executor)
    drawn: list = []  # its futures: an error raised while drawing is raised here, as it would be without it

    def outputs(exp_name: str) -> None:
        """The experiment's summary and figures, rebuilt from its run folders as
        they are (another replay or the lab bench may have trained some of its
        runs), one writer at a time."""
        runs = by_experiment[exp_name]
        exp = runs[0].experiment
        records = []
        for run in runs:  # in the preset's order, whatever trained together
            record = _as_it_is(run, done[exp_name].get(run.name))
            if record is not None:
                record["_dir"] = str(run.run_dir)
                records.append(record)
        summary.records[exp_name] = records
        written.add(exp_name)
        if records:
            def draw() -> None:
                drawing = time.perf_counter()
                with outputs_claim(the_plan.options.runs_dir / preset.name):
                    _experiment_outputs(the_plan, exp, get_kind(exp.kind), records, summary, log)
                timings.figures_done(exp_name, time.perf_counter() - drawing)

            if drawer:  # off the critical path: workers get their next units while this experiment is drawn
                drawn.append(drawer[0].submit(draw))
            else:
                draw()

    def unit_done(exp_name: str) -> None:
        waiting[exp_name] -= 1
        if waiting[exp_name] == 0:
            outputs(exp_name)

    def claim(unit: executors.Unit) -> bool:
        """Just before a unit trains: it keeps only the runs this writer could
        claim and that nobody finished meanwhile; False when none is left."""
        exp_name = unit.runs[0].experiment.name
        unit.runs = claims.take(unit.runs, lambda run, record: done[exp_name].__setitem__(run.name, record))
        if not unit.runs:
            unit_done(exp_name)
        return bool(unit.runs)

    def finish(unit: executors.Unit, results: list) -> None:
        exp_name = unit.runs[0].experiment.name
        for run, record in zip(unit.runs, _finish_unit(the_plan, unit, results)):
            done[exp_name][run.name] = record
        claims.release(unit.runs)
        timings.unit_done(exp_name, unit.run_ids, unit.begun_at, unit.first_start_at, time.perf_counter(),
                          unit.pretrained)
        unit_done(exp_name)

    for exp_name in by_experiment:  # nothing to train: its outputs are rewritten at once
        if waiting[exp_name] == 0:
            outputs(exp_name)
    if units:
        # the default executor follows from the whole plan, not from what is left to train: a resumed
        # replay trains its last runs as the uninterrupted one would have (same executor, same threads)
        planned = sum(len(_stacks(get_kind(runs[0].experiment.kind), runs,
                                  the_plan.options.stack and runs[0].experiment.early_stop is None))
                      for runs in by_experiment.values())
        name = executors.choose(the_plan.options.executor, planned, any(u.early_stop for u in units))
        if name != "ray" and any(u.early_stop for u in units):
            raise BenchError(f"early_stop needs --executor ray (got --executor {name})")
        executor = executors.make(name, the_plan.options.workers, the_plan.options.ray_address)
        if name != "local":  # one thread: figures are drawn one at a time, never two at once
            from concurrent.futures import ThreadPoolExecutor

            drawer.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="benchtui-figures"))
        # the units the last replay (or the preset's shipped timings) timed, longest first (so that the
        # workers finish together)
        known = timing.known_durations(the_plan.options.runs_dir / the_plan.preset.name, the_plan.preset.path)
        units = timing.longest_first(units, lambda u: timing.unit_key(u.run_ids), known)
        batch, made = units, list(units)
        try:
            while batch:
                if name == "ray":  # a Ray trial starts where the driver cannot hold it back: claimed now
                    batch = [unit for unit in batch if claim(unit)]
                    for index, unit in enumerate(batch):
                        unit.index, unit.claim = index, None
                described = executor.describe(len(batch))
                log(f"executor: {described}")
                timings.executor = described
                for unit in batch:  # recorded in each run.json: where and with how many threads it trained
                    unit.executor = described
                if batch:
                    executor.run(batch, stop, finish, log)
                # runs another writer held with another config: trained now that it let go
                deferred = claims.wait_deferred(stop)
                batch = []
                for exp_name in by_experiment:
                    batch += make_units([run for run in deferred if run.experiment.name == exp_name], len(batch))
                made += batch
        finally:  # however the executor ends, no run stays `running` and no claim stays held
            for unit in made:
                for writer in unit.writers:
                    writer.end_unfinished("the replay ended before this run finished")
            claims.release_all()
            if drawer:
                drawer.pop().shutdown(wait=True)  # every figure drawn before the report reads them
                for future in drawn:
                    future.result()
    for exp_name in by_experiment:  # stopped: the runs that finished still get their summary and figures
        if exp_name not in written:
            outputs(exp_name)

    for exp_name in by_experiment:
        for record in summary.records.get(exp_name, []):
            status = record["status"]
            summary.counts[status] = summary.counts.get(status, 0) + 1
            if status not in ("ok", "diverged", "pruned"):
                summary.problems.append(f"{exp_name}/{record.get('name')}: {status}: {record.get('message', '')}")
    summary.wall_time = time.perf_counter() - started
    timings.fixed[timing.DATA] = the_plan.data_seconds  # plan() loaded the data before the replay started
    timings.total = summary.wall_time + data_before
    folder = the_plan.options.runs_dir / preset.name
    _write_timings(timings, folder, summary)
    reporting = time.perf_counter()
    if preset.report and the_plan.options.only:
        log("report: not rebuilt, because --only ran part of the preset")
    elif preset.report and not stop.is_set():
        try:
            from engine.studies import write_report

            with outputs_claim(the_plan.options.runs_dir / preset.name):
                files = write_report(the_plan, summary)
            log(f"report: wrote {', '.join(str(f) for f in files)}")
        except OSError as exc:  # disk full, permissions: the path and the reason
            summary.problems.append(f"report failed: {write_failure(Path(preset.name), exc)}")
        except Exception as exc:  # noqa: BLE001 - the runs are kept; the report problem is reported
            summary.problems.append(f"report failed: {type(exc).__name__}: {exc}")
            log(traceback.format_exc(limit=4))
    timings.fixed[timing.REPORT] = time.perf_counter() - reporting
    timings.total += timings.fixed[timing.REPORT]
    _write_timings(timings, folder, summary)
    for line in timings.lines():
        log(line)
    return summary


class _Claims:
    """The runs this writer holds (``engine.runs.run_claim``): each run is
    claimed just before it trains, so two replays (or a replay and the lab
    bench) that share a runs folder split the runs between them and never
    train one twice; released once the run's record is final."""

    def __init__(self, force: bool, log: Callable[[str], None]):
        self.force, self.log = force, log
        self.since = now()  # --force: a run finished after this was trained for this replay by another
        self.held: dict[Path, Claim] = {}
        self.deferred: list[PlannedRun] = []  # held by a writer of another config: trained after it

    def take(self, runs: list[PlannedRun], finished: Callable[[PlannedRun, dict], None]) -> list[PlannedRun]:
        """The runs this writer claims and still has to train; a run another
        writer finished meanwhile goes to ``finished`` instead, one that
        another writer trains with another config to ``deferred``."""
        mine = []
        for run in runs:
            claim = run_claim(run.run_dir)
            held_by = _acquire_or_holder(claim, config_hash(run.config))
            if held_by is not None:
                if held_by.get("config_hash") not in (None, config_hash(run.config)):
                    self.log(f"{run.run_id}: another config is being trained by {claim.holder()}; "
                             "this one trains after it (archiving it)")
                    self.deferred.append(run)
                else:
                    self.log(f"{run.run_id}: being trained by another writer ({claim.holder()}); left to it")
                continue
            record = load_finished(run.run_dir, config_hash(run.config), run.experiment.early_stop)
            if record is not None and (not self.force or str(record.get("finished_at", "")) > self.since):
                claim.release()
                self.log(f"{run.run_id}: finished meanwhile by another writer ({record['status']}), skipped")
                finished(run, record)
                continue
            self.held[run.run_dir] = claim
            mine.append(run)
        return mine

    def release(self, runs: list[PlannedRun]) -> None:
        for run in runs:
            claim = self.held.pop(run.run_dir, None)
            if claim is not None:
                claim.release()

    def wait_deferred(self, stop: threading.Event) -> list[PlannedRun]:
        """The deferred runs, once their holders let go (called while this
        writer holds no claim, so two writers never wait for each other)."""
        runs, self.deferred = self.deferred, []
        for run in runs:
            claim = run_claim(run.run_dir)
            while not stop.is_set() and not claim.acquire():
                time.sleep(0.5)
            claim.release()
        return [] if stop.is_set() else runs

    def release_all(self) -> None:
        for claim in self.held.values():
            claim.release()
        self.held.clear()


def _acquire_or_holder(claim: Claim, config: str, patience: float = 2.0) -> dict | None:
    """None when this writer took the claim, else what its holder recorded.
    A holder writes its record just after it locks and empties it just
    before it lets go, so an empty record means "try again", not "unknown":
    the claim is retried until it is taken or its holder is known."""
    deadline = time.monotonic() + patience
    while True:
        if claim.acquire(config_hash=config):
            return None
        info = claim.holder_info()
        if info or time.monotonic() > deadline:
            return info
        time.sleep(0.02)


def _as_it_is(run: PlannedRun, mine: dict | None) -> dict | None:
    """A run's record as its folder holds it now: the folder's finished record
    (whoever trained it), else this writer's own when the folder has none
    (its run.json could not be written), else None (not finished here yet)."""
    record = read_json(run.run_dir / "run.json")
    if isinstance(record, dict) and record.get("complete"):
        return record
    return mine if record is None else None


def _write_timings(timings, folder: Path, summary: ReplaySummary) -> None:
    """timings.json in the preset's runs folder; a failure to write it is a problem, not a lost replay."""
    try:
        timings.write(folder)
    except OSError as exc:
        message = f"timings.json could not be written in {folder}: {exc}"
        if message not in summary.problems:
            summary.problems.append(message)


def _stacks(kind, runs: list[PlannedRun], allowed: bool) -> list[list[PlannedRun]]:
    """Runs to train, grouped: runs with the same stack key train together
    (the kind says which can); the others one by one, in order."""
    groups: dict[Any, list[PlannedRun]] = {}
    order: list[list[PlannedRun]] = []
    for run in runs:
        key = kind.stack_key(run.config) if allowed and kind.fit_stack is not None else None
        if key is None:
            order.append([run])
        elif key in groups:
            groups[key].append(run)
        else:
            groups[key] = [run]
            order.append(groups[key])
    return order


def kind_packages() -> tuple[str, ...]:
    """The packages every registered kind names (their versions go into run.json)."""
    names: list[str] = []
    for kind in load_kinds().values():
        names += [p for p in kind.packages if p not in names]
    return tuple(names)


def _find_checkpoints(the_plan: Plan, runs: list[PlannedRun], log) -> dict[str, checkpoint.Saved]:
    """The runs that resume from a checkpoint of their config (none with --force)."""
    found: dict[str, checkpoint.Saved] = {}
    if the_plan.options.force:
        return found
    for run in runs:
        saved, why = checkpoint.find(run.run_dir, config_hash(run.config))
        if why:
            log(f"{run.run_id}: {why}")
        if saved is not None:
            found[run.run_id] = saved
            log(f"{run.run_id}: resumes from its checkpoint after epoch {saved.epoch} of {saved.epochs}")
    return found


def _resume_apart(groups: list[list[PlannedRun]], saved: dict[str, checkpoint.Saved],
                  log) -> list[list[PlannedRun]]:
    """A stack resumes whole, from one epoch (a member that had diverged keeps
    its place). Its runs train apart, one stack per epoch, only where their
    checkpoints hold different epochs (a replay killed while it wrote them)."""
    out = []
    for group in groups:
        start = {run.run_id: saved[run.run_id].epoch if run.run_id in saved else 0 for run in group}
        dead = {run.run_id for run in group if run.run_id in saved and saved[run.run_id].diverged}
        epochs = sorted({start[run.run_id] for run in group if run.run_id not in dead}, reverse=True)
        if len(epochs) <= 1:
            out.append(group)
            continue
        log(f"{', '.join(run.run_id for run in group)}: their checkpoints hold different epochs; they resume "
            "apart, one stack per epoch (their numbers may differ from those of the stack they trained in)")
        for epoch in epochs:  # the diverged members stay with the runs that went furthest
            out.append([run for run in group if (start[run.run_id] == epoch and run.run_id not in dead)
                        or (epoch == epochs[0] and run.run_id in dead)])
    return out


def _resume_writers(unit, saved: dict[str, checkpoint.Saved]) -> None:
    """A resumed run's record starts with the history its checkpoint holds and says where it resumed."""
    for run, writer in zip(unit.runs, unit.writers):
        if run.run_id in saved:
            writer.history.data.update(saved[run.run_id].history)
            writer.record["resumed"] = checkpoint.resumed_record(saved[run.run_id])


def _end_checkpoints(the_plan: Plan, unit, records: list[dict]) -> None:
    """A finished run needs its checkpoint no more (unless --keep-checkpoints);
    a failed or stopped one keeps it, to resume from."""
    if the_plan.options.keep_checkpoints:
        return
    for run, record in zip(unit.runs, records):
        if record.get("complete") and record.get("status") in FINISHED:
            checkpoint.discard(run.run_dir)


def _prepare(the_plan: Plan, unit, callbacks_for, log,
             saved: dict[str, checkpoint.Saved] | None = None) -> list[list[Callback]]:
    """Just before a unit trains: keep a finished run of another config
    (archived, never overwritten) and open each run's writer; returns each
    run's listeners (its writer first)."""
    group: list[PlannedRun] = unit.runs
    for run in group:
        archived = archive_other_config(run.run_dir, config_hash(run.config), run.experiment.early_stop)
        if archived is not None:
            log(f"{run.run_id}: the finished run of another config was kept in {archived}")
    first = group[0]
    kind = get_kind(first.experiment.kind)
    try:
        device = resolve_device(first.config.system.device)
    except BenchError:  # cuda on a Ray cluster's worker, not here: the run's RunStart records where it trained
        device = resolve_device("cpu")
    unit.writers = [RunWriter(run.run_dir, {
        "preset": the_plan.preset.name,
        "experiment": run.experiment.name,
        "experiment_title": run.experiment.title,
        "kind": run.experiment.kind,
        "name": run.name,
        "group": run.group or run.name,
        "swept": run.swept,
        "config": to_dict(run.config),
        "config_hash": config_hash(run.config),
        "seed": run.config.system.seed,
        "data": kind.describe_data(unit.data),
        "environment": environment(device, kind_packages()),
        "executor": unit.executor,
    } | ({"early_stop": run.experiment.early_stop} if run.experiment.early_stop else {})) for run in group]
    _resume_writers(unit, saved or {})
    return [[writer, checkpoint.CheckpointWriter(run.run_dir), *callbacks_for(run)]
            for writer, run in zip(unit.writers, group)]


def _finish_unit(the_plan: Plan, unit, results: list) -> list[dict]:
    """The one place that turns a unit's results into finished run records,
    whatever executor trained it: save each run's artefacts, its final
    metrics, mark it complete (atomically)."""
    kind = get_kind(unit.kind)
    records = []
    for run, writer, result in zip(unit.runs, unit.writers, results):
        record = writer.record
        if result.status == "failed" and record.get("status") != "failed":  # e.g. a result that could not travel
            record.update(status="failed", message=result.message)
        artifacts: list[str] = []
        if result.status != "failed" and writer.write_error is None:
            try:
                artifacts = kind.save_artifacts(result, run.run_dir, record, unit.data)
            except OSError as exc:  # disk full, permissions: the path and the reason, no traceback
                record.update(status="failed", message=f"saving outputs failed: {write_failure(run.run_dir, exc)}")
            except Exception as exc:  # noqa: BLE001 - the run is kept, the failure recorded
                record.update(status="failed", message=f"saving outputs failed: {type(exc).__name__}: {exc}")
        records.append(writer.finish(kind.final_metrics(record["history"]), artifacts))
    _end_checkpoints(the_plan, unit, records)
    return records


def _experiment_outputs(the_plan: Plan, exp: Experiment, kind, records: list[dict], summary: ReplaySummary,
                        log: Callable[[str], None]) -> None:
    out = the_plan.options.runs_dir / the_plan.preset.name / exp.name
    try:
        write_text(out / "summary.md", f"# {exp.title}\n\n{exp.description}\n\n{summary_table(records, kind)}")
        write_json(out / "summary.json", [
            {k: r.get(k) for k in ("name", "status", "message", "swept", "final", "seed")}
            | {"iterations_per_epoch": r.get("history", {}).get("iterations_per_epoch"),
               "wall_time": r.get("history", {}).get("wall_time")}
            for r in records
        ])
    except OSError as exc:  # disk full, permissions: the runs are kept; the path and the reason
        summary.problems.append(f"{exp.name}: summary not written: {write_failure(out, exc)}")
        return
    usable = [r for r in records if r.get("history", {}).get("epoch")]
    ctx = (kind.figure_context or FigureContext)(kind, lambda cfg: the_plan.data_for(cfg, exp.kind))
    written = ["summary.md"]
    for spec in exp.figures:
        figure = kind.figures[spec["kind"]]
        chosen = usable if figure.over_seeds else first_of_each_setting(usable)
        try:
            written += figure.draw(chosen, out, spec, exp.title, ctx) if chosen else []
        except OSError as exc:
            summary.problems.append(f"{exp.name}: figure '{spec['kind']}' not written: {write_failure(out, exc)}")
        except Exception as exc:  # noqa: BLE001 - one broken figure must not lose the others
            summary.problems.append(f"{exp.name}: figure '{spec['kind']}' failed: {type(exc).__name__}: {exc}")
            log(traceback.format_exc(limit=3))
    summary.figures[exp.name] = written
    log(f"{exp.name}: wrote {', '.join(written)} in {out}")
