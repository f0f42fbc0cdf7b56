"""The lab bench driven by real key presses (Textual's pilot) on a tiny cities
folder and tiny presets: each run trains in a fraction of a second, nothing
is downloaded. The embedded default dataset that the Setup screen previews
on start is built once per session, offline, into a temporary data root.

Note: while a training thread keeps a CPU busy, every ``pilot.press`` takes
about 2 s (the pilot waits up to 1 s for the process to look idle, twice);
the tests that press keys mid-run keep their presses few."""

from __future__ import annotations

import asyncio
import io
import json
import time
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, OptionList, Static

from benchtui.app import ConfirmQuit, make_app
from benchtui.screens.gallery import GalleryScreen
from benchtui.screens.help import HelpScreen
from benchtui.screens.monitor import MonitorScreen
from benchtui.screens.runs import CurvesModal, RunsScreen
from benchtui.screens.setup import LoadPreset, SavePreset, SetupScreen
from benchtui.setup_state import SetupState, choice_value, validate
from engine.preset import load_preset
from engine.study import ReplayOptions, plan
from tests.test_cli import write_cities


# ----------------------------------------------------------------- helpers
# the same tiny three-cluster folder as the CLI tests
write_tiny_cities = write_cities


def tiny_preset(data: Path | None = None, epochs: int = 2, lrs: str = "[0.01, 0.001]", batch: int = 256,
                name: str = "tiny", extra: str = "") -> str:
    """A preset whose runs take well under a second each (depth 2, width 8)."""
    data_line = f'"data.path" = {json.dumps(str(data))}\n' if data is not None else ""
    return f"""
name = "{name}"
[defaults]
"optim.epochs" = {epochs}
"optim.batch_size" = {batch}
"model.depth" = 2
"model.width" = 8
"system.device" = "cpu"
{data_line}
[[experiment]]
name = "lr"
title = "Learning rate"
grid = {{ "optim.lr" = {lrs} }}
figures = [{{ kind = "curves", metrics = ["val_loss"] }}]
{extra}"""


SHAPE = """
[[experiment]]
name = "shape"
zip = { "model.depth" = [1, 2], "model.width" = [4, 8] }
figures = [{ kind = "best_worst" }]
"""


def screen_text(app) -> str:
    """The current screen as plain text (what ``export_screenshot`` draws)."""
    width, height = app.size
    console = Console(width=width, height=height, file=io.StringIO(), force_terminal=True, record=True,
                      color_system="truecolor", legacy_windows=False, safe_box=False)
    console.print(app.screen._compositor.render_update(full=True, screen_stack=app._background_screens))
    return console.export_text()


def static_text(widget: Static) -> str:
    return str(widget.render())


