"""The replay command end to end on a tiny preset."""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchtui.cli import cli

TINY = """
name = "tiny"
[defaults]
"optim.epochs" = 3
"model.depth" = 2
"model.width" = 8
[[experiment]]
name = "lr"
title = "Learning rate"
grid = { "optim.lr" = [0.01, 0.001] }
figures = [{ kind = "curves", metrics = ["val_loss"] }]
[[experiment]]
name = "shape"
zip = { "model.depth" = [1, 2], "model.width" = [4, 8] }
figures = [
  { kind = "best_worst" },
  { kind = "accuracy_vs", x = "model.depth" },
]
"""


def write_cities(folder: Path, n: int = 90) -> Path:
    """Three clusters of points, one per label 0, 1, 2."""
    import numpy as np

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in (("train", n), ("validation", n // 3), ("test", n // 3)):
        labels = np.arange(rows) % 3
        coords = np.stack([labels * 10.0, labels * 5.0], 1) + rng.normal(0, 1, (rows, 2))
        lines = ["long,lat,country"] + [f"{x:.4f},{y:.4f},{c}" for (x, y), c in zip(coords, labels)]
        (folder / f"{split}.csv").write_text("\n".join(lines) + "\n")
    return folder


@pytest.fixture
def setup(tmp_path: Path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY)
    data = write_cities(tmp_path / "cities")
    return preset, data, tmp_path / "runs"


def invoke(*args: str):
    return CliRunner().invoke(cli, ["replay", *args], catch_exceptions=False)


def test_replay_writes_runs_and_figures_then_skips(setup):
    preset, data, runs = setup
    result = invoke(str(preset), "--no-ui", "--runs-dir", str(runs), "--data", f"cities={data}")
    assert result.exit_code == 0, result.output
    record = json.loads((runs / "tiny/lr/lr=0.01/run.json").read_text())
    assert record["status"] == "ok" and record["complete"] is True
    assert record["seed"] == 42
    assert record["config"]["optim"]["lr"] == 0.01
    assert record["config"]["data"]["path"] == str(data.resolve())
    assert set(record["environment"]) >= {"python", "packages", "device", "git_commit"}
    assert len(record["history"]["val_loss"]) == 4  # epoch 0 + 3 epochs
    assert record["history"]["iterations_per_epoch"] == 1
    assert record["final"]["val_accuracy"] == record["history"]["val_accuracy"][-1]
    for name in ("lr/val_loss.png", "lr/lr=0.01/curves.png", "shape/best.png", "shape/worst.png",
                 "shape/accuracy_vs_depth.png"):
        assert (runs / "tiny" / name).stat().st_size > 1000, name
    summary = (runs / "tiny/shape/summary.md").read_text()
    assert "| depth=1,width=4 | ok | 1 | 3 |" in summary

    again = invoke(str(preset), "--no-ui", "--runs-dir", str(runs), "--data", f"cities={data}")
    assert again.exit_code == 0
    assert again.output.count("skipped") == 4
    forced = invoke(str(preset), "--no-ui", "--runs-dir", str(runs), "--data", f"cities={data}", "--force",
                    "--only", "lr")
    assert forced.exit_code == 0 and "skipped" not in forced.output
    assert "2 ok" in forced.output


def test_set_overrides_every_run_and_changes_the_run(setup):
    preset, data, runs = setup
    result = invoke(str(preset), "--no-ui", "--runs-dir", str(runs), "--data", f"cities={data}",
                    "--only", "lr", "--set", "epochs=1", "--set", "system.seed=7")
    assert result.exit_code == 0, result.output
    record = json.loads((runs / "tiny/lr/lr=0.001/run.json").read_text())
    assert record["config"]["optim"]["epochs"] == 1 and record["seed"] == 7
    assert not (runs / "tiny/shape").exists()


def test_replay_after_editing_the_preset_archives_the_finished_runs(setup):
    """A finished run is never overwritten by a run of another config: it moves
    to <experiment>/archive/<run>@<finished_at>, the Runs screen still lists it,
    and the experiment's summary shows only the current runs."""
    from engine.runs import scan_runs

    preset, data, runs = setup
    args = ("--no-ui", "--runs-dir", str(runs), "--data", f"cities={data}", "--only", "lr")
    assert invoke(str(preset), *args).exit_code == 0
    first = json.loads((runs / "tiny/lr/lr=0.01/run.json").read_text())
    preset.write_text(TINY.replace('"optim.epochs" = 3', '"optim.epochs" = 2'))
    edited = invoke(str(preset), *args)
    assert edited.exit_code == 0, edited.output
    assert "skipped" not in edited.output
    now = json.loads((runs / "tiny/lr/lr=0.01/run.json").read_text())
    assert now["config"]["optim"]["epochs"] == 2
    archived = sorted((runs / "tiny/lr/archive").iterdir())
    assert [p.name for p in archived] == sorted(f"{name}@{first['finished_at'].replace(':', '-')}"
                                                for name in ("lr=0.001", "lr=0.01"))
    kept = json.loads((runs / "tiny/lr/archive" / f"lr=0.01@{first['finished_at'].replace(':', '-')}"
                       / "run.json").read_text())
    assert kept == first  # whole, untouched
    summary = json.loads((runs / "tiny/lr/summary.json").read_text())
    assert len(summary) == 2 and all(r["status"] == "ok" for r in summary)
    listed = [(Path(r["_path"]).parent.name, r["_archived"]) for r in scan_runs(runs)]
    assert listed.count(("archive", True)) == 2 and listed.count(("lr", False)) == 2
    # --force redoes runs of the same config in place, archiving nothing more
    forced = invoke(str(preset), *args, "--force")
    assert forced.exit_code == 0 and len(list((runs / "tiny/lr/archive").iterdir())) == 2


@pytest.mark.parametrize(
    "args, message",
    [
        (["--set", "optim.lrr=0.1"], "unknown key 'optim.lrr' (did you mean optim.lr?)"),
        (["--set", "epochs=ten"], "bad value for 'optim.epochs': 'ten' is not an int"),
        (["--set", "lr"], "--set 'lr': expected KEY=VALUE"),
        (["--only", "nope"], "--only: no experiment 'nope'"),
        (["--data", "mnist=/nowhere"], "--data mnist=/nowhere: unknown dataset 'mnist'"),
        (["--data", "faces=/nowhere"], "--data faces=/nowhere: no experiment of"),
        (["--data", "cities=/nowhere"], "--data cities=/nowhere: not a folder"),
    ],
)
def test_bad_options_fail_with_one_line(setup, args, message):
    preset, data, runs = setup
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(runs), *args])
    assert result.exit_code == 2
    assert message in result.output
    assert result.output.strip().count("\n") == 0  # one line, no traceback
    assert not runs.exists()


