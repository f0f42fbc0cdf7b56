"""The run store: ``<runs>/<preset>/<experiment>/<run>/run.json`` and files.

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

FINISHED = ("ok", "diverged")


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


def load_finished(run_dir: Path, config_hash: str) -> dict | None:
    """The run's record if it finished (ok or diverged) with this exact
    config and all its files are present; else None (the run is redone)."""
    record = read_json(Path(run_dir) / "run.json")
    if not isinstance(record, dict) or not record.get("complete"):
        return None
    if record.get("config_hash") != config_hash or record.get("status") not in FINISHED:
        return None
    if not all((Path(run_dir) / name).is_file() for name in record.get("artifacts", [])):
        return None
    return record


def scan_runs(runs_dir: Path) -> list[dict]:
    """Every run.json under ``runs_dir`` (for the TUI's runs table)."""
    out = []
    for path in sorted(Path(runs_dir).glob("*/*/*/run.json")):
        record = read_json(path)
        if isinstance(record, dict):
            record["_path"] = str(path.parent)
            out.append(record)
    return out


def dumps_short(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