async def wait_until(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def press(pilot, *keys: str, until=None, what: str = "the keys to take effect") -> None:
    """Press keys like a user; with ``until``, also wait for what they cause
    (the pilot's own waiting is a heuristic that a loaded machine can beat)."""
    await pilot.press(*keys)
    if until is not None:
        await wait_until(until, timeout=15.0, what=what)
    await pilot.pause()


def on(app, screen_type: type):
    """A predicate: the app shows a mounted screen of this type."""
    return lambda: isinstance(app.screen, screen_type) and app.screen.is_mounted


def run_json(run_dir: Path) -> dict:
    return json.loads((run_dir / "run.json").read_text())


@pytest.fixture(scope="session")
def data_root(tmp_path_factory) -> Path:
    """A data root holding the embedded default cities (built offline once),
    so the Setup screen's preview on start costs no rebuild per test."""
    from engine.data.mlp import load_cities

    root = tmp_path_factory.mktemp("data-root")
    load_cities(None, cache_dir=root / "cache" / "cities")
    return root


class Bench:
    def __init__(self, root: Path, data_root: Path):
        self.root, self.data_root = root, data_root
        self.cities = write_tiny_cities(root / "cities")
        self.presets = root / "presets"
        self.presets.mkdir()
        self.runs = root / "runs"

    def preset(self, text: str, name: str = "tiny.toml") -> Path:
        path = self.presets / name
        path.write_text(text)
        return path

    def plan(self, text: str, stack: bool = True):
        return plan(load_preset(self.preset(text)),
                    ReplayOptions(runs_dir=self.runs, data_root=self.data_root, stack=stack,
                                  data_paths={"cities": str(self.cities)}))

    def app(self, the_plan=None):
        return make_app(runs_dir=self.runs, data_root=self.data_root, presets_dir=self.presets, plan=the_plan)


@pytest.fixture
def bench(tmp_path: Path, data_root: Path) -> Bench:
    return Bench(tmp_path, data_root)


# ------------------------------------------------------------------- tests
def test_sweep_from_a_plan_then_runs_compare_and_gallery(bench):
    the_plan = bench.plan(tiny_preset(lrs="[0.01, 0.003, 0.001]"))

    async def scenario():
        app = bench.app(the_plan)
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await wait_until(lambda: app.sweep_result is not None, what="the sweep's end")
            await pilot.pause()
            result = app.sweep_result
            assert result is not None and result.counts == {"ok": 3} and not result.stopped and not result.problems
            assert not app.sweep_running
            assert isinstance(app.screen, MonitorScreen)
            assert set(app.screen.rows) == {"lr/lr=0.01", "lr/lr=0.003", "lr/lr=0.001"}
            assert "sweep finished: 3 ok" in static_text(app.screen.query_one("#sweep-status", Static))

            await press(pilot, "3", until=on(app, RunsScreen))
            table = app.screen.query_one("#runs-table", DataTable)
            assert table.row_count == 3
            assert {table.get_row_at(i)[4] for i in range(3)} == {"ok"}
            assert "3 of 3 runs in" in static_text(app.screen.query_one("#runs-hint", Static))

            await press(pilot, "down", "enter", until=lambda: on(app, CurvesModal)() and
                        app.screen.query_one("#diff-table", DataTable).row_count)
            assert len(app.screen.records) == 1
            opened = app.screen.records[0]["name"]
            fields = app.screen.query_one("#diff-table", DataTable)
            assert ["status", "ok"] in [list(fields.get_row_at(i)) for i in range(fields.row_count)]
            await press(pilot, "escape", until=on(app, RunsScreen))
            table = app.screen.query_one("#runs-table", DataTable)
            assert table.cursor_row == 1  # still on the run that was opened
            assert app.screen.current()["name"] == opened

            await press(pilot, "space", "space", "c", until=lambda: on(app, CurvesModal)() and
                        app.screen.query_one("#diff-table", DataTable).row_count)
            assert len(app.screen.records) == 2
            diff = app.screen.query_one("#diff-table", DataTable)
            assert diff.row_count == 1  # only the learning rate differs
            assert diff.get_row_at(0)[0] == "optim.lr"
            assert "curves-loss" in {w.id for w in app.screen.query("SeriesChart")}
            await press(pilot, "escape", until=on(app, RunsScreen))
            assert "2 marked" in static_text(app.screen.query_one("#runs-hint", Static))

            await press(pilot, "4", until=on(app, GalleryScreen))
            assert static_text(app.screen.query_one("#gallery-title", Static)).startswith("No gallery yet")

    asyncio.run(scenario())


def test_load_preset_in_setup_and_run_it(bench):
    bench.preset(tiny_preset(bench.cities))
    bench.preset("name = 'broken'\n[[experiment]]\nname = 'x'\nset = { lrr = 1 }\n", "broken.toml")

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert isinstance(app.screen, SetupScreen)
            assert "embedded default" in static_text(app.screen.query_one("#data-summary", Static))

            await press(pilot, "l", until=on(app, LoadPreset))
            options = app.screen.query_one("#preset-list", OptionList)
            prompts = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
            assert len(prompts) == 2
            assert prompts[0].startswith("✗ broken.toml") and options.get_option_at_index(0).disabled
            assert prompts[1].startswith("tiny.toml › lr  (2 runs) Learning rate")
            if options.highlighted != 1:
                await press(pilot, "down", until=lambda: options.highlighted == 1)
            await press(pilot, "enter", until=lambda: on(app, SetupScreen)() and app.setup_state.name == "tiny"
                        and app.screen.query_one("#data-path", Input).value == str(bench.cities),
                        what="the preset to load")
            summary = app.screen.query_one("#data-summary", Static)
            await wait_until(lambda: "train 90" in static_text(summary), what="the preset's data to load")
            await pilot.pause()

            state = app.setup_state
            assert (state.name, state.experiment, state.kind) == ("tiny", "lr", "mlp")
            assert state.grid == {"optim.lr": [0.01, 0.001]}
            assert state.settings["data.path"] == str(bench.cities)
            assert state.settings["optim.epochs"] == 2
            screen = app.screen
            # the dataset tab follows the loaded preset: its folder, its data
            assert "folder" in static_text(summary)
            assert "train 90, validation 30, test 30; 3 classes" in static_text(summary)
            assert screen.query_one("#grid-key-0", Input).value == "optim.lr"
            assert screen.query_one("#grid-values-0", Input).value == "0.01, 0.001"
            assert screen.query_one("#f-model--width", Input).value == "8"
            assert "2 runs" in static_text(screen.query_one("#run-count", Static))

            await press(pilot, "r", until=on(app, MonitorScreen))
            await app.workers.wait_for_complete()
            await wait_until(lambda: app.sweep_result is not None, what="the sweep's end")
            assert app.sweep_result.counts == {"ok": 2}

        for lr in ("0.01", "0.001"):
            record = run_json(bench.runs / "tiny" / "lr" / f"lr={lr}")
            assert record["status"] == "ok" and record["complete"]
            assert record["config"]["optim"]["lr"] == float(lr)
            assert record["config"]["data"]["path"] == str(bench.cities)
        launches = sorted((bench.runs / "tiny" / "launches").glob("*.toml"))  # each launch's own record
        assert len(launches) == 1 and [e.name for e in load_preset(launches[0]).experiments] == ["lr"]

    asyncio.run(scenario())


def test_loading_a_preset_keeps_its_explicit_runs(bench):
    """A grid plus explicit runs is kept run by run, also after another
    preset filled the sweep fields."""
    bench.preset(tiny_preset(bench.cities), "a.toml")
    bench.preset(tiny_preset(bench.cities, name="mixed").replace(
        'figures = [', 'runs = [{ "model.depth" = 1 }]\nfigures = ['), "b.toml")

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            for index, name in ((0, "tiny"), (1, "mixed")):  # a.toml (a grid), then b.toml (grid + one explicit run)
                await press(pilot, "l", until=on(app, LoadPreset))
                app.screen.query_one(OptionList).highlighted = index
                await press(pilot, "enter", until=lambda: on(app, SetupScreen)() and app.setup_state.name == name
                            and app.screen.query_one("#data-path", Input).value, what="the preset to load")
                await app.workers.wait_for_complete()
                await pilot.pause()
            state = app.setup_state
            assert state.name == "mixed"
            assert state.runs() == [{"optim.lr": 0.01}, {"optim.lr": 0.001}, {"model.depth": 1}]
            assert state.grid == {} and len(state.extra_runs) == 3
            assert "3 runs" in static_text(app.screen.query_one("#run-count", Static))
            assert app.screen.query_one("#grid-key-0", Input).value == ""

    asyncio.run(scenario())


def test_bad_value_in_the_model_form_is_refused_where_typed(bench):
    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "m", until=lambda: app.screen.query_one("#setup-tabs").active == "model")
            screen = app.screen
            field = screen.query_one("#f-optim--lr", Input)
            field.focus()
            await press(pilot, "a", "b", "c", until=lambda: field.value == "abc")
            error = static_text(screen.query_one("#e-optim--lr", Static))
            assert "bad value" in error and "optim.lr" in error
            assert field.has_class("-invalid")
            assert "optim.lr" not in app.setup_state.settings

            await press(pilot, "ctrl+a", "ctrl+k", "0", "full_stop", "0", "5", until=lambda: field.value == "0.05")
            assert static_text(screen.query_one("#e-optim--lr", Static)) == ""
            assert not field.has_class("-invalid")
            assert app.setup_state.settings["optim.lr"] == 0.05

            # a bad value typed over a good one: running is refused, never run with the stale 0.05
            await press(pilot, "x", until=lambda: field.value == "0.05x")
            assert "optim.lr" not in app.setup_state.settings and field.has_class("-invalid")
            app.start_from_setup()
            await pilot.pause()
            assert not app.sweep_running
            assert not bench.runs.exists()

    asyncio.run(scenario())


