"""Mid-run checkpoints and resume (issue 22): a run of a torch kind cut short
after epoch k resumes there on the next replay, and on the CPU ends with the
numbers of a run that was never interrupted."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch

from engine import checkpoint
from engine.events import Callback, EpochEnd
from engine.preset import load_preset
from engine.study import ReplayOptions, plan, replay
from tests.test_images import make_folder

COMMON = '"system.threads" = 1, "system.device" = "cpu"'

PRESETS = {
    # a stack of two (two learning rates), BatchNorm, residual blocks and recorded gradients
    "mlp": f"""
[[experiment]]
name = "mlp"
kind = "mlp"
set = {{ "optim.epochs" = 4, "model.depth" = 2, "model.width" = 8, "model.batchnorm" = true, "model.residual" = true, "optim.batch_size" = 128, "system.record_grads" = true, {COMMON} }}
grid = {{ "optim.lr" = [0.001, 0.01] }}
""",
    "mlp_vs_cnn": f"""
[[experiment]]
name = "lab4"
kind = "mlp_vs_cnn"
set = {{ "optim.epochs" = 3, "optim.batch_size" = 16, "model.arch" = "cnn", "model.channels" = [4, 8], "model.dense" = 16, "data.train_per_class" = 12, "data.test_per_class" = 4, "data.val_fraction" = 0.25, {COMMON} }}
""",
    "clocks": f"""
[[experiment]]
name = "clocks"
kind = "clocks"
set = {{ "data.size" = 24, "data.n" = 50, "model.channels" = 4, "model.hidden" = 16, "optim.epochs" = 3, "optim.batch_size" = 16, "model.head" = "two_head", {COMMON} }}
""",
    "images": f"""
[[experiment]]
name = "faces"
kind = "images"
set = {{ "model.mode" = "scratch", "data.image_size" = 16, "optim.epochs" = 3, "optim.batch_size" = 16, {COMMON} }}
""",
    **{f"generative_{arch}": f"""
[[experiment]]
name = "gen"
kind = "generative"
set = {{ "model.arch" = "{arch}", "data.size" = 16, "data.images" = 40, "model.latent" = 4, "model.width" = 4, "optim.epochs" = 3, "optim.batch_size" = 8, "system.figures_every" = 1, {COMMON} }}
""" for arch in ("vae", "gan")},
}


class StopAfter(Callback):
    """Sets the replay's stop at the end of epoch ``k``: the run is cut in epoch k + 1."""

    def __init__(self, stop: threading.Event, k: int):
        self.stop, self.k = stop, k

    def on_epoch_end(self, event: EpochEnd) -> None:
        if event.epoch == self.k:
            self.stop.set()


def run_preset(tmp_path: Path, text: str, runs: str, stop_after: int | None = None, **options):
    path = tmp_path / "tiny.toml"
    path.write_text(f'name = "tiny"\n{text}')
    opts = ReplayOptions(runs_dir=tmp_path / runs, data_root=tmp_path / "data", executor="local")
    for key, value in options.items():
        setattr(opts, key, value)
    the_plan = plan(load_preset(path), opts)
    stop, lines = threading.Event(), []
    callbacks = (lambda run: [StopAfter(stop, stop_after)]) if stop_after is not None else (lambda run: [])
    summary = replay(the_plan, callbacks, stop, lines.append)
    return summary, lines


def records(tmp_path: Path, runs: str) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in (tmp_path / runs).glob("tiny/*/*/run.json")}


def untimed(values: dict) -> str:
    """Everything but the times, as text (NaN equals NaN)."""
    return json.dumps({k: v for k, v in values.items() if k not in ("wall_time", "epoch_time")}, sort_keys=True)


def same_numbers(a: dict, b: dict) -> None:
    """The same final metrics and the same history, epoch by epoch and step by step (times aside)."""
    assert a["status"] == b["status"] and a["message"] == b["message"]
    assert untimed(a["final"]) == untimed(b["final"])
    assert untimed(a["history"]) == untimed(b["history"])


