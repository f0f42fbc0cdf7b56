"""Faults of the disk: an unwritable runs folder is refused before any data
loads; a write that fails later (disk full, permissions) ends the affected
runs ``failed`` with the path and the OS reason, without a traceback, without
blaming a worker, and leaves no run ``running``. CI runs as root, so the
failures are injected at the writer; one test uses a real unwritable path."""

from __future__ import annotations

import errno
import importlib
import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

import engine.runs
import engine.study
from benchtui.cli import cli
from engine.kinds import unregister

PRESET = """
name = "lines"
[[experiment]]
name = "fit"
kind = "line"
set = { "optim.epochs" = 6 }
grid = { "optim.lr" = [0.3, 0.1] }
figures = [{ kind = "curves", metrics = ["val_error"] }]
"""


@pytest.fixture
def line_kind():
    import tests.kind_line as module

    importlib.reload(module)
    yield module.KIND
    unregister("line")


@pytest.fixture
def preset(tmp_path: Path) -> Path:
    path = tmp_path / "lines.toml"
    path.write_text(PRESET)
    return path


def disk_full(path) -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))


def invoke(*args: str):
    return CliRunner().invoke(cli, ["replay", *args, "--no-ui"])


@pytest.mark.parametrize("runs_dir", ["/proc/benchtui-runs", "/dev/null/runs"])
def test_an_unwritable_runs_folder_is_one_line_before_any_data_loads(line_kind, preset, tmp_path, runs_dir):
    (tmp_path / "empty").mkdir()  # no points.csv: loading the data would fail with another message
    result = invoke(str(preset), "--runs-dir", runs_dir, "--data", f"line={tmp_path / 'empty'}")
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: --runs-dir {runs_dir}: cannot write in {runs_dir}/lines (")
    assert result.output.strip().count("\n") == 0 and "points.csv" not in result.output


@pytest.mark.parametrize("executor", ["local", "processes"])
def test_a_full_disk_while_writing_run_json_fails_that_run_with_the_path(line_kind, preset, tmp_path, monkeypatch,
                                                                         executor):
    runs = tmp_path / "runs"
    victim = runs / "lines/fit/lr=0.1/run.json"
    writes = {"n": 0}
    real = engine.runs.write_json

    def write_json(path, data):
        if Path(path) == victim:
            writes["n"] += 1
            if writes["n"] > 3:  # run.json exists on disk (status running) when the disk fills up
                raise disk_full(Path(path).parent / ".run.json.tmp")
        real(path, data)

    monkeypatch.setattr(engine.runs, "write_json", write_json)
    result = invoke(str(preset), "--runs-dir", str(runs), "--executor", executor)
    assert result.exit_code == 1, result.output
    assert (f"error: fit/lr=0.1: failed: writing {victim.parent / '.run.json.tmp'} failed: No space left on device"
            in result.output)
    assert "Traceback" not in result.output and "process died" not in result.output
    assert "1 failed, 1 ok" in result.output
    assert json.loads((runs / "lines/fit/lr=0.3/run.json").read_text())["status"] == "ok"
    # no run is left `running`: the stale record could not be rewritten, so it is gone (redone next time)
    assert not victim.exists()
    monkeypatch.setattr(engine.runs, "write_json", real)
    again = invoke(str(preset), "--runs-dir", str(runs), "--executor", executor)
    assert again.exit_code == 0 and "fit/lr=0.3: already finished" in again.output
    assert json.loads(victim.read_text())["status"] == "ok"


def test_a_run_json_that_fails_once_is_rewritten_failed(line_kind, preset, tmp_path, monkeypatch):
    """Permissions lost for one write: the run ends failed on disk, never running."""
    runs = tmp_path / "runs"
    victim = runs / "lines/fit/lr=0.3/run.json"
    writes = {"n": 0}
    real = engine.runs.write_json

    def write_json(path, data):
        if Path(path) == victim:
            writes["n"] += 1
            if writes["n"] == 3:
                raise OSError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        real(path, data)

    monkeypatch.setattr(engine.runs, "write_json", write_json)
    result = invoke(str(preset), "--runs-dir", str(runs), "--executor", "local")
    assert result.exit_code == 1 and "Traceback" not in result.output
    record = json.loads(victim.read_text())
    assert record["status"] == "failed" and record["complete"]
    assert record["message"] == f"writing {victim} failed: Permission denied"


def test_a_full_disk_while_writing_the_summary_is_one_line(line_kind, preset, tmp_path, monkeypatch):
    runs = tmp_path / "runs"
    real = engine.study.write_text

    def write_text(path, text):
        if Path(path).name == "summary.md":
            raise disk_full(path)
        real(path, text)

    monkeypatch.setattr(engine.study, "write_text", write_text)
    result = invoke(str(preset), "--runs-dir", str(runs))
    assert result.exit_code == 1
    summary = runs / "lines/fit/summary.md"
    assert f"error: fit: summary not written: writing {summary} failed: No space left on device" in result.output
    assert "Traceback" not in result.output
    assert json.loads((runs / "lines/fit/lr=0.3/run.json").read_text())["status"] == "ok"  # the runs are kept


def test_no_run_is_left_running_when_the_executor_breaks_down(line_kind, preset, tmp_path, monkeypatch):
    from engine.executors.local import LocalExecutor

    real = LocalExecutor.run

    def broken(self, units, stop, finish, log):
        units[0].begin()
        units[0].writers[0].write()  # the run's folder says running ...
        raise RuntimeError("executor broke down")  # ... when the driver's own code fails

    monkeypatch.setattr(LocalExecutor, "run", broken)
    runs = tmp_path / "runs"
    result = invoke(str(preset), "--runs-dir", str(runs), "--executor", "local")
    assert result.exit_code == 1 and isinstance(result.exception, RuntimeError)
    record = json.loads((runs / "lines/fit/lr=0.3/run.json").read_text())
    assert record["status"] == "stopped" and record["message"] == "the replay ended before this run finished"
    monkeypatch.setattr(LocalExecutor, "run", real)
    claim = engine.runs.run_claim(runs / "lines/fit/lr=0.3")
    assert claim.acquire()  # its claim was released
    claim.release()