def test_keys_are_handled_while_training_runs(bench):
    # one run at a time (unstacked), so that "the next run has not started" can be checked
    the_plan = bench.plan(tiny_preset(epochs=20000, lrs="[0.01, 0.003, 0.001]", batch=8), stack=False)

    async def scenario():
        app = bench.app(the_plan)
        async with app.run_test(size=(80, 24)) as pilot:
            monitor = app.get_screen("monitor")
            await wait_until(lambda: getattr(monitor, "rows", None), what="the first run to start")
            assert app.sweep_running

            await press(pilot, "3", until=on(app, RunsScreen))
            assert app.sweep_running
            table = app.screen.query_one("#runs-table", DataTable)
            assert table.row_count == 1 and table.get_row_at(0)[4] == "running"  # the run in progress is listed
            await press(pilot, "question_mark", until=on(app, HelpScreen))
            assert app.sweep_running
            await press(pilot, "escape", until=on(app, RunsScreen))
            assert app.sweep_running
            await press(pilot, "2", until=on(app, MonitorScreen))
            assert app.sweep_running

            await press(pilot, "x")  # stop: the run in progress ends after its current step
            await app.workers.wait_for_complete()
            await wait_until(lambda: app.sweep_result is not None, what="the sweep's end")
            await pilot.pause()
            assert not app.sweep_running
            assert app.sweep_result.stopped and app.sweep_result.counts == {"stopped": 1}
            assert "sweep stopped" in static_text(monitor.query_one("#sweep-status", Static))
        assert run_json(bench.runs / "tiny" / "lr" / "lr=0.01")["status"] == "stopped"
        assert not (bench.runs / "tiny" / "lr" / "lr=0.003").exists()

    asyncio.run(scenario())


def test_quit_mid_run_stops_the_sweep_cleanly(bench):
    the_plan = bench.plan(tiny_preset(epochs=20000, lrs="[0.01, 0.003, 0.001, 0.0003]", batch=8), stack=False)
    first = bench.runs / "tiny" / "lr" / "lr=0.01"

    async def scenario():
        app = bench.app(the_plan)
        async with app.run_test(size=(80, 24)) as pilot:
            monitor = app.get_screen("monitor")
            await wait_until(lambda: getattr(monitor, "rows", None), what="the first run to start")
            await wait_until(lambda: (first / "run.json").is_file(), what="run.json")
            assert run_json(first)["status"] == "running"
            # q asks first; n keeps the sweep running, y stops it and quits
            await press(pilot, "q", until=lambda: isinstance(app.screen, ConfirmQuit))
            await press(pilot, "n", until=on(app, MonitorScreen))
            assert app.is_running and app.sweep_running
            await press(pilot, "q", until=lambda: isinstance(app.screen, ConfirmQuit))
            await pilot.press("y")
            await wait_until(lambda: not app.is_running, timeout=20, what="the app to exit")
        return app

    app = asyncio.run(scenario())  # run_test re-raises any error of the app: none here
    assert app.return_code == 0
    assert not app.sweep_running
    # q waits for the sweep thread, whose SweepFinished is handled before the exit
    result = app.sweep_result
    assert result is not None and result.stopped
    assert result.counts == {"stopped": 1}
    assert len(result.problems) == 1 and result.problems[0].startswith("lr/lr=0.01: stopped: stopped by request")
    record = run_json(first)
    assert record["status"] == "stopped" and record["message"].startswith("stopped by request")
    assert sorted(p.name for p in (bench.runs / "tiny" / "lr").iterdir() if p.is_dir()) == ["lr=0.01"]


def test_setup_state_saves_a_preset_that_plans_the_same_runs(bench):
    """Grid plus an explicit run, and a second experiment kept as it is."""
    original = bench.preset(tiny_preset(bench.cities, extra=SHAPE).replace(
        'figures = [{ kind = "curves"', 'runs = [{ "model.depth" = 1 }]\nfigures = [{ kind = "curves"', 1))
    preset = load_preset(original)
    state = SetupState.from_preset(preset, "lr")
    assert state.runs() == preset.experiments[0].runs
    assert [e.name for e in state.others] == ["shape"]

    text = state.to_toml()
    assert text.startswith("# saved by benchtui")
    saved = state.save(bench.root / "saved" / "again.toml")
    assert saved.read_text() == text

    def planned(path: Path):
        return [(r.run_id, r.config) for r in plan(load_preset(path), ReplayOptions(
            runs_dir=bench.runs, data_root=bench.data_root)).runs]

    assert planned(saved) == planned(original)
    assert [r[0] for r in planned(saved)] == ["lr/lr=0.01", "lr/lr=0.001", "lr/depth=1",
                                               "shape/depth=1,width=4", "shape/depth=2,width=8"]
    again = SetupState.from_preset(load_preset(saved), "lr")
    assert (again.settings, again.runs(), again.figures) == (state.settings, state.runs(), state.figures)