@pytest.mark.parametrize("kind", list(PRESETS))
def test_a_run_cut_after_epoch_k_resumes_there_with_the_numbers_of_an_uninterrupted_run(tmp_path: Path, kind: str):
    text, options = PRESETS[kind], {}
    if kind == "images":  # a small folder: the embedded stand-in is too large for a quick test
        options["data_paths"] = {"faces": str(make_folder(tmp_path / "faces", per_class=4, size=16))}
    whole, _ = run_preset(tmp_path, text, "whole", **options)
    assert whole.ok and set(whole.counts) == {"ok"}, whole.problems

    cut, _ = run_preset(tmp_path, text, "cut", stop_after=1, **options)
    assert not cut.ok and cut.counts.get("stopped")
    stopped = records(tmp_path, "cut")
    for name, record in stopped.items():
        folder = tmp_path / "cut" / "tiny" / record["experiment"] / name
        saved, why = checkpoint.find(folder, record["config_hash"])
        assert why == "" and saved is not None and saved.epoch == 1, name  # epoch 2 was cut: never checkpointed

    resumed, lines = run_preset(tmp_path, text, "cut", **options)
    assert resumed.ok, resumed.problems
    first, again = records(tmp_path, "whole"), records(tmp_path, "cut")
    assert set(first) == set(again) and first
    for name in first:
        same_numbers(first[name], again[name])
        assert again[name]["resumed"]["from_epoch"] == 1
        assert any(line.endswith(f"{name}: resumes from its checkpoint after epoch 1 of "
                                 f"{again[name]['config']['optim']['epochs']}") for line in lines), lines
        assert not (tmp_path / "cut" / "tiny" / again[name]["experiment"] / name / "checkpoint.pt").exists()
        assert "resumed" not in first[name]
        weights = [tmp_path / runs / "tiny" / again[name]["experiment"] / name / "model.pt" for runs in ("whole", "cut")]
        if weights[0].exists():  # and the same trained weights
            a, b = (torch.load(w, weights_only=True) for w in weights)
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


MLP = PRESETS["mlp"]


def cut_mlp(tmp_path: Path, runs: str = "cut", k: int = 1) -> dict[str, dict]:
    summary, _ = run_preset(tmp_path, MLP, runs, stop_after=k)
    assert summary.counts.get("stopped") == 2
    return records(tmp_path, runs)


def folder(tmp_path: Path, runs: str, name: str) -> Path:
    return tmp_path / runs / "tiny" / "mlp" / name


class Grab(Callback):
    """Keeps every checkpoint a run sends, by epoch."""

    wants_checkpoints = True

    def __init__(self):
        self.saved: dict[int, bytes] = {}

    def on_epoch_end(self, event: EpochEnd) -> None:
        if event.checkpoint is not None:
            self.saved[event.epoch] = event.checkpoint


def test_a_stack_killed_after_a_member_diverged_resumes_whole_with_that_member_in_its_place():
    from engine.config import apply_overrides
    from engine.kinds import get_kind

    kind = get_kind("mlp")
    settings = {"optim.epochs": 4, "model.depth": 2, "model.width": 8, "model.batchnorm": True,
                "optim.batch_size": 256, "system.threads": 1, "system.device": "cpu"}
    cfgs = [apply_overrides(kind.config_type(), {**settings, "optim.lr": lr}) for lr in ("1e38", "0.01")]
    data = kind.load_data(cfgs[0], Path("data"))
    grabs = [Grab(), Grab()]
    whole = kind.train_stack(cfgs, data, [[g] for g in grabs])
    assert [r.status for r in whole] == ["diverged", "ok"]
    assert list(grabs[0].saved) == [1] and list(grabs[1].saved) == [1, 2, 3]  # the member's diverged epoch too
    assert checkpoint.unpack(grabs[0].saved[1])["diverged"]
    # the replay was killed after epoch 2: the dead member's last checkpoint is of epoch 1
    again = kind.train_stack(cfgs, data, [[], []], resume=[grabs[0].saved[1], grabs[1].saved[2]])
    for first, second in zip(whole, again):
        assert (first.status, first.message) == (second.status, second.message)
        assert untimed(first.history) == untimed(second.history)


def test_runs_of_a_stack_whose_checkpoints_hold_different_epochs_resume_apart_and_say_so(tmp_path: Path):
    run_preset(tmp_path, MLP, "whole")
    cut_mlp(tmp_path, "cut", k=1)
    cut_mlp(tmp_path, "cut2", k=2)
    (folder(tmp_path, "cut2", "lr=0.01") / "checkpoint.pt").replace(folder(tmp_path, "cut", "lr=0.01") / "checkpoint.pt")
    summary, lines = run_preset(tmp_path, MLP, "cut")
    assert summary.ok, summary.problems
    assert any("their checkpoints hold different epochs; they resume apart" in line for line in lines), lines
    whole, again = records(tmp_path, "whole"), records(tmp_path, "cut")
    assert {n: r["resumed"]["from_epoch"] for n, r in again.items()} == {"lr=0.001": 1, "lr=0.01": 2}
    for name, epoch in (("lr=0.001", 1), ("lr=0.01", 2)):
        assert "stack" in whole[name] and "stack" not in again[name]  # stacked at first; apart on resume
        assert again[name]["history"]["val_loss"][: epoch + 1] == whole[name]["history"]["val_loss"][: epoch + 1]
        assert len(again[name]["history"]["epoch"]) == 5


