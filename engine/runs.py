"""The run store: ``<runs>/<preset>/<experiment>/<run>/run.json`` and files.
A finished run that a run of another config replaces is moved, whole, to
``<runs>/<preset>/<experiment>/archive/<run>@<finished_at>/``.

``RunWriter`` is a callback: it collects a run's events and rewrites
``run.json`` atomically after every epoch (status ``running``), then once
more at the end. A run counts as finished only when ``complete`` is true,
which is set after its model and figures are saved, so a replay killed at any
moment redoes exactly the runs that were not finished.
"""

from __future__ import annotations

import datetime as _dt
import json
from pathlib import Path
from typing import Any

from engine.events import Callback, EpochEnd, RunEnd, RunStart
from engine.kit import History
from engine.io import read_json, write_json

FINISHED = ("ok", "diverged", "pruned")  # not redone on resume (a pruned run was judged, not cut short)
ARCHIVE = "archive"  # <experiment>/archive/<run>@<finished_at>: finished runs a later config replaced


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class RunWriter(Callback):
    """Writes ``run.json``; its history is built from the run's events."""

    def __init__(self, run_dir: Path, record: dict[str, Any]):
        self.run_dir = Path(run_dir)
        self.record = dict(record)
        self.record.update(status="running", complete=False, started_at=now())
        self.history = History()
        self.record["history"] = self.history.data

    @property
    def path(self) -> Path:
        return self.run_dir / "run.json"

    def write(self) -> None:
        write_json(self.path, self.record)

    def on_run_start(self, event: RunStart) -> None:
        self.history.on_run_start(event)
        self.record["device"] = event.device
        self.write()

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.history.on_epoch_end(event)
        self.write()

    def on_run_end(self, event: RunEnd) -> None:
        self.history.on_run_end(event)
        self.record.update(status=event.status, message=event.message, finished_at=now())
        self.write()

    def finish(self, final: dict, artifacts: list[str]) -> dict:
        """Mark the run complete with its final metrics and saved files."""
        self.record["final"] = final
        self.record["artifacts"] = artifacts
        self.record["complete"] = True
        self.write()
        return self.record


def same_run(record: dict, config_hash: str, early_stop: dict | None = None) -> bool:
    """Whether a finished record is what this config trains now: the same
    config, and for a run early stopping cut short, the same early stopping
    (a run pruned by other ASHA settings, or none now, is not what is asked)."""
    if record.get("config_hash") != config_hash:
        return False
    return record.get("status") != "pruned" or record.get("early_stop") == early_stop


def load_finished(run_dir: Path, config_hash: str, early_stop: dict | None = None) -> dict | None:
    """The run's record if it finished (ok, diverged or pruned) with this exact
    config and all its files are present; else None (the run is redone)."""
    record = read_json(Path(run_dir) / "run.json")
    if not isinstance(record, dict) or not record.get("complete"):
        return None
    if record.get("status") not in FINISHED or not same_run(record, config_hash, early_stop):
        return None
    if not all((Path(run_dir) / name).is_file() for name in record.get("artifacts", [])):
        return None
    return record


def archive_other_config(run_dir: Path, config_hash: str, early_stop: dict | None = None) -> Path | None:
    """A finished run of another config is never overwritten: move it to
    ``<experiment>/archive/<run>@<finished_at>`` and return where it went."""
    run_dir = Path(run_dir)
    record = read_json(run_dir / "run.json")
    if not isinstance(record, dict) or not record.get("complete") or record.get("status") not in FINISHED:
        return None
    if same_run(record, config_hash, early_stop):
        return None
    stamp = str(record.get("finished_at") or now()).replace(":", "-")
    target = run_dir.parent / ARCHIVE / f"{run_dir.name}@{stamp}"
    n = 1
    while target.exists():  # two archives of one run within a second
        n += 1
        target = run_dir.parent / ARCHIVE / f"{run_dir.name}@{stamp}-{n}"
    target.parent.mkdir(parents=True, exist_ok=True)
    run_dir.rename(target)
    return target


def scan_runs(runs_dir: Path) -> list[dict]:
    """Every run.json under ``runs_dir`` (for the TUI's runs table); runs
    archived by a later run of another config have ``_archived`` true."""
    out = []
    paths = [(p, False) for p in Path(runs_dir).glob("*/*/*/run.json")]
    paths += [(p, True) for p in Path(runs_dir).glob(f"*/*/{ARCHIVE}/*/run.json")]
    for path, archived in sorted(paths):
        record = read_json(path)
        if isinstance(record, dict):
            record["_path"] = str(path.parent)
            record["_archived"] = archived
            out.append(record)
    return out


def dumps_short(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