def test_save_proposes_a_new_name_and_never_overwrites_without_asking(bench, monkeypatch):
    """ctrl+s after loading one experiment of a preset: the proposed file does
    not exist yet, an existing file is overwritten only after a second enter,
    and only the experiment on screen is saved."""
    monkeypatch.chdir(bench.root)
    path = bench.preset(tiny_preset(bench.cities, extra=SHAPE))
    bench.preset("# someone's own\n", "tiny-lr.toml")
    original = path.read_text()

    async def scenario():
        app = bench.app()
        app.setup_state = SetupState.from_preset(load_preset(path), "lr")
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "ctrl+s", until=on(app, SavePreset))
            field = app.screen.query_one("#save-path", Input)
            assert field.value == str(bench.presets / "tiny-lr-2.toml")  # tiny.toml and tiny-lr.toml exist
            await press(pilot, "ctrl+a", "ctrl+k", *"presets/tiny.toml", until=lambda: field.value == "presets/tiny.toml")
            await press(pilot, "enter")
            assert isinstance(app.screen, SavePreset)  # asks first
            assert "exists" in static_text(app.screen.query_one("#save-warning", Static))
            assert path.read_text() == original
            await press(pilot, "enter", until=on(app, SetupScreen))

    asyncio.run(scenario())
    saved = load_preset(path)
    assert [e.name for e in saved.experiments] == ["lr"]  # what was on screen, not the whole preset
    assert saved.experiments[0].runs == [{"optim.lr": 0.01}, {"optim.lr": 0.001}]
    assert (bench.presets / "tiny-lr.toml").read_text() == "# someone's own\n"


def typed_value(form, key: str):
    """A value for every field that differs from its default: the text to
    type into an Input, or the value for a Switch or a Select."""
    from engine.config import get_value

    default = get_value(form.defaults, key)
    ftype = form.types[key]
    if ftype is bool:
        return not default
    if form.choices(key) is not None:
        return next(c for c in form.choices(key) if c != default)
    if isinstance(default, tuple):
        return ",".join(str(v) for v in default[:2])
    if ftype is int:
        return str(default + 1)
    if ftype is float:
        return str(default / 2 if default else 0.25)
    return str(TYPED_FILE)  # a text field (e.g. a weights file): a file that exists


TYPED_FILE = Path(__file__).resolve()


def test_every_field_of_every_kind_is_what_runs(bench):
    """Type a value into every field of every registered kind: the launch's
    planned configs hold exactly what the screen shows; for the first kind the
    run itself (run.json) does."""
    from dataclasses import replace

    from engine.config import apply_overrides, get_value, parse_value
    from engine.kinds import load_kinds
    from benchtui.widgets.forms import ConfigForm, field_id

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            screen = app.screen
            for kind in list(load_kinds().values()):
                select = screen.query_one("#dataset-select")
                select.value = choice_value(next(iter(kind.datasets)), kind.name)  # "kind:dataset" when shared
                await wait_until(lambda: app.setup_state.kind == kind.name and all(
                    f.config_type is kind.config_type for f in screen.query(ConfigForm)), what="the kind's forms")
                await pilot.pause()
                typed = {}
                for form in screen.query(ConfigForm):
                    for key in form.keys:
                        if key == "system.device":
                            continue  # keep training on the CPU
                        typed[key] = typed_value(form, key)
                        form.query_one(f"#{field_id(key)}").value = typed[key]
                if kind.name == "mlp":
                    screen.query_one("#data-path").value = str(bench.cities)  # typed, never submitted
                    typed.update({"optim.epochs": "2", "model.depth": "2", "model.width": "4"})
                    for key in ("optim.epochs", "model.depth", "model.width"):
                        screen.query_one(f"#{field_id(key)}").value = typed[key]
                await pilot.pause()
                assert validate(app.setup_state) == {}, kind.name
                state = replace(app.setup_state, others=[])
                exp = load_preset(state.save(bench.root / f"{kind.name}.toml")).experiments[0]
                cfg = apply_overrides(kind.config_type(), {**exp.settings, **exp.runs[0]})
                for form in screen.query(ConfigForm):
                    for key in typed:
                        if key in form.keys:
                            shown = form.raw(key)
                            want = parse_value(key, form.types[key], shown) if isinstance(shown, str) else shown
                            assert get_value(cfg, key) == want, (kind.name, key)
                if kind.name == "mlp":
                    mlp_cfg = cfg
                    await press(pilot, "ctrl+r", until=on(app, MonitorScreen))
                    await wait_until(lambda: app.sweep_result is not None, timeout=120, what="the run's end")
                    await app.workers.wait_for_complete()
                    await press(pilot, "1", until=on(app, SetupScreen))
            return mlp_cfg

    from engine.config import to_dict

    mlp_cfg = asyncio.run(scenario())
    record = run_json(bench.runs / "bench" / "sweep" / "run")
    assert record["config"] == to_dict(mlp_cfg)
    assert record["config"]["data"]["path"] == str(bench.cities)


def test_a_misspelt_sweep_key_or_bad_value_blocks_the_run_with_its_error_under_the_field(bench):
    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "s", until=lambda: app.screen.query_one("#setup-tabs").active == "sweep")
            screen = app.screen
            screen.query_one("#grid-key-0", Input).value = "optim.lrr"
            screen.query_one("#grid-values-0", Input).value = "0.1, 0.01"
            await pilot.pause()
            assert "did you mean optim.lr" in static_text(screen.query_one("#grid-error-0", Static))
            assert "problem" in static_text(screen.query_one("#run-count", Static))
            await press(pilot, "ctrl+r")
            assert not app.sweep_running and not bench.runs.exists()
            screen.query_one("#grid-key-0", Input).value = "optim.lr"
            await pilot.pause()
            assert static_text(screen.query_one("#grid-error-0", Static)) == ""
            assert "2 runs" in static_text(screen.query_one("#run-count", Static))
            # the kind's own check, under its field, kept while other fields change
            batch = screen.query_one("#f-optim--batch_size", Input)
            batch.value = "-5"
            await pilot.pause()
            assert "batch_size must be at least 1" in static_text(screen.query_one("#e-optim--batch_size", Static))
            screen.query_one("#f-optim--epochs", Input).value = "3"
            await pilot.pause()
            assert "batch_size must be at least 1" in static_text(screen.query_one("#e-optim--batch_size", Static))
            assert validate(app.setup_state) and "problem" in static_text(screen.query_one("#run-count", Static))
            await press(pilot, "ctrl+r")
            assert not app.sweep_running and not bench.runs.exists()

    asyncio.run(scenario())


