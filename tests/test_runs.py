"""Atomic writes and the resume rules of the run store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from engine.io import read_json, write_json
from engine.runs import load_finished


def test_failed_write_keeps_the_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch):
    target = tmp_path / "run.json"
    write_json(target, {"status": "ok"})

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        write_json(target, {"status": "half"})
    assert json.loads(target.read_text()) == {"status": "ok"}
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]


def test_written_files_have_normal_permissions(tmp_path: Path):
    write_json(tmp_path / "a.json", {})
    assert (tmp_path / "a.json").stat().st_mode & 0o044 == 0o044  # group/other can read


def test_read_json_of_garbage_is_none(tmp_path: Path):
    (tmp_path / "bad.json").write_text('{"status": "ok"')
    assert read_json(tmp_path / "bad.json") is None
    assert read_json(tmp_path / "missing.json") is None


def finished_run(folder: Path, **changes) -> Path:
    record = {"status": "ok", "complete": True, "config_hash": "abc", "artifacts": ["model.pt"]}
    record.update(changes)
    write_json(folder / "run.json", record)
    (folder / "model.pt").write_bytes(b"weights")
    return folder


@pytest.mark.parametrize(
    "changes, reused",
    [
        ({}, True),
        ({"status": "diverged"}, True),
        ({"status": "stopped"}, False),
        ({"status": "failed"}, False),
        ({"complete": False}, False),
        ({"config_hash": "other"}, False),
        ({"artifacts": ["model.pt", "curves.png"]}, False),  # a file is missing
    ],
)
def test_resume_reuses_only_complete_runs_of_the_same_config(tmp_path: Path, changes, reused):
    folder = finished_run(tmp_path, **changes)
    assert (load_finished(folder, "abc") is not None) is reused
