"""Executors: ``local``, ``processes`` and ``ray`` give the same run records
(same seeds and threads: identical final metrics), stream every event to
the driver's callbacks, stop cleanly, survive a worker that dies, resume
without redoing finished runs; ASHA prunes on ``ray`` only, and a pruned
run is never best or worst. The kinds are the test kinds of tests/ (a line
fit in numpy): each run takes milliseconds, the cost is the workers'
start. Ray runs on a local instance of 2 CPUs, started once for the module."""

from __future__ import annotations

import importlib
import json
import os
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchtui.cli import cli
from engine.errors import BenchError
from engine.events import EpochEnd, Recorder, RunEnd, RunStart
from engine.kinds import unregister
from engine.preset import load_preset
from engine.study import ReplayOptions, plan, replay

PRESET = """
name = "lines"
[[experiment]]
name = "fit"
kind = "faulty_line"
grid = { "optim.lr" = [0.3, 0.05, 0.1, 0.2] }
figures = [{ kind = "curves", metrics = ["val_error"] }]
"""
ASHA = """
[[experiment]]
name = "asha"
kind = "faulty_line"
set = { "optim.epochs" = 12 }
grid = { "optim.lr" = [0.3, 0.01, 0.003, 0.001] }
early_stop = { kind = "asha", metric = "val_error", grace_epochs = 2, reduction_factor = 2 }
figures = [{ kind = "curves", metrics = ["val_error"] }]
"""


@pytest.fixture
def kinds():
    import tests.kind_faulty as faulty
    import tests.kind_line as line

    importlib.reload(line)
    importlib.reload(faulty)
    yield
    unregister("faulty_line")
    unregister("line")


@pytest.fixture(scope="module")
def ray_instance():
    from engine.executors.ray import ray_modules

    ray, _ = ray_modules()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in __import__("sys").path if p)}})
    yield ray
    ray.shutdown()


def run(tmp_path: Path, text: str, executor: str, folder: str, stop=None, **options):
    path = tmp_path / "lines.toml"
    path.write_text(text)
    recorder = Recorder()
    lines: list[str] = []
    the_plan = plan(load_preset(path), ReplayOptions(runs_dir=tmp_path / folder, data_root=tmp_path / "data",
                                                    executor=executor, **options))
    summary = replay(the_plan, callbacks_for=lambda r: [recorder], stop=stop, log=lines.append)
    return summary, recorder, lines


def finals(summary, experiment: str = "fit") -> dict:
    return {r["name"]: {k: v for k, v in r["final"].items() if k != "wall_time"} for r in summary.records[experiment]}


def trace(recorder: Recorder) -> list:
    """What the callbacks saw, per run, in order (step events depend on timing: left out)."""
    out: dict[str, list] = {}
    for e in recorder.events:
        if isinstance(e, (RunStart, EpochEnd, RunEnd)):
            out.setdefault(e.run_id, []).append((type(e).__name__, getattr(e, "epoch", None), getattr(e, "status", None)))
    return sorted(out.items())


def test_processes_match_local_stream_events_and_survive_a_dead_worker_then_resume(kinds, tmp_path, monkeypatch):
    local, local_events, _ = run(tmp_path, PRESET, "local", "local")
    assert local.counts == {"ok": 4}
    # the run lr=0.05 kills its worker process after its first epoch; the other three finish
    monkeypatch.setenv("BENCHTUI_TEST_FAULT", "die:fit/lr=0.05")
    summary, events, lines = run(tmp_path, PRESET, "processes", "proc", workers=2)
    assert summary.counts == {"ok": 3, "failed": 1}, summary.problems
    dead = json.loads((tmp_path / "proc/lines/fit/lr=0.05/run.json").read_text())
    assert dead["status"] == "failed" and "worker process died" in dead["message"] and dead["complete"]
    assert dead["history"]["epoch"] == [1]  # the epoch it sent before it died
    assert dead["message"].endswith("after epoch 1") and dead["history"]["wall_time"] > 0  # the time it ran, not 0.0
    same = {k: v for k, v in finals(local).items() if k != "lr=0.05"}
    assert {k: v for k, v in finals(summary).items() if k != "lr=0.05"} == same  # identical numbers
    assert [t for t in trace(events) if t[0] != "fit/lr=0.05"] == [t for t in trace(local_events)
                                                                   if t[0] != "fit/lr=0.05"]
    assert any("executor: processes, 2 workers" in line for line in lines)
    # resume: the three finished runs are kept as they are, the failed one is trained again
    kept = {n: (tmp_path / f"proc/lines/fit/{n}/run.json").read_text() for n in ("lr=0.3", "lr=0.1", "lr=0.2")}
    monkeypatch.delenv("BENCHTUI_TEST_FAULT")
    again, _, lines = run(tmp_path, PRESET, "processes", "proc")
    assert again.counts == {"ok": 4}
    assert sum("already finished" in line for line in lines) == 3
    assert all((tmp_path / f"proc/lines/fit/{n}/run.json").read_text() == text for n, text in kept.items())
    assert finals(again) == finals(local)