def test_help_lists_the_bindings_of_every_screen(bench):
    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "question_mark", until=on(app, HelpScreen))
            for words in ("run sweep", "load preset", "stop sweep", "compare marked", "next gallery"):
                assert words in app.screen.text
            for heading in ("everywhere: ", "setup: ", "monitor: ", "runs: ", "gallery: "):
                assert heading in app.screen.text
            shown = screen_text(app)
            # the whole of it fits 80×24: the last screen's keys are on screen without scrolling
            assert "benchtui keys" in shown and "run sweep" in shown and "next gallery" in shown
            assert "zoom chart" in shown and "ctrl+r run" in shown
            assert "run view: " in shown and "i images" in shown  # the run view's keys too
            await press(pilot, "escape", until=on(app, SetupScreen))

    asyncio.run(scenario())


def test_gallery_caption_keeps_its_text_when_an_image_file_is_missing(bench):
    from PIL import Image

    images = bench.root / "faces"
    images.mkdir()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(images / "there.png")
    gallery = {
        "title": "2 test images right by finetune and wrong by scratch", "note": "stand-in faces",
        "root": str(images),
        "images": [{"path": "gone.png", "label": "gone.png 0.91 vs 0.12",
                    "caption": "gone.png\ntrue: smiling; P(smiling): finetune 0.910, scratch 0.120"},
                   {"path": "there.png", "label": "there.png 0.20 vs 0.70", "caption": "there.png\ntrue: not"}],
    }
    (bench.runs / "cnn" / "baselines").mkdir(parents=True)
    (bench.runs / "cnn" / "baselines" / "gallery.json").write_text(json.dumps(gallery))

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "4", until=on(app, GalleryScreen))
            screen = app.screen
            assert "2 test images right by finetune" in static_text(screen.query_one("#gallery-title", Static))
            caption = static_text(screen.query_one("#gallery-caption", Static))
            assert "gone.png" in caption and "P(smiling): finetune 0.910, scratch 0.120" in caption
            assert "not found" in caption
            screen.query_one("#gallery-list", OptionList).highlighted = 1
            await wait_until(lambda: "there.png" in static_text(screen.query_one("#gallery-caption", Static)))
            caption = static_text(screen.query_one("#gallery-caption", Static))
            assert "there.png" in caption and "not found" not in caption
            assert screen.query_one("#gallery-image").image is not None

    asyncio.run(scenario())


def test_escape_leaves_a_field_and_the_palette_lists_the_bench_actions(bench):
    from textual.command import CommandList, CommandPalette

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "s", until=lambda: app.screen.query_one("#setup-tabs").active == "sweep")
            key = app.screen.query_one("#grid-key-0", Input)
            key.focus()
            await press(pilot, "m", until=lambda: key.value == "m")  # typed into the field, no tab switch
            assert app.screen.query_one("#setup-tabs").active == "sweep"
            await press(pilot, "escape", until=lambda: app.focused is None)
            await press(pilot, "m", until=lambda: app.screen.query_one("#setup-tabs").active == "model")
            assert key.value == "m"

            await press(pilot, "ctrl+p", until=lambda: isinstance(app.screen, CommandPalette))
            commands = app.screen.query_one(CommandList)
            await wait_until(lambda: commands.option_count >= 11, what="the palette's commands")
            listed = {str(commands.get_option_at_index(i).prompt) for i in range(commands.option_count)}
            for words in ("Run the sweep", "Stop the sweep", "Load a preset", "Save the setup",
                          "Show the Monitor", "Show the Runs", "Open the selected run", "Compare the marked"):
                assert any(words in text for text in listed), words
            await press(pilot, *"show the runs screen")
            await wait_until(lambda: commands.option_count and "Runs screen" in str(
                commands.get_option_at_index(0).prompt), what="the search")
            await press(pilot, "enter", until=on(app, RunsScreen))

    asyncio.run(scenario())


def test_monitor_shows_only_the_current_sweep_with_a_swatch_per_run_and_zooms(bench):
    from benchtui.widgets.charts import SeriesChart

    first_plan = bench.plan(tiny_preset(lrs="[0.01, 0.003]"))

    async def scenario():
        app = bench.app(first_plan)
        async with app.run_test(size=(80, 24)) as pilot:
            monitor = app.get_screen("monitor")
            await wait_until(lambda: app.sweep_result is not None, what="the first sweep's end")
            await pilot.pause()
            step_chart = monitor.query_one("#step-chart", SeriesChart)
            assert set(step_chart.series) == {"lr=0.01", "lr=0.003"}
            rows = list(monitor.rows.values())
            # the swatch on each row is its curves' colour, and no two runs share one
            assert [row.colour_code for row in rows] == [step_chart.colours[r.run_id.split("/", 1)[-1]]
                                                         for r in rows]
            assert len({row.colour_code for row in rows}) == 2
            assert all(str(row.swatch.render()).startswith("■") for row in rows)
            # ended runs show their time, never a countdown
            assert all(str(row.eta.render()).startswith("took ") for row in rows)
            steps_first = len(step_chart.series["lr=0.01"][0])

            await press(pilot, "z", until=lambda: monitor.maximized is step_chart)
            await press(pilot, "z", until=lambda: monitor.maximized is monitor.query_one("#epoch-chart"))
            await press(pilot, "z", until=lambda: monitor.maximized is None)

            # a second sweep (a re-run of one of the runs, forced): only its rows and curves
            again = plan(load_preset(bench.preset(tiny_preset(lrs="[0.01]"))),
                         ReplayOptions(runs_dir=bench.runs, data_root=bench.data_root, force=True,
                                       data_paths={"cities": str(bench.cities)}))
            app.start_plan(again)
            await wait_until(lambda: app.sweep_result is not None, what="the second sweep's end")
            await pilot.pause()
            assert list(monitor.rows) == ["lr/lr=0.01"]
            assert len(monitor.query("RunRow")) == 1
            assert set(step_chart.series) == {"lr=0.01"}
            assert len(step_chart.series["lr=0.01"][0]) == steps_first  # not appended to the old curve
            assert step_chart.series["lr=0.01"][0][0] == 1

    asyncio.run(scenario())