CNN = PRESETS["mlp_vs_cnn"]


def lab4(tmp_path: Path, runs: str) -> Path:
    return tmp_path / runs / "tiny" / "lab4" / "run"


def test_the_processes_executor_sends_checkpoints_back_and_resumes_from_them(tmp_path: Path):
    text = CNN.replace('"optim.epochs" = 3', '"optim.epochs" = 40')  # the worker sees the stop long before the end
    run_preset(tmp_path, text, "whole")
    cut, _ = run_preset(tmp_path, text, "cut", stop_after=1, executor="processes", workers=1)
    assert cut.counts == {"stopped": 1}
    record = records(tmp_path, "cut")["run"]
    saved, _ = checkpoint.find(lab4(tmp_path, "cut"), record["config_hash"])
    assert saved is not None and 1 <= saved.epoch < 40  # the worker may see the driver's stop an epoch late
    resumed, lines = run_preset(tmp_path, text, "cut", executor="processes", workers=1)
    assert resumed.ok, resumed.problems
    assert f"lab4/run: resumes from its checkpoint after epoch {saved.epoch} of 40" in lines
    whole, again = records(tmp_path, "whole")["run"], records(tmp_path, "cut")["run"]
    same_numbers(whole, again)
    assert again["resumed"]["from_epoch"] == saved.epoch and again["executor"].startswith("processes")


def test_a_ray_trial_sends_checkpoints_back_and_resumes_from_them(tmp_path: Path):
    pytest.importorskip("ray")
    import os
    import sys

    from engine.executors.ray import ray_modules

    ray, _ = ray_modules()
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}})
    try:
        # 40 epochs (a few ms each): the trial sees the driver's stop long before the last one
        text = CNN.replace('"optim.epochs" = 3', '"optim.epochs" = 40')
        run_preset(tmp_path, text, "whole")
        cut, _ = run_preset(tmp_path, text, "cut", stop_after=1, executor="ray")
        assert cut.counts == {"stopped": 1}, cut.problems
        record = records(tmp_path, "cut")["run"]
        saved, _ = checkpoint.find(lab4(tmp_path, "cut"), record["config_hash"])
        assert saved is not None and 1 <= saved.epoch < 40  # the trial sees the driver's stop within ~0.3 s
        resumed, _ = run_preset(tmp_path, text, "cut", executor="ray")
        assert resumed.ok, resumed.problems
        again = records(tmp_path, "cut")["run"]
        same_numbers(records(tmp_path, "whole")["run"], again)
        assert again["resumed"]["from_epoch"] == saved.epoch and again["executor"].startswith("ray")
    finally:
        ray.shutdown()


def test_keep_checkpoints_keeps_the_last_one_and_force_starts_afresh(tmp_path: Path):
    run_preset(tmp_path, CNN, "cut", stop_after=1)
    summary, _ = run_preset(tmp_path, CNN, "cut", keep_checkpoints=True)
    record = records(tmp_path, "cut")["run"]
    assert summary.ok and record["complete"] and record["resumed"]["from_epoch"] == 1
    saved, _ = checkpoint.find(lab4(tmp_path, "cut"), record["config_hash"])
    assert saved.epoch == 2  # the last epoch needs no checkpoint: 2 of 3
    summary, lines = run_preset(tmp_path, CNN, "cut", force=True)
    assert summary.ok and not any("resumes" in line for line in lines)
    assert "resumed" not in records(tmp_path, "cut")["run"]
    assert not (lab4(tmp_path, "cut") / "checkpoint.pt").exists()


def test_a_checkpoint_of_another_config_or_unreadable_is_not_used_and_the_log_says_why(tmp_path: Path):
    run_preset(tmp_path, CNN, "whole")
    run_preset(tmp_path, CNN, "cut", stop_after=1)
    (lab4(tmp_path, "cut") / "checkpoint.pt").write_bytes(b"not a checkpoint")
    summary, lines = run_preset(tmp_path, CNN, "cut")
    assert summary.ok
    assert any(line.startswith("lab4/run: ") and "checkpoint.pt is unreadable" in line and "from epoch 0" in line
               for line in lines), lines
    again = records(tmp_path, "cut")["run"]
    assert "resumed" not in again
    same_numbers(records(tmp_path, "whole")["run"], again)

    run_preset(tmp_path, CNN, "other", stop_after=1)
    summary, lines = run_preset(tmp_path, CNN.replace('"optim.epochs" = 3', '"optim.epochs" = 4'), "other")
    assert summary.ok and "resumed" not in records(tmp_path, "other")["run"]
    assert any("was written for another config; the run starts from epoch 0" in line for line in lines), lines


