"""Where a replay's time went: timings.json, the closing lines, the report's
appendix, and longest-first ordering from the last replay's timings."""

from __future__ import annotations

import json

from click.testing import CliRunner

from benchtui.cli import cli
from engine import timings
from tests.test_cli import write_cities

TINY = """
name = "tinytime"
title = "tiny timings"
report = true
[defaults]
"optim.epochs" = 2
"model.depth" = 2
"model.width" = 8
"system.device" = "cpu"
[[experiment]]
name = "lr"
grid = { "optim.lr" = [0.01, 0.001] }
runs = [{ "model.batchnorm" = true }]
figures = [{ kind = "curves", metrics = ["val_loss"] }]
[[experiment]]
name = "epochs"
figures = [{ kind = "curves", metrics = ["val_loss"] }]
"""


def test_a_replay_says_where_its_time_went_and_the_report_shows_it(tmp_path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY)
    data = write_cities(tmp_path / "cities")
    args = ["replay", str(preset), "--no-ui", "--runs-dir", str(tmp_path / "runs"), "--data", f"cities={data}"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "where the time went" in result.output and "fixed costs: data preparation and caches" in result.output
    saved = json.loads((tmp_path / "runs/tinytime/timings.json").read_text())
    assert set(saved["fixed_seconds"]) == set(timings.FIXED)
    assert saved["fixed_seconds"]["report"] > 0 and saved["fixed_seconds"]["figures"] > 0
    lr, epochs = saved["experiments"]["lr"], saved["experiments"]["epochs"]
    assert (lr["units"], lr["runs"], epochs["units"], epochs["runs"]) == (2, 3, 1, 1)  # two rates stacked
    assert lr["train_seconds"] > 0 and lr["wall_seconds"] >= lr["figures_seconds"] > 0
    assert saved["total_seconds"] >= max(lr["wall_seconds"], epochs["wall_seconds"])  # workers overlap them
    assert len(saved["units"]) == 3
    report = (tmp_path / "runs/tinytime/REPORT.md").read_text()
    appendix = report[report.index("## Appendix: where the time went"):]
    assert "| lr | 2 | 3 |" in appendix and "| epochs | 1 | 1 |" in appendix
    assert "| data preparation and caches |" in appendix

    # what the next replay orders its units by: each unit's seconds, keyed by its run ids
    durations = timings.durations(tmp_path / "runs/tinytime")
    assert durations == saved["units"]


def test_longest_units_first_after_the_ones_not_timed_yet():
    known = {"a": 1.0, "b": 5.0, "c": 3.0}
    assert timings.longest_first(["a", "x", "b", "c", "y"], lambda u: u, known) == ["x", "y", "b", "c", "a"]


def test_no_timings_file_no_appendix_and_no_durations(tmp_path):
    assert timings.appendix(tmp_path) == "" and timings.durations(tmp_path) == {}
    (tmp_path / timings.FILE).write_text("{not json")
    assert timings.appendix(tmp_path) == "" and timings.durations(tmp_path) == {}


def test_a_first_replay_orders_its_units_by_the_presets_shipped_timings(tmp_path):
    preset = tmp_path / "presets" / "tiny.toml"
    preset.parent.mkdir()
    preset.write_text("name = 'tiny'\n")
    runs = tmp_path / "runs" / "tiny"
    assert timings.known_durations(runs, preset) == {}  # nothing measured anywhere: the preset's order
    timings.hint_file(preset).write_text(json.dumps({"units": {"e/a": 3.0, "e/b": 9.0, "e/c": "?"}}))
    assert timings.known_durations(runs, preset) == {"e/a": 3.0, "e/b": 9.0}
    runs.mkdir(parents=True)
    (runs / timings.FILE).write_text(json.dumps({"units": {"e/a": 20.0}}))
    assert timings.known_durations(runs, preset) == {"e/a": 20.0}  # this runs folder's own last replay wins