def test_seeds_become_a_grid_over_the_seed_and_count_in_the_runs(bench):
    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "s", until=lambda: app.screen.query_one("#setup-tabs").active == "sweep")
            screen = app.screen
            screen.query_one("#grid-key-0", Input).value = "optim.lr"
            screen.query_one("#grid-values-0", Input).value = "0.1, 0.01"
            screen.query_one("#seeds", Input).value = "42, 43, 44"
            await pilot.pause()
            assert "6 runs" in static_text(screen.query_one("#run-count", Static))
            assert app.setup_state.grid == {"optim.lr": [0.1, 0.01], "system.seed": [42, 43, 44]}
            saved = load_preset(app.setup_state.save(bench.root / "seeds.toml"))
            assert sorted((r["optim.lr"], r["system.seed"]) for r in saved.experiments[0].runs) == sorted(
                (lr, seed) for lr in (0.1, 0.01) for seed in (42, 43, 44))

            screen.query_one("#seeds", Input).value = "42, x"
            await pilot.pause()
            assert static_text(screen.query_one("#seeds-error", Static)).startswith("✗")
            assert validate(app.setup_state)
            screen.query_one("#seeds", Input).value = ""
            await pilot.pause()
            assert "2 runs" in static_text(screen.query_one("#run-count", Static))
            assert "system.seed" not in app.setup_state.grid

    asyncio.run(scenario())


def test_a_loaded_experiment_that_sweeps_a_form_key_runs(bench):
    """The form shows a swept key's default; it must not also be set (a preset
    may not set and sweep the same key)."""
    bench.preset(tiny_preset(bench.cities, lrs="[0.01]").replace(
        'grid = { "optim.lr" = [0.01] }', 'grid = { "model.batchnorm" = [false, true] }'))

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            app.load_setup(bench.presets / "tiny.toml", "lr")
            setup = app.screen
            app.setup_state.executor = "local"  # two units: auto would start worker processes for 2 tiny runs
            await setup.rebuild()
            await pilot.pause()
            assert validate(app.setup_state) == {}
            assert "model.batchnorm" not in app.setup_state.settings
            await press(pilot, "ctrl+r", until=lambda: app.sweep_result is not None)
            assert app.sweep_result.counts == {"ok": 2}

    asyncio.run(scenario())


def test_a_runs_saved_images_open_from_its_run_view(bench):
    """Sample grids and interpolations a run saved as PNGs open from the run
    view (Runs → enter → i), whatever the kind; a run without any says so."""
    from PIL import Image

    from benchtui.screens.runs import ImagesModal

    for name, pngs in (("with", ["samples_epoch_002.png", "interpolation.png"]), ("without", [])):
        folder = bench.runs / "p" / "e" / name
        folder.mkdir(parents=True)
        for png in pngs:
            Image.new("RGB", (16, 16), (20, 120, 200)).save(folder / png)
        (folder / "run.json").write_text(json.dumps({
            "kind": "mlp", "preset": "p", "experiment": "e", "name": name, "status": "ok", "complete": True,
            "config": {}, "final": {}, "history": {"epoch": [1], "val_loss": [0.5]}}))

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(100, 30)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "3", until=on(app, RunsScreen))
            runs = app.screen
            table = runs.query_one("#runs-table", DataTable)
            row = next(i for i in range(table.row_count) if table.get_row_at(i)[1] == "with")
            table.move_cursor(row=row)
            await press(pilot, "enter", until=on(app, CurvesModal))
            assert "i shows its 2 images" in static_text(app.screen.query_one("#curves-title", Static))
            await press(pilot, "i", until=on(app, ImagesModal))
            listing = app.screen.query_one("#images-list", OptionList)
            assert [str(listing.get_option_at_index(i).prompt) for i in range(listing.option_count)] == [
                "interpolation.png", "samples_epoch_002.png"]
            assert app.screen.query_one("#images-view").image is not None
            await press(pilot, "escape", until=on(app, CurvesModal))
            await press(pilot, "escape", until=on(app, RunsScreen))
            table = runs.query_one("#runs-table", DataTable)
            row = next(i for i in range(table.row_count) if table.get_row_at(i)[1] == "without")
            table.move_cursor(row=row)
            await press(pilot, "enter", until=on(app, CurvesModal))
            assert "images" not in static_text(app.screen.query_one("#curves-title", Static))
            await pilot.press("i")
            await pilot.pause()
            assert isinstance(app.screen, CurvesModal)  # nothing to show: a toast, not an empty viewer

    asyncio.run(scenario())


