"""SVG snapshots of every screen at 80x24 (pytest-textual-snapshot).

Update after an intended change of the UI with
``pytest tests/test_tui_snapshots.py --snapshot-update`` and look at the
new SVGs under ``tests/__snapshots__/`` before committing them.

Kept deterministic: the tests chdir into a temporary folder and use the
relative paths ``runs``/``presets`` (the screens show them), the embedded
default cities are built offline into a per-session data root, runs train
on the CPU with fixed seeds, and what depends on the clock or the machine
is pinned: the device line, run wall times (0.0 s, which ended runs show
in place of an ETA), toast notifications (cleared) and the order in which plotext
draws overlapping points (it otherwise follows PYTHONHASHSEED)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from benchtui.app import make_app
from benchtui.setup_state import SetupState
from engine.preset import load_preset
from engine.study import ReplayOptions, plan, replay
from tests.test_cli import write_cities

SIZE = (80, 24)


# the same tiny three-cluster folder as the CLI tests
write_tiny_cities = write_cities


TINY = """
name = "tiny"
[defaults]
"optim.epochs" = 3
"model.depth" = 2
"model.width" = 8
"system.device" = "cpu"
[[experiment]]
name = "lr"
title = "Learning rate"
grid = { "optim.lr" = [0.01, 0.001] }
figures = [{ kind = "curves", metrics = ["val_loss"] }]
"""


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    from engine.data.mlp import load_cities

    root = tmp_path_factory.mktemp("snapshot-data-root")
    load_cities(None, cache_dir=root / "cache" / "cities")
    return root


@pytest.fixture
def lab(tmp_path: Path, monkeypatch, data_root: Path):
    """cwd = a fresh folder with presets/tiny.toml and a tiny cities folder;
    clock- and machine-dependent text pinned (see the module docstring)."""
    import plotext._utility

    import benchtui.app
    import benchtui.screens.monitor
    from benchtui.sink import TuiSink

    monkeypatch.chdir(tmp_path)
    Path("presets").mkdir()
    Path("presets/tiny.toml").write_text(TINY)
    write_tiny_cities(Path("cities"))

    class FixedTimeSink(TuiSink):
        def on_run_end(self, event) -> None:
            super().on_run_end(dataclasses.replace(event, wall_time=0.0))

    monkeypatch.setattr(benchtui.screens.monitor, "device_line", lambda: "device: cpu (pinned for snapshots)")
    # plotext de-duplicates points through a set, so which colour wins where points overlap
    # changes with PYTHONHASHSEED; use its own order-keeping alternative
    monkeypatch.setattr(plotext._utility, "no_duplicates", lambda data: list(dict.fromkeys(data)))
    monkeypatch.setattr(benchtui.app, "TuiSink", FixedTimeSink)
    import engine.timings  # where the replay's time went: seconds that differ every run
    monkeypatch.setattr(engine.timings.Timings, "lines", lambda self: ["where the time went: (pinned for snapshots)"])
    return data_root


def tiny_plan(data_root: Path):
    return plan(load_preset(Path("presets/tiny.toml")),
                ReplayOptions(runs_dir=Path("runs"), data_root=data_root, data_paths={"cities": "cities"}))


def new_app(data_root: Path, the_plan=None):
    return make_app(runs_dir=Path("runs"), data_root=data_root, presets_dir=Path("presets"), plan=the_plan)


async def settle(pilot) -> None:
    """Wait for the sweep and the dataset preview, then drop what the clock decides."""
    app = pilot.app
    await app.workers.wait_for_complete()
    await pilot.pause()
    app.clear_notifications()  # an ended run shows its pinned wall time ("took 0s"), never a live ETA
    await pilot.pause()


def test_setup_dataset_tab(snap_compare, lab):
    assert snap_compare(new_app(lab), terminal_size=SIZE, run_before=settle)


def test_setup_model_tab(snap_compare, lab):
    assert snap_compare(new_app(lab), press=["m"], terminal_size=SIZE, run_before=settle)


def test_setup_sweep_tab_with_a_loaded_preset(snap_compare, lab):
    app = new_app(lab)
    app.setup_state = SetupState.from_preset(load_preset(Path("presets/tiny.toml")), "lr")
    assert snap_compare(app, press=["s"], terminal_size=SIZE, run_before=settle)


def test_monitor_after_a_finished_sweep(snap_compare, lab):
    assert snap_compare(new_app(lab, tiny_plan(lab)), terminal_size=SIZE, run_before=settle)


def test_runs_screen(snap_compare, lab):
    summary = replay(tiny_plan(lab))
    assert summary.counts == {"ok": 2}
    for path in Path("runs").glob("*/*/*/run.json"):  # the time column shows wall times
        record = json.loads(path.read_text())
        record["history"]["wall_time"] = 0.5
        record["config"]["data"]["path"] = "cities"  # the config panel shows it; the tmp folder's number varies
        path.write_text(json.dumps(record))

    async def open_runs(pilot):
        await settle(pilot)
        await pilot.press("3")

    assert snap_compare(new_app(lab), terminal_size=SIZE, run_before=open_runs)


def test_gallery_without_a_gallery(snap_compare, lab):
    async def open_gallery(pilot):
        await settle(pilot)
        await pilot.press("4")

    assert snap_compare(new_app(lab), terminal_size=SIZE, run_before=open_gallery)


def test_help_modal(snap_compare, lab):
    async def open_help(pilot):
        await settle(pilot)
        await pilot.press("question_mark")

    assert snap_compare(new_app(lab), terminal_size=SIZE, run_before=open_help)


# ---------------------------------------------- issue 23: the states that broke, at two sizes
SIZES = pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])

EIGHT = TINY.replace('"optim.epochs" = 3', '"optim.epochs" = 2').replace(
    '[0.01, 0.001]', '[0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01]')


@SIZES
def test_monitor_with_a_finished_8_run_sweep(snap_compare, lab, size):
    Path("presets/tiny.toml").write_text(EIGHT)
    assert snap_compare(new_app(lab, tiny_plan(lab)), terminal_size=size, run_before=settle)


@SIZES
def test_runs_with_long_run_names(snap_compare, lab, size):
    names = ["lr=0.001,batchnorm=true,dropout=0.25,weight_decay=0.0001",
             "lr=0.001,batchnorm=true,dropout=0.25,weight_decay=0.001",
             "lr=0.01,batchnorm=false,dropout=0.5,weight_decay=0.0001"]
    for i, name in enumerate(names):
        folder = Path("runs/study/regularisation") / name
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({
            "kind": "mlp", "preset": "study", "experiment": "regularisation", "name": name, "status": "ok",
            "complete": True, "config": {"optim": {"lr": 0.001}},
            "final": {"val_accuracy": 0.7 + i / 20, "test_accuracy": 0.69 + i / 20},
            "history": {"epoch": [1], "wall_time": 1.5 + i}}))

    async def open_runs(pilot):
        await settle(pilot)
        await pilot.press("3")

    assert snap_compare(new_app(lab), terminal_size=size, run_before=open_runs)


@SIZES
def test_gallery_with_images(snap_compare, lab, size):
    from PIL import Image

    folder = Path("runs/faces/baselines")
    folder.mkdir(parents=True)
    for i, colour in enumerate([(200, 40, 40), (40, 160, 60), (40, 80, 200)]):
        image = Image.new("RGB", (32, 32), colour)
        for x in range(8, 24):  # a pale square: the image is not one flat colour
            for y in range(8, 24):
                image.putpixel((x, y), (230, 230, 230))
        image.save(folder / f"face_{i}.png")
    (folder / "gallery.json").write_text(json.dumps({
        "title": "3 test images right by finetune and wrong by scratch", "note": "stand-in faces",
        "images": [{"path": f"face_{i}.png", "label": f"face_{i}.png  0.9{i} vs 0.1{i}",
                    "caption": f"face_{i}.png\ntrue: smiling; P(smiling): finetune 0.9{i}, scratch 0.1{i}"}
                   for i in range(3)]}))

    async def open_gallery(pilot):
        await settle(pilot)
        await pilot.press("4")
        await pilot.pause()

    assert snap_compare(new_app(lab), terminal_size=size, run_before=open_gallery)


@SIZES
def test_setup_model_tab_with_a_swept_field(snap_compare, lab, size):
    app = new_app(lab)
    app.setup_state = SetupState.from_preset(load_preset(Path("presets/tiny.toml")), "lr")
    assert snap_compare(app, press=["m"], terminal_size=size, run_before=settle)