def test_bad_data_fails_before_training(setup):
    preset, data, runs = setup
    (data / "test.csv").write_text("long,lat,country\n1.0,2.0,1\n3.0,north,2\n")
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(runs),
                                      "--data", f"cities={data}"])
    assert result.exit_code == 2
    assert "test.csv: line 3, column 'lat': 'north' is not a number" in result.output
    assert not runs.exists()


def test_a_config_that_cannot_train_is_refused_before_any_training(setup):
    preset, data, runs = setup
    # a finished replay first: a refused replay must not touch its records
    assert invoke(str(preset), "--no-ui", "--runs-dir", str(runs), "--data", f"cities={data}",
                  "--only", "lr").exit_code == 0
    before = (runs / "tiny/lr/lr=0.01/run.json").read_text()
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(runs),
                                      "--data", f"cities={data}", "--only", "lr",
                                      "--set", "batchnorm=true", "--set", "batch_size=1"])
    assert result.exit_code == 2
    assert "error: lr/lr=0.01: BatchNorm cannot train with batch_size 1" in result.output
    assert (runs / "tiny/lr/lr=0.01/run.json").read_text() == before


def test_a_run_that_crashes_is_failed_and_the_replay_goes_on(setup, monkeypatch):
    preset, data, runs = setup
    from engine.trainers import mlp_stacked

    real_fit = mlp_stacked.fit

    def flaky_fit(cfg, data, session):
        if cfg.optim.lr == 0.01:
            raise RuntimeError("CUDA out of memory (simulated)")
        return real_fit(cfg, data, session)

    from engine import kinds
    monkeypatch.setitem(kinds.KINDS, "mlp", dataclasses.replace(kinds.KINDS["mlp"], fit=flaky_fit, fit_stack=None))
    # local: the patched kind exists in this process only (a worker process imports the real one)
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(runs),
                                      "--data", f"cities={data}", "--only", "lr", "--executor", "local"])
    assert result.exit_code == 1
    assert "lr/lr=0.01: failed: RuntimeError: CUDA out of memory (simulated)" in result.output
    assert json.loads((runs / "tiny/lr/lr=0.01/run.json").read_text())["status"] == "failed"
    assert json.loads((runs / "tiny/lr/lr=0.001/run.json").read_text())["status"] == "ok"


