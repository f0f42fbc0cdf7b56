"""A kind that lives only in tests/ (tests/kind_line.py: a line fit whose
only metric is a mean error, lower is better) runs through `benchtui
replay` and through the TUI with no change outside its own file."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from textual.widgets import DataTable, Select, Static

from benchtui.app import make_app
from benchtui.cli import cli
from benchtui.screens.monitor import MonitorScreen
from benchtui.screens.runs import RunsScreen
from engine.kinds import KINDS, unregister

PRESET = """
name = "lines"
[[experiment]]
name = "fit"
kind = "line"
grid = { "optim.lr" = [0.3, 0.05] }
figures = [{ kind = "curves", metrics = ["val_error", "test_error"] }, { kind = "accuracy_vs", x = "optim.lr" }]
"""


@pytest.fixture
def line_kind():
    import importlib

    import tests.kind_line as module

    importlib.reload(module)  # registers it (again, after an earlier test unregistered it)
    yield module.KIND
    unregister("line")


def test_the_test_kind_replays_headless(line_kind, tmp_path: Path):
    preset = tmp_path / "lines.toml"
    preset.write_text(PRESET)
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(runs),
                                      "--data-root", str(tmp_path / "data")])
    assert result.exit_code == 0, result.output
    # the console progress shows the kind's own metric, with its unit
    assert re.search(r"\[fit/lr=0.3\] epoch 20/20 val_err \d\.\d{3} units test_err \d\.\d{3} units", result.output)
    record = json.loads((runs / "lines/fit/lr=0.3/run.json").read_text())
    assert record["kind"] == "line" and record["status"] == "ok"
    final = record["final"]
    assert set(final) == {"train_error", "val_error", "test_error", "best_val_error", "wall_time"}
    assert final["best_val_error"] == min(record["history"]["val_error"])
    assert final["val_error"] < 0.3  # the line is found: noise 0.1 gives a mean error near 0.08
    assert record["history"]["iterations_per_epoch"] == 1 and len(record["history"]["epoch"]) == 20
    out = runs / "lines/fit"
    assert (out / "val_error_test_error.png").is_file() and (out / "error_vs_lr.png").is_file()
    summary = (out / "summary.md").read_text()
    assert "| train err | val err | test err | best val err |" in summary
    # an unknown metric of this kind is refused before training, naming the kind's metrics
    preset.write_text(PRESET.replace('"val_error", "test_error"', '"val_accuracy"'))
    bad = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(runs)])
    assert bad.exit_code == 2 and "unknown metric 'val_accuracy'" in bad.output and "val_error" in bad.output


def test_the_test_kind_is_listed_by_the_cli_help(line_kind):
    result = CliRunner().invoke(cli, ["replay", "--help"])
    assert "line: straight-line fit (test kind)" in result.output
    assert "--data line=DIR" in result.output and "model.noise" in result.output


def test_the_test_kind_runs_in_the_tui(line_kind, tmp_path: Path):
    runs = tmp_path / "runs"
    (tmp_path / "presets").mkdir()

    async def scenario():
        app = make_app(runs_dir=runs, data_root=tmp_path / "data", presets_dir=tmp_path / "presets")
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.pause()
            select = app.screen.query_one("#dataset-select", Select)
            select.value = "line"  # the Setup screen offers every kind's datasets
            for _ in range(100):
                await pilot.pause(0.05)
                summaries = app.screen.query("#data-summary")  # the screen recomposes when the kind changes
                if app.setup_state.kind == "line" and summaries and "generated" in str(
                        summaries.first(Static).render()):
                    break
            assert app.setup_state.kind == "line"
            assert app.screen.query_one("#f-model--noise")  # the Model tab is the kind's config form
            await pilot.press("r")
            for _ in range(200):
                await pilot.pause(0.05)
                if app.sweep_result is not None:
                    break
            assert app.sweep_result is not None and app.sweep_result.counts == {"ok": 1}, app.sweep_result
            monitor = app.get_screen("monitor")
            assert isinstance(monitor, MonitorScreen)
            row = str(monitor.rows["sweep/run"].info.render())
            assert "val err" in row
            chart = monitor.query_one("#epoch-chart")
            assert chart.title == "val err (units) / epoch"  # short: the title fits a half-width chart
            assert len(chart.series["run"][1]) == 20
            await pilot.press("3")
            await pilot.pause(0.2)
            assert isinstance(app.screen, RunsScreen)
            table = app.screen.query_one("#runs-table", DataTable)
            cells = table.get_row_at(0)
            assert cells[1] == "run" and cells[4] == "ok"  # the run's name leads
            assert cells[2].startswith("val err ") and cells[2].endswith(" units")
            assert cells[3].startswith("test err ")

    asyncio.run(scenario())
    record = json.loads(next(runs.glob("*/*/*/run.json")).read_text())
    assert record["kind"] == "line" and record["final"]["val_error"] is not None


def test_unregistered_after_the_tests():
    assert "line" not in KINDS