class Payload:
    """Would run code when unpickled by a plain pickle.load."""

    def __reduce__(self):
        return (Path.touch, (Path(PWNED),))


PWNED = ""


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_a_malicious_checkpoint_runs_no_code(tmp_path: Path):
    import pickle

    global PWNED
    PWNED = str(tmp_path / "pwned")
    (tmp_path / "checkpoint.pt").write_bytes(pickle.dumps({"epoch": 1, "x": Payload()}))
    saved, why = checkpoint.find(tmp_path, "abc")
    assert saved is None and "unreadable" in why and not Path(PWNED).exists()


def test_replay_help_documents_keep_checkpoints():
    from click.testing import CliRunner

    from benchtui.cli import cli

    result = CliRunner().invoke(cli, ["replay", "--help"])
    assert "--keep-checkpoints" in result.output and "checkpoint.pt" in result.output


def test_a_replay_killed_with_sigkill_resumes_from_the_last_checkpoint_it_wrote(tmp_path: Path):
    import os
    import signal
    import subprocess
    import sys
    import time

    text = CNN.replace('"optim.epochs" = 3', '"optim.epochs" = 40')
    preset = tmp_path / "tiny.toml"
    preset.write_text(f'name = "tiny"\n{text}')
    run_preset(tmp_path, text, "whole")
    command = [sys.executable, "-m", "benchtui", "replay", str(preset), "--no-ui", "--runs-dir", str(tmp_path / "cut"),
               "--data-root", str(tmp_path / "data"), "--executor", "local"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    target = lab4(tmp_path, "cut") / "checkpoint.pt"
    deadline = time.monotonic() + 300
    while not target.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    record = json.loads((lab4(tmp_path, "cut") / "run.json").read_text())
    assert record["status"] == "running" and not record["complete"]
    saved, _ = checkpoint.find(lab4(tmp_path, "cut"), record["config_hash"])
    assert saved is not None and 1 <= saved.epoch < 40
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert again.returncode == 0, again.stderr[-2000:]
    assert f"lab4/run: resumes from its checkpoint after epoch {saved.epoch} of 40" in again.stdout + again.stderr
    resumed = records(tmp_path, "cut")["run"]
    same_numbers(records(tmp_path, "whole")["run"], resumed)
    assert resumed["resumed"]["from_epoch"] == saved.epoch and not target.exists()


def test_a_run_packs_its_state_each_epoch_only_for_a_listener_that_wants_it(small_cfg, blobs):
    from engine.config import apply_overrides
    from engine.events import Recorder
    from engine.kinds import get_kind

    cfg = apply_overrides(small_cfg, {"optim.epochs": 3})
    recorder, grab = Recorder(), Grab()
    get_kind("mlp").train(cfg, blobs, [recorder])
    assert [e.checkpoint for e in recorder.of(EpochEnd)] == [None] * 4  # epochs 0-3: nobody would read them
    recorder = Recorder()
    get_kind("mlp").train(cfg, blobs, [recorder, grab])
    assert sorted(grab.saved) == [1, 2]  # every whole epoch but the last
    assert [e.checkpoint is not None for e in recorder.of(EpochEnd)] == [False, True, True, False]


def test_a_checkpoint_of_an_earlier_format_is_not_resumed(tmp_path: Path):
    """A checkpoint written by an earlier version (another optimiser, other
    tensor layouts) starts the run afresh and says why; this version's own
    checkpoint of the same run is found."""
    import io

    mine = checkpoint.pack(config_hash="abc", epoch=1, epochs=3, elapsed=0.5, history={}, objects={})
    assert checkpoint.find(tmp_path, "abc") == (None, "")
    checkpoint.path_of(tmp_path).write_bytes(mine)
    saved, why = checkpoint.find(tmp_path, "abc")
    assert saved is not None and saved.epoch == 1 and why == ""
    older = checkpoint.unpack(mine) | {"format": checkpoint.FORMAT - 1}
    buffer = io.BytesIO()
    torch.save(older, buffer)
    checkpoint.path_of(tmp_path).write_bytes(buffer.getvalue())
    saved, why = checkpoint.find(tmp_path, "abc")
    assert saved is None and "earlier version of the bench" in why and "starts from epoch 0" in why