def test_data_for_a_dataset_the_preset_does_not_use_names_the_ones_it_does(setup):
    preset, data, runs = setup
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(runs),
                                      "--data", f"faces={data}"])
    assert result.exit_code == 2
    assert "uses 'faces' (it uses: cities)" in result.output
    assert result.output.count("\n") == 1


def test_help_lists_the_config_keys():
    result = CliRunner().invoke(cli, ["replay", "--help"])
    assert result.exit_code == 0
    for key in ("optim.lr", "model.batchnorm", "model.sine_features", "system.seed", "--only", "--force"):
        assert key in result.output


def test_sigkill_mid_replay_resumes_without_redoing_finished_runs(setup):
    preset, data, runs = setup
    preset.write_text(TINY.replace('"optim.epochs" = 3', '"optim.epochs" = 40').replace(
        "[0.01, 0.001]", "[0.01, 0.003, 0.001, 0.0003, 0.0001, 0.00003]"))
    cmd = [sys.executable, "-m", "benchtui", "replay", str(preset), "--no-ui", "--runs-dir", str(runs),
           "--data", f"cities={data}", "--only", "lr"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished: list[Path] = []
    deadline = time.time() + 60
    while time.time() < deadline and not finished:
        finished = [p for p in runs.glob("tiny/lr/*/run.json") if json.loads(p.read_text()).get("complete")]
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert finished, "no run finished before the deadline"
    done = {p: p.stat().st_mtime_ns for p in runs.glob("tiny/lr/*/run.json")
            if json.loads(p.read_text()).get("complete")}
    assert len(done) < 6, "the replay finished before it was killed; the test proves nothing"
    leftovers = [p for p in runs.rglob("*.tmp*")]
    for p in leftovers:  # a temp file may survive SIGKILL, but never under the final name
        assert p.name.startswith(".")

    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("skipped") == len(done)
    for path, mtime in done.items():
        assert path.stat().st_mtime_ns == mtime  # finished runs were not redone
    statuses = [json.loads(p.read_text())["status"] for p in runs.glob("tiny/lr/*/run.json")]
    assert statuses == ["ok"] * 6


def test_a_stopped_replay_exits_1_as_documented(setup, monkeypatch):
    """README: 1 when a run failed or was stopped. The stop is requested
    before the first step (what a Ctrl-C does, without a signal)."""
    import benchtui.cli

    preset, data, runs = setup
    real_run_console = benchtui.cli._run_console

    def stopped_at_once(the_plan, stop):
        stop.set()
        return real_run_console(the_plan, stop)

    monkeypatch.setattr(benchtui.cli, "_run_console", stopped_at_once)
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(runs),
                                      "--data", f"cities={data}", "--only", "lr"])
    assert result.exit_code == 1, result.output
    assert "stopped by request" in result.output
    statuses = {json.loads(p.read_text())["status"] for p in (runs / "tiny/lr").glob("*/run.json")}
    assert statuses <= {"stopped"}
