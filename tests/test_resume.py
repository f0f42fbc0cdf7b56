"""Mid-run checkpoints and resume (issue 22): a run of a torch kind cut short
after epoch k resumes there on the next replay, and on the CPU ends with the
numbers of a run that was never interrupted."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest

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


def same_numbers(a: dict, b: dict) -> None:
    """The same final metrics and the same history, epoch by epoch and step by step (times aside)."""
    assert a["status"] == b["status"] == "ok"
    untimed = lambda d: {k: v for k, v in d.items() if k not in ("wall_time", "epoch_time")}  # noqa: E731
    assert untimed(a["final"]) == untimed(b["final"])
    assert untimed(a["history"]) == untimed(b["history"])


@pytest.mark.parametrize("kind", list(PRESETS))
def test_a_run_cut_after_epoch_k_resumes_there_with_the_numbers_of_an_uninterrupted_run(tmp_path: Path, kind: str):
    text, options = PRESETS[kind], {}
    if kind == "images":  # a small folder: the embedded stand-in is too large for a quick test
        options["data_paths"] = {"faces": str(make_folder(tmp_path / "faces", per_class=4, size=16))}
    whole, _ = run_preset(tmp_path, text, "whole", **options)
    assert whole.ok, whole.problems

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