# ------------------------------------------- issue 23: the form is the run
def test_validate_is_ui_free_and_names_the_field_at_fault():
    """``validate(state)`` needs no Textual: each problem is under the field
    it concerns, found by the error's key, never by its text."""
    from engine.errors import BenchError

    state = SetupState()
    assert validate(state) == {}
    assert state.set_value("optim.lr", "abc") is not None  # a letter in a number field
    assert set(validate(state)) == {"optim.lr"} and "optim.lr" not in state.settings
    state.set_value("optim.lr", "0.05")
    assert validate(state) == {} and state.settings["optim.lr"] == 0.05

    # a value typed for a key every run sweeps is refused under that field
    state.set_sweep_rows([("grid-0", "grid", "lr", "0.1, 0.01")])
    assert "is swept (0.1, 0.01)" in validate(state)["optim.lr"]
    state.set_value("optim.lr", "")
    assert validate(state) == {} and len(state.runs()) == 2

    # the kind's own check lands on the row that sweeps the key (BenchError.key)
    state.set_sweep_rows([("grid-0", "grid", "lr", "0.1, -1")])
    assert set(validate(state)) == {"grid-0"} and "positive" in validate(state)["grid-0"]
    state.set_sweep_rows([("grid-0", "grid", "optim.lrr", "0.1")])
    assert "did you mean optim.lr" in validate(state)["grid-0"]
    state.set_sweep_rows([])

    # an explicit run: its own field; a setting of a key only some runs sweep is fine
    state.extra_runs = [{"model.depth": 1}, {}]
    state.set_value("model.depth", "3")
    assert validate(state) == {}
    assert state.set_run(0, "model.depth=x") is not None and set(validate(state)) == {"run-0"}
    state.set_run(0, "optim.epochs=0")  # the kind's check, by its key
    assert set(validate(state)) == {"run-0"}
    state.remove_run(0)
    assert validate(state) == {} and state.runs() == [{}]

    # errors carry their key, also across processes
    import pickle

    err = pickle.loads(pickle.dumps(BenchError("optim.lr must be positive", key="optim.lr")))
    assert err.key == "optim.lr" and str(err) == "optim.lr must be positive"

    # a data.* value (the clocks' data.n) is a field of its own
    clocks = SetupState(kind="clocks")
    clocks.set_value("data.n", "many")
    assert "data.n" in validate(clocks)
    clocks.set_value("data.n", "5")
    assert "data.n" in validate(clocks) and "at least 10" in validate(clocks)["data.n"]


def test_a_swept_field_is_marked_and_a_value_typed_there_is_refused_in_place(bench):
    bench.preset(tiny_preset(bench.cities))

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            app.load_setup(bench.presets / "tiny.toml", "lr")
            await app.screen.rebuild()
            await press(pilot, "m", until=lambda: app.screen.query_one("#setup-tabs").active == "model")
            screen = app.screen
            field = screen.query_one("#f-optim--lr", Input)
            assert field.value == "" and field.placeholder == "swept: 0.01, 0.001"
            assert "⟳ optim.lr" in screen_text(app)
            assert "2 runs" in static_text(screen.query_one("#run-count", Static))
            field.focus()
            await press(pilot, "0", "full_stop", "5", until=lambda: field.value == "0.5")
            error = static_text(screen.query_one("#e-optim--lr", Static))
            assert "is swept (0.01, 0.001)" in error and field.has_class("-invalid")
            assert "problem" in static_text(screen.query_one("#run-count", Static))
            await press(pilot, "ctrl+r")
            assert not app.sweep_running and not bench.runs.exists()  # refused: never silently overridden
            await press(pilot, "ctrl+a", "ctrl+k", until=lambda: field.value == "")
            assert static_text(screen.query_one("#e-optim--lr", Static)) == ""
            assert "2 runs" in static_text(screen.query_one("#run-count", Static))

    asyncio.run(scenario())


def test_explicit_runs_are_listed_edited_removed_and_launched_as_shown(bench):
    bench.preset(tiny_preset(bench.cities, name="mixed").replace(
        'figures = [', 'runs = [{ "model.depth" = 1 }]\nfigures = ['))

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "l", until=on(app, LoadPreset))
            await press(pilot, "enter", until=lambda: on(app, SetupScreen)() and app.setup_state.name == "mixed")
            await press(pilot, "s", until=lambda: app.screen.query_one("#setup-tabs").active == "sweep")
            screen = app.screen
            assert [screen.query_one(f"#run-{i}", Input).value for i in range(3)] == [
                "optim.lr=0.01", "optim.lr=0.001", "model.depth=1"]
            assert "3 runs" in static_text(screen.query_one("#run-count", Static))
            edit = screen.query_one("#run-2", Input)
            edit.value = "model.depth=3; optim.lr=0.005"
            await pilot.pause()
            assert app.setup_state.extra_runs[2] == {"model.depth": 3, "optim.lr": 0.005}
            edit.value = "model.depth=three"
            await wait_until(lambda: "bad value" in static_text(screen.query_one("#run-error-2", Static)))
            assert "problem" in static_text(screen.query_one("#run-count", Static))
            edit.value = "model.depth=3; optim.lr=0.005"
            screen.query_one("#remove-run-0").focus()
            await press(pilot, "enter", until=lambda: len(app.setup_state.extra_runs) == 2)
            await wait_until(lambda: "2 runs" in static_text(app.screen.query_one("#run-count", Static)))
            # typing in a sweep row keeps the explicit runs
            screen.query_one("#grid-key-0", Input).value = "model.width"
            screen.query_one("#grid-values-0", Input).value = "4"
            await wait_until(lambda: "3 runs" in static_text(app.screen.query_one("#run-count", Static)))
            assert len(app.setup_state.extra_runs) == 2
            screen.query_one("#grid-key-0", Input).value = ""
            screen.query_one("#grid-values-0", Input).value = ""
            await wait_until(lambda: "2 runs" in static_text(app.screen.query_one("#run-count", Static)))
            app.setup_state.executor = "local"
            await press(pilot, "ctrl+r", until=lambda: app.sweep_result is not None, what="the sweep's end")
            assert app.sweep_result.counts == {"ok": 2}  # the count on screen is the runs that started

        launch = load_preset(next((bench.runs / "mixed" / "launches").glob("*.toml")))
        assert launch.experiments[0].runs == [{"optim.lr": 0.001}, {"model.depth": 3, "optim.lr": 0.005}]
        names = sorted(p.parent.name for p in (bench.runs / "mixed" / "lr").glob("*/run.json"))
        assert len(names) == 2

    asyncio.run(scenario())