def test_stop_ends_running_runs_stopped_in_workers(kinds, tmp_path, monkeypatch):
    monkeypatch.setenv("BENCHTUI_TEST_FAULT", "slow")  # 50 ms an epoch
    stop = threading.Event()

    class StopAtEpoch3(Recorder):
        def on_epoch_end(self, event):
            if event.epoch >= 3:
                stop.set()

    path = tmp_path / "lines.toml"
    path.write_text(PRESET.replace('grid = { "optim.lr" = [0.3, 0.05, 0.1, 0.2] }',
                                   'set = { "optim.epochs" = 400 }\ngrid = { "optim.lr" = [0.3, 0.05, 0.1] }'))
    the_plan = plan(load_preset(path), ReplayOptions(runs_dir=tmp_path / "runs", data_root=tmp_path / "data",
                                                    executor="processes", workers=2))
    summary = replay(the_plan, callbacks_for=lambda r: [StopAtEpoch3()], stop=stop)
    # the two running runs end stopped (their history kept); the third never started
    assert summary.counts == {"stopped": 2}, summary.problems
    lengths = [len(record["history"].get("epoch", [])) for record in summary.records["fit"]]
    assert all(record["complete"] for record in summary.records["fit"])
    assert max(lengths) >= 3 and all(n < 400 for n in lengths), lengths


def test_ray_matches_local_and_asha_prunes(kinds, tmp_path, ray_instance):
    local, local_events, _ = run(tmp_path, PRESET, "local", "local")
    summary, events, lines = run(tmp_path, PRESET + ASHA, "ray", "ray")
    assert finals(summary) == finals(local)  # identical numbers
    assert [t for t in trace(events) if t[0].startswith("fit/")] == trace(local_events)  # every event of fit/* reached the driver's callbacks
    asha = {r["name"]: r for r in summary.records["asha"]}
    statuses = sorted(r["status"] for r in asha.values())
    assert "pruned" in statuses and "ok" in statuses, statuses  # the slow learners are cut at a rung
    for record in asha.values():
        epochs = record["history"]["epoch"]
        assert record["complete"] and epochs == list(range(1, len(epochs) + 1))
        if record["status"] == "pruned":
            assert len(epochs) < 12 and "pruned by ASHA after epoch" in record["message"]
            assert record["final"]["val_error"] == record["history"]["val_error"][-1]
    assert summary.ok  # pruned is not a problem
    assert (tmp_path / "ray/lines/asha/val_error.png").is_file()
    # a replay resumes without redoing pruned runs
    again, _, lines = run(tmp_path, PRESET + ASHA, "ray", "ray")
    assert sum("already finished" in line for line in lines) == 8


