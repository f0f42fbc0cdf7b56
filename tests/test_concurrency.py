"""One writer per run: replays (and the lab bench) that share a runs folder
claim each run before it trains, split the runs, never train one twice and
never lose a finished run; the outputs are rebuilt from the run folders."""

from __future__ import annotations

import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from engine.events import Callback, EpochEnd, RunStart
from engine.kinds import unregister
from engine.preset import load_preset
from engine.runs import Claim, run_claim
from engine.study import ReplayOptions, plan, replay

PRESET = """
name = "lines"
[[experiment]]
name = "fit"
kind = "line"
set = {{ "optim.epochs" = {epochs} }}
grid = {{ "optim.lr" = [0.3, 0.2, 0.1, 0.05] }}
figures = [{{ kind = "curves", metrics = ["val_error"] }}]
"""
RUNS = ["lr=0.3", "lr=0.2", "lr=0.1", "lr=0.05"]


@pytest.fixture
def line_kind():
    import tests.kind_line as module

    importlib.reload(module)  # registers it (again, after an earlier test unregistered it)
    yield module.KIND
    unregister("line")


class Slow(Callback):
    """Makes a run take a while (so that two replays overlap) and notes which runs started."""

    def __init__(self, started: list[str]):
        self.started = started

    def on_run_start(self, event: RunStart) -> None:
        self.started.append(event.run_id.split("/")[-1])

    def on_epoch_end(self, event: EpochEnd) -> None:
        time.sleep(0.01)


def write_preset(tmp_path: Path, epochs: int, name: str = "lines.toml") -> Path:
    path = tmp_path / name
    path.write_text(PRESET.format(epochs=epochs))
    return path


def replay_in_thread(preset: Path, runs: Path, started: list[str], out: dict, key: str,
                     gate: threading.Barrier) -> threading.Thread:
    def work():
        the_plan = plan(load_preset(preset), ReplayOptions(runs_dir=runs, data_root=runs.parent / "data"))
        gate.wait()
        out[key] = replay(the_plan, callbacks_for=lambda run: [Slow(started)])

    thread = threading.Thread(target=work)
    thread.start()
    return thread


