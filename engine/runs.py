"""The run store: ``<runs>/<preset>/<experiment>/<run>/run.json`` and files.
A finished run that a run of another config replaces is moved, whole, to
``<runs>/<preset>/<experiment>/archive/<run>@<finished_at>/``.

``RunWriter`` is a callback: it collects a run's events and rewrites
``run.json`` atomically after every epoch (status ``running``), then once
more at the end. A run counts as finished only when ``complete`` is true,
which is set after its model and figures are saved, so a replay killed at any
moment redoes exactly the runs that were not finished.

Writers that share a runs folder (replays, the lab bench) claim each run
before it trains (``run_claim``: an ``fcntl`` lock beside the run's folder,
recording the holder's pid, host and start time) and rebuild summaries and
the report under ``outputs_claim``; see ``engine.study._Claims``.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Any

from engine.events import Callback, EpochEnd, RunEnd, RunStart
from engine.kit import History
from engine.errors import BenchError
from engine.io import read_json, write_json

FINISHED = ("ok", "diverged", "pruned")  # not redone on resume (a pruned run was judged, not cut short)
ARCHIVE = "archive"  # <experiment>/archive/<run>@<finished_at>: finished runs a later config replaced
CLAIM = ".{name}.lock"  # <experiment>/.<run>.lock: who trains the run now (see Claim)


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
        self.write_error: str | None = None  # set by the first write that fails (see write)

    @property
    def path(self) -> Path:
        return self.run_dir / "run.json"

    def write(self) -> None:
        """Rewrite run.json. A write that fails (disk full, permissions) does
        not stop the replay: the run ends ``failed`` with the path and the OS
        reason (``write_error``), and no later write is tried until its end."""
        if self.write_error is None:
            try:
                write_json(self.path, self.record)
            except OSError as exc:
                self.write_error = write_failure(self.path, exc)

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
        if self.write_error is not None:
            self.record.update(status="failed", message=self.write_error)
        self.write()

    def finish(self, final: dict, artifacts: list[str]) -> dict:
        """Mark the run complete with its final metrics and saved files."""
        self.record["final"] = final
        self.record["artifacts"] = artifacts
        self.record["complete"] = True
        if self.write_error is not None:
            self._end_unwritten()
        else:
            self.write()
        return self.record

    def _end_unwritten(self) -> None:
        """A run whose run.json could not be written ends ``failed``: one last
        try to say so on disk; when that fails too, a stale ``running`` record
        is removed (removing needs no space), so no run is left ``running``."""
        self.record.update(status="failed", message=self.write_error)
        try:
            write_json(self.path, self.record)
            return
        except OSError:
            pass
        on_disk = read_json(self.path)
        if isinstance(on_disk, dict) and on_disk.get("status") == "running":
            try:
                self.path.unlink()
            except OSError:
                pass

    def end_unfinished(self, message: str) -> None:
        """The replay ends before this run got its results (stopped, or a
        crash of the driver's own): it ends ``stopped``, never ``running``."""
        if not self.record.get("complete") and self.record.get("status") == "running":
            self.record.update(status="stopped", message=message, finished_at=now())
            self.finish({}, [])


def write_failure(path: Path, exc: OSError) -> str:
    """One line for a write that failed: the path and the OS reason."""
    return f"writing {exc.filename or path} failed: {exc.strerror or exc}"


def check_writable(folder: Path, option: str) -> None:
    """Write, rename and remove a uniquely named temporary file in ``folder``
    (or, where it does not exist yet, make and remove a uniquely named
    folder in its nearest existing parent); a ``BenchError`` (``option``:
    what the user gave) naming the folder and the OS reason when that fails,
    so an unwritable runs folder is found before any data is loaded. Nothing
    is left behind (a replay refused later leaves no folders), and two
    writers checking at once never touch each other's probes."""
    import tempfile

    folder = Path(folder)
    try:
        existing = next(p for p in (folder, *folder.parents) if p.exists())
        if not existing.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(existing))
        if existing == folder:
            fd, probe = tempfile.mkstemp(prefix=".write-check-", dir=folder)
            os.close(fd)
            renamed = Path(probe).replace(Path(probe).with_name(Path(probe).name + ".renamed"))
            renamed.unlink()
        else:
            os.rmdir(tempfile.mkdtemp(prefix=".write-check-", dir=existing))
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename and str(exc.filename) != str(folder) else ""
        raise BenchError(f"{option}: cannot write in {folder} ({exc.strerror or exc}{where})") from None


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


# ------------------------------------------------------------ one writer per run
class Claim:
    """An exclusive claim on one path: ``fcntl.flock`` on a lock file that
    records its holder (pid, host, start time). The kernel drops the lock
    when the holder exits, however it exits, so a killed replay never leaves
    a run claimed. Two claims on one path in one process exclude each other
    too (each opens the file anew)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.fd: int | None = None

    def acquire(self, wait: bool = False, **note: Any) -> bool:
        """Take the claim; with ``wait`` False, False at once when another
        holds it. ``note`` is recorded with the holder (e.g. the config hash)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            return False
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        holder = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "started_at": now(), **note})
        try:  # who holds it, for the others' messages (a lock file, not data: written in place)
            os.ftruncate(fd, 0)
            os.pwrite(fd, holder.encode(), 0)
        except OSError:
            pass
        return True

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.ftruncate(self.fd, 0)
        except OSError:
            pass
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None

    def holder_info(self) -> dict:
        """What the holder recorded (pid, host, started_at and its note); {} when unknown."""
        info = read_json(self.path)
        return info if isinstance(info, dict) else {}

    def holder(self) -> str:
        """Who holds the claim, in words (``pid N on HOST since TIME``)."""
        info = self.holder_info()
        if not info:
            return "another writer"
        return f"pid {info.get('pid')} on {info.get('host')} since {info.get('started_at')}"

    def __enter__(self) -> "Claim":
        self.acquire(wait=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def run_claim(run_dir: Path) -> Claim:
    """The claim a writer takes on a run before it trains it:
    ``<experiment>/.<run>.lock``, a hidden file beside the run's folder (not
    in it, so archiving the folder does not move the lock; not a folder, so
    the experiment's folders are still its runs)."""
    run_dir = Path(run_dir)
    return Claim(run_dir.parent / CLAIM.format(name=run_dir.name))


def outputs_claim(preset_dir: Path) -> Claim:
    """Held while a writer rebuilds summaries, figures and the report from
    the run folders (``<runs>/<preset>/.outputs.lock``)."""
    return Claim(Path(preset_dir) / ".outputs.lock")


def dumps_short(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