def test_asha_is_an_error_on_local_and_processes(kinds, tmp_path):
    path = tmp_path / "lines.toml"
    path.write_text(PRESET + ASHA)
    for executor in ("local", "processes"):
        with pytest.raises(BenchError, match=f"early_stop \\(asha\\) needs --executor ray \\(got --executor {executor}\\)"):
            plan(load_preset(path), ReplayOptions(runs_dir=tmp_path / "runs", data_root=tmp_path / "data",
                                                  executor=executor))
    result = CliRunner().invoke(cli, ["replay", str(path), "--no-ui", "--executor", "local",
                                      "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "needs --executor ray" in result.output
    path.write_text(PRESET + ASHA.replace('metric = "val_error"', 'metric = "val_accuracy"'))
    with pytest.raises(BenchError, match="unknown metric 'val_accuracy' for kind 'faulty_line'"):
        load_preset(path)
    path.write_text(PRESET + ASHA.replace("reduction_factor = 2", "reduction_factor = 1"))
    with pytest.raises(BenchError, match="'reduction_factor' must be a whole number >= 2"):
        load_preset(path)


def test_pruned_runs_are_neither_best_nor_worst():
    from engine.figures import rankable
    from engine.figures.xor import best_run

    ok = {"name": "a", "status": "ok", "final": {"solve_rate": 0.5, "loss": 0.1}}
    pruned = {"name": "b", "status": "pruned", "final": {"solve_rate": 0.9, "loss": 0.01}}
    assert rankable([ok, pruned]) == [ok]
    assert best_run([ok, pruned]) is ok and best_run([pruned]) is None


class CapturedStderr:
    """What the lab bench (Textual) puts in ``sys.stderr`` while it runs: a
    writer without a file descriptor."""

    def write(self, text: str) -> int:
        return len(text)

    def flush(self) -> None:
        pass

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return -1


def test_processes_start_under_the_lab_benchs_captured_stderr(kinds, tmp_path, monkeypatch):
    from multiprocessing import resource_tracker

    resource_tracker._resource_tracker._stop()  # the tracker starts again with the first worker, as in the app
    monkeypatch.setattr("sys.stderr", CapturedStderr())
    summary, _, _ = run(tmp_path, PRESET, "processes", "proc", workers=2)
    assert summary.counts == {"ok": 4}, summary.problems


def test_real_stdio_gives_processes_and_ray_file_descriptors_under_the_lab_bench(monkeypatch):
    import sys

    from engine.executors import real_stdio

    captured_out, captured_err = CapturedStderr(), CapturedStderr()
    monkeypatch.setattr("sys.stdout", captured_out)
    monkeypatch.setattr("sys.stderr", captured_err)
    with real_stdio():
        assert sys.stdout.fileno() >= 0 and sys.stderr.fileno() >= 0
        assert sys.stdout.encoding.startswith("utf")  # what Ray's import reads
    assert sys.stdout is captured_out and sys.stderr is captured_err


def test_a_resumed_replay_trains_with_the_executor_the_whole_plan_chose(kinds, tmp_path):
    """The default executor follows from the plan, not from what is left: the
    last run of a resumed replay trains as it would have (same threads)."""
    from engine.executors import choose

    first, _, _ = run(tmp_path, PRESET, "local", "runs")
    assert first.counts == {"ok": 4}
    (tmp_path / "runs/lines/fit/lr=0.1/run.json").unlink()  # as if killed before it finished
    again, _, lines = run(tmp_path, PRESET, None, "runs")
    expected = choose(None, 4, False)
    assert again.counts == {"ok": 4}
    assert any(line.startswith(f"executor: {expected}") for line in lines), lines
    redone = json.loads((tmp_path / "runs/lines/fit/lr=0.1/run.json").read_text())
    assert redone["executor"].startswith(expected)


def test_a_pruned_run_is_kept_only_under_the_same_early_stopping(tmp_path):
    from engine.runs import load_finished

    asha = {"kind": "asha", "metric": "val_error", "grace_epochs": 2, "reduction_factor": 2}
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    for status in ("ok", "pruned"):
        (run_dir / "run.json").write_text(json.dumps({"complete": True, "status": status, "config_hash": "h",
                                                       "early_stop": asha, "artifacts": []}))
        assert load_finished(run_dir, "h", asha) is not None
        assert load_finished(run_dir, "other", asha) is None
        changed = load_finished(run_dir, "h", {**asha, "grace_epochs": 5})
        dropped = load_finished(run_dir, "h", None)
        # an ok run trained to the end whatever ASHA said; a pruned one was cut by those settings
        assert (changed is None, dropped is None) == ((False, False) if status == "ok" else (True, True))


def test_a_unit_its_worker_cannot_load_data_for_fails_with_the_reason(kinds, tmp_path, monkeypatch):
    executor = "processes"  # (a Ray trial says the same through the same words; its workers' environment is fixed)
    monkeypatch.setenv("BENCHTUI_TEST_FAULT", f"load:{os.getpid()}")  # the driver loads; the workers cannot
    summary, _, _ = run(tmp_path, PRESET, executor, executor, workers=2)
    assert summary.counts == {"failed": 4}
    for record in summary.records["fit"]:
        assert record["complete"] and record["status"] == "failed"
        assert record["message"].endswith("could not train it: --data points="
                                          f"{tmp_path / 'data'}: not a folder on this node"), record["message"]


def test_a_stop_the_trials_cannot_be_told_is_reported_not_dropped():
    from engine.executors.ray import _Sweep

    class Remote:
        def remote(self):
            return "ref"

    class Signals:
        set_stop = Remote()

    class DeadRay:
        def get(self, ref, timeout=None):
            raise ConnectionError("the signals actor's node is gone")

    sweep = _Sweep.__new__(_Sweep)
    lines: list[str] = []
    sweep.ray, sweep.signals, sweep.stop, sweep.stop_sent, sweep.log = DeadRay(), Signals(), threading.Event(), False, lines.append
    sweep.send_stop()
    assert lines == []  # no stop asked
    sweep.stop.set()
    sweep.send_stop()
    sweep.send_stop()  # said once
    assert lines == ["ray: could not tell the trials to stop (ConnectionError: the signals actor's node is gone); "
                     "they end when the sweep is torn down"]


def test_a_unit_waits_in_the_queue_while_another_makes_the_preparation_it_shares():
    """A worker that would only wait on another's pretraining takes other work; once the first run of the
    preparing unit has started (its preparation made), the waiting unit goes next."""
    from collections import deque

    from engine.executors import Lives, Unit
    from engine.executors.processes import _next_begun

    def unit(index: int, prep) -> Unit:
        return Unit(index, [], "line", None, Path("."), prep=prep)

    pretraining, probe, other = unit(0, ("weights", 48)), unit(1, ("weights", 48)), unit(2, None)
    life = Lives([pretraining, probe, other], lambda unit, results: None, lambda line: None)
    queue = deque([pretraining, probe, other])
    assert _next_begun(queue, life, []) is pretraining
    assert pretraining.preparing
    assert _next_begun(queue, life, [pretraining]) is other  # not the probe: it would wait for the weights
    assert list(queue) == [probe] and _next_begun(queue, life, [pretraining, other]) is None
    pretraining.mark_start(RunStart("a", 1, 1, "cpu", "{}", "pretraining the backbone", "line"))
    assert not pretraining.preparing
    assert _next_begun(queue, life, [pretraining, other]) is probe


def test_the_pretrained_image_modes_share_their_backbone_and_the_others_share_nothing():
    from engine.config import apply_overrides
    from engine.kinds import get_kind

    kind = get_kind("images")
    cfg = kind.config_type()
    keys = {mode: kind.shared_prep(apply_overrides(cfg, {"model.mode": mode}))
            for mode in ("scratch", "xgboost", "linear_probe", "sklearn_probe", "finetune")}
    assert keys["scratch"] is None and keys["xgboost"] is None
    assert keys["linear_probe"] == keys["sklearn_probe"] == keys["finetune"] is not None
    assert kind.shared_prep(apply_overrides(cfg, {"model.mode": "finetune", "data.image_size": 32})) != keys["finetune"]


def test_a_worker_keeps_its_last_three_datasets_and_loads_a_fourth_afresh(monkeypatch):
    """Longest-first scheduling interleaves experiments: a worker that comes
    back to one of its last three datasets does not load it again."""
    from engine import executors
    from engine.executors import KEEP_DATASETS, Task, train_task

    loads = []

    class Fake:
        def data_key(self, cfg):
            return cfg

        def load_data(self, cfg, root):
            loads.append(cfg)
            return f"data {cfg}"

        def train(self, cfg, data, callbacks, stop, run_id, resume):
            from engine.kit import FitResult

            return FitResult(status="ok", message=data, history={}, model=None)

    monkeypatch.setattr(executors, "kind_of", lambda task: Fake())
    monkeypatch.setattr(executors, "_DATA", {})
    for key in ("a", "b", "c", "a", "d", "b", "a"):
        result, = train_task(Task(0, "fake", "", (key,), ("run",), "/tmp"), [[]], None)
        assert result.message == f"data {key}"
    assert KEEP_DATASETS == 3
    assert loads == ["a", "b", "c", "d", "b"]  # "a" came back twice while it was among the last three; "b" had left