def test_a_claim_excludes_others_names_its_holder_and_is_freed_when_its_holder_dies(tmp_path: Path):
    first, second = Claim(tmp_path / "a.lock"), Claim(tmp_path / "a.lock")
    assert first.acquire(config_hash="abc")
    assert not second.acquire()  # even within one process
    assert second.holder().startswith(f"pid {os.getpid()} on {socket.gethostname()} since 20")
    assert second.holder_info()["config_hash"] == "abc"
    first.release()
    assert second.acquire()
    second.release()
    # a holder killed with SIGKILL leaves nothing claimed
    code = ("import sys, time; from engine.runs import Claim; c = Claim(sys.argv[1]); "
            "assert c.acquire(); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "b.lock")], stdout=subprocess.PIPE,
                              text=True, env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    try:
        assert holder.stdout.readline().strip() == "held"
        other = Claim(tmp_path / "b.lock")
        assert not other.acquire() and other.holder().startswith(f"pid {holder.pid} ")
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    assert other.acquire()
    other.release()


def test_two_replays_of_one_preset_split_the_runs_and_train_none_twice(line_kind, tmp_path: Path):
    preset, runs = write_preset(tmp_path, 40), tmp_path / "runs"
    started_a: list[str] = []
    started_b: list[str] = []
    out: dict = {}
    gate = threading.Barrier(2)
    threads = [replay_in_thread(preset, runs, started_a, out, "a", gate),
               replay_in_thread(preset, runs, started_b, out, "b", gate)]
    for thread in threads:
        thread.join(timeout=120)
    assert not set(started_a) & set(started_b), (started_a, started_b)  # no run trained twice
    assert sorted(started_a + started_b) == sorted(RUNS)
    assert started_a and started_b  # the runs were shared out, not all taken by one
    assert out["a"].ok and out["b"].ok
    # whichever finished last rebuilt the summary from the folders: every run, all ok
    summary = json.loads((runs / "lines/fit/summary.json").read_text())
    assert [r["name"] for r in summary] == RUNS and {r["status"] for r in summary} == {"ok"}
    assert not (runs / "lines/fit/archive").exists()


def test_two_replays_of_different_configs_both_keep_their_finished_runs(line_kind, tmp_path: Path):
    runs = tmp_path / "runs"
    fast, slow = write_preset(tmp_path, 30, "a.toml"), write_preset(tmp_path, 45, "b.toml")
    started_a: list[str] = []
    started_b: list[str] = []
    out: dict = {}
    gate = threading.Barrier(2)
    threads = [replay_in_thread(fast, runs, started_a, out, "a", gate),
               replay_in_thread(slow, runs, started_b, out, "b", gate)]
    for thread in threads:
        thread.join(timeout=120)
    assert sorted(started_a) == sorted(RUNS) and sorted(started_b) == sorted(RUNS)  # each trains its own
    archived = sorted(p.name.split("@")[0] for p in (runs / "lines/fit/archive").iterdir())
    assert archived == sorted(RUNS)  # the one that finished later archived the other's
    epochs = set()
    for name in RUNS:
        kept = json.loads(next((runs / "lines/fit/archive").glob(f"{name}@*/run.json")).read_text())
        current = json.loads((runs / "lines/fit" / name / "run.json").read_text())
        assert kept["status"] == current["status"] == "ok"
        pair = {len(kept["history"]["epoch"]), len(current["history"]["epoch"])}
        assert pair == {30, 45}
        epochs.add(len(current["history"]["epoch"]))
    # the summary describes the runs that are in their folders now
    summary = {r["name"]: r for r in json.loads((runs / "lines/fit/summary.json").read_text())}
    for name in RUNS:
        current = json.loads((runs / "lines/fit" / name / "run.json").read_text())
        assert summary[name]["final"] == current["final"]


def test_a_run_another_writer_holds_is_left_to_it(line_kind, tmp_path: Path):
    preset, runs = write_preset(tmp_path, 5), tmp_path / "runs"
    the_plan = plan(load_preset(preset), ReplayOptions(runs_dir=runs, data_root=tmp_path / "data"))
    held = next(run for run in the_plan.runs if run.name == "lr=0.1")
    from engine.config import config_hash

    bench = run_claim(held.run_dir)  # e.g. the lab bench training this run with the same config
    assert bench.acquire(config_hash=config_hash(held.config))
    lines: list[str] = []
    started: list[str] = []
    try:
        summary = replay(the_plan, callbacks_for=lambda run: [Slow(started)], log=lines.append)
    finally:
        bench.release()
    assert sorted(started) == sorted(set(RUNS) - {"lr=0.1"})
    assert any(f"fit/lr=0.1: being trained by another writer (pid {os.getpid()} on " in line for line in lines)
    assert [r["name"] for r in summary.records["fit"]] == ["lr=0.3", "lr=0.2", "lr=0.05"]
    assert summary.ok and not (held.run_dir / "run.json").exists()
    # no claim is left held once the replay is over
    for name in RUNS:
        claim = run_claim(runs / "lines/fit" / name)
        assert claim.acquire()
        claim.release()


def test_a_stack_trains_the_members_it_could_claim(tmp_path: Path):
    """A stacked unit whose member another writer holds trains the others, stacked, with their own numbers."""
    from click.testing import CliRunner

    from benchtui.cli import cli
    from tests.test_cli import write_cities

    data = write_cities(tmp_path / "cities")
    preset = tmp_path / "tiny.toml"
    preset.write_text('name = "tiny"\n[defaults]\n"optim.epochs" = 2\n"model.depth" = 2\n"model.width" = 8\n'
                      '"system.device" = "cpu"\n[[experiment]]\nname = "lr"\n'
                      'grid = { "optim.lr" = [0.01, 0.001], "system.seed" = [1, 2] }\n')
    args = ["replay", str(preset), "--no-ui", "--data", f"cities={data}", "--executor", "local"]
    held = run_claim(tmp_path / "runs/tiny/lr/lr=0.001,seed=1")
    assert held.acquire()  # no config recorded: whatever it trains, it is left to it
    try:
        result = CliRunner().invoke(cli, [*args, "--runs-dir", str(tmp_path / "runs")])
    finally:
        held.release()
    assert result.exit_code == 0, result.output
    assert "trained stacked with 3 runs" in result.output and "lr/lr=0.001,seed=1: being trained by" in result.output
    trained = sorted(p.parent.name for p in (tmp_path / "runs/tiny/lr").glob("*/run.json"))
    assert trained == ["lr=0.001,seed=2", "lr=0.01,seed=1", "lr=0.01,seed=2"]
    alone = CliRunner().invoke(cli, [*args, "--runs-dir", str(tmp_path / "alone"), "--no-stack"])
    assert alone.exit_code == 0
    for name in trained:
        mine = json.loads((tmp_path / f"runs/tiny/lr/{name}/run.json").read_text())
        other = json.loads((tmp_path / f"alone/tiny/lr/{name}/run.json").read_text())
        assert mine["final"]["val_accuracy"] == other["final"]["val_accuracy"], name