def test_data_values_are_fields_on_the_dataset_tab(bench):
    from engine.data.clocks import MIN_SIZE

    bench.preset(f"""
name = "dials"
[[experiment]]
name = "c"
kind = "clocks"
set = {{ "data.n" = 20, "data.size" = {MIN_SIZE}, "optim.epochs" = 1 }}
""")

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            app.load_setup(bench.presets / "tiny.toml", "c")
            await app.screen.rebuild()
            await app.workers.wait_for_complete()
            screen = app.screen
            field = screen.query_one("#f-data--n", Input)
            assert field.value == "20"
            field.focus()
            await press(pilot, "end", "x", until=lambda: field.value == "20x")
            error = static_text(screen.query_one("#e-data--n", Static))
            assert "bad value for 'data.n'" in error and field.has_class("-invalid")
            assert "data.n" not in app.setup_state.settings
            await press(pilot, "backspace", until=lambda: field.value == "20")
            assert app.setup_state.settings["data.n"] == 20 and not field.has_class("-invalid")

    asyncio.run(scenario())


# ---------------------------------------------- issue 23: every run told apart
def test_an_8_run_sweep_at_80x24_scrolls_with_counts_and_swatches_match_curves(bench):
    from benchtui.widgets.charts import SeriesChart, truecolor

    lrs = [0.08, 0.07, 0.06, 0.05, 0.04, 0.03, 0.02, 0.01]
    the_plan = bench.plan(tiny_preset(epochs=1, lrs=str(lrs)))

    async def scenario():
        app = bench.app(the_plan)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:  # toasts drawn: where they go
            await wait_until(lambda: app.sweep_result is not None, timeout=120, what="the sweep's end")
            await app.workers.wait_for_complete()
            await pilot.pause()
            monitor = app.screen
            assert isinstance(monitor, MonitorScreen) and len(monitor.rows) == 8
            app.clear_notifications()
            app.notify("sweep finished: 8 ok", timeout=60)  # one toast of one line sits over the log
            await wait_until(lambda: list(monitor.query("Toast")), what="the toast")
            await pilot.pause()
            toasts = list(monitor.query("Toast"))
            assert len(toasts) == 1  # shown, and over neither chart
            for toast in toasts:
                for chart in monitor.query(SeriesChart):
                    assert not toast.region.overlaps(chart.region), (toast.region, chart.region)
            assert all(str(row.info.render()).startswith("ok val acc") for row in monitor.rows.values())
            counts = static_text(monitor.query_one("#run-counts", Static))
            assert counts.startswith("runs 1–") and "of 8" in counts and "below" in counts
            shown = screen_text(app)
            assert "lr/lr=0.08" in shown and "lr/lr=0.01 " not in shown
            await press(pilot, "l", until=lambda: monitor.query_one("#run-rows").has_focus)
            await press(pilot, "end", until=lambda: "below" not in static_text(monitor.query_one("#run-counts", Static)))
            counts = static_text(monitor.query_one("#run-counts", Static))
            assert "▲" in counts and "above" in counts and "of 8" in counts
            assert "lr/lr=0.01" in screen_text(app)
            # each swatch has its curves' colour, and it is drawn in that colour (not grey)
            step_chart = monitor.query_one("#step-chart", SeriesChart)
            svg = app.export_screenshot()
            for run_id, row in monitor.rows.items():
                curve = step_chart.colours[run_id.split("/", 1)[-1]]
                assert row.colour_code == curve
                drawn = [seg for seg in row.swatch.render_line(0) if "■" in seg.text]
                assert drawn and drawn[0].style.color.triplet.hex == truecolor(curve)
            assert truecolor(monitor.rows["lr/lr=0.01"].colour_code) in svg

    asyncio.run(scenario())


def test_long_run_names_are_never_cut_to_ambiguity_at_80_columns(bench):
    long_a = "lr=0.001,batchnorm=true,dropout=0.25,weight_decay=0.0001"
    long_b = "lr=0.001,batchnorm=true,dropout=0.25,weight_decay=0.001"
    for i, name in enumerate((long_a, long_b)):
        folder = bench.runs / "p" / "e" / name
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({
            "kind": "mlp", "preset": "p", "experiment": "e", "name": name, "status": "ok", "complete": True,
            "config": {"model": {"batchnorm": True}}, "final": {"val_accuracy": 0.5 + i / 10, "wall_time": 1.23456},
            "history": {"epoch": [1], "val_loss": [0.5], "wall_time": 1.0}}))

    async def scenario():
        app = bench.app()
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await press(pilot, "3", until=on(app, RunsScreen))
            table = app.screen.query_one("#runs-table", DataTable)
            names = [table.get_row_at(i)[1] for i in range(table.row_count)]
            assert len(set(names)) == 2
            assert any(n.endswith("0.0001") for n in names) and any(n.endswith(",0.001") for n in names)
            shown = screen_text(app)
            for name in names:
                assert name in shown  # the whole (shortened) name is on an 80-column screen
            assert "sorted by primary best first" in static_text(app.screen.query_one("#runs-hint", Static))
            assert table.get_row_at(0)[2] == "val acc 0.600"  # the primary metric, best first
            await press(pilot, "O", until=lambda: table.get_row_at(0)[2] == "val acc 0.500")
            await press(pilot, "enter", until=on(app, CurvesModal))
            fields = app.screen.query_one("#diff-table", DataTable)
            rows = {fields.get_row_at(i)[0]: fields.get_row_at(i)[1] for i in range(fields.row_count)}
            assert rows["final.wall_time"] == "1.235" and rows["wall_time"] == "1.235"
            legend = app.screen.query_one("#curves-legend", Static)
            assert "■ e/" in static_text(legend)

    asyncio.run(scenario())


def test_replay_uses_the_runs_folder_given_before_the_command(bench):
    """``benchtui --runs-dir X replay P`` writes to X (it silently wrote to ./runs)."""
    from click.testing import CliRunner

    from benchtui.cli import cli

    preset = bench.preset(tiny_preset(bench.cities, epochs=1, lrs="[0.01]"))
    result = CliRunner().invoke(cli, ["--runs-dir", str(bench.runs), "--data-root", str(bench.data_root),
                                      "replay", str(preset), "--no-ui", "--executor", "local"])
    assert result.exit_code == 0, result.output
    assert (bench.runs / "tiny" / "lr" / "lr=0.01" / "run.json").is_file()
