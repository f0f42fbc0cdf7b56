"""The study report: every section and a verdict for every finding, built
from a tiny preset; identical numbers after a simulated kill and resume."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from benchtui.cli import cli
from engine.errors import BenchError
from engine.preset import load_preset
from tests.test_cli import write_cities
from tests.test_images import make_folder

TINY_REPORT = """
name = "tinyreport"
title = "tiny report"
report = true
[defaults]
"optim.epochs" = 3
"model.depth" = 2
"model.width" = 8
[[experiment]]
name = "lr"
grid = { "optim.lr" = [1.0, 0.01, 0.001, 0.00001], "model.batchnorm" = [false, true] }
figures = [{ kind = "curves", metrics = ["val_loss"], facet = "model.batchnorm" }]
[[experiment]]
name = "epochs"
set = { "optim.epochs" = 25 }
grid = { "model.batchnorm" = [false, true] }
figures = [{ kind = "curves", metrics = ["train_loss", "val_loss", "test_loss"], facet = "model.batchnorm" }]
[[experiment]]
name = "batch_size"
zip = { "optim.batch_size" = [1, 16, 128, 1024], "optim.epochs" = [1, 2, 2, 2] }
figures = [{ kind = "curves", metrics = ["step_loss"] }]
[[experiment]]
name = "depth_width"
zip = { "model.depth" = [1, 2, 6, 10, 6, 6, 6], "model.width" = [16, 16, 16, 16, 8, 32, 64] }
figures = [{ kind = "best_worst" }]
[[experiment]]
name = "gradients"
set = { "model.depth" = 100, "model.width" = 4, "optim.epochs" = 2, "system.record_grads" = true }
zip = { "model.batchnorm" = [false, true, false], "model.residual" = [false, false, true] }
figures = [{ kind = "gradients" }]
[[experiment]]
name = "sine"
grid = { "model.sine_features" = [false, true] }
figures = [{ kind = "regions" }]
[[experiment]]
name = "baselines"
kind = "images"
set = { "data.image_size" = 32, "model.weights" = "self", "model.pretext_images" = 24, "model.pretext_epochs" = 1, "optim.batch_size" = 4 }
grid = { "model.mode" = ["scratch", "linear_probe", "finetune"], "optim.lr" = [0.01, 0.001] }
runs = [{ "model.mode" = "xgboost" }, { "model.mode" = "sklearn_probe" }]
figures = [{ kind = "accuracy_vs_lr" }, { kind = "lr_table" }, { kind = "gallery" }]
"""

SECTIONS = ["## Findings", "## A.1.1 Learning rate", "## A.1.2 Epochs", "## A.1.3 BatchNorm", "## A.1.4 Batch size",
            "## A.2.1–A.2.4 Depth and width", "## A.2.5–A.2.6 Gradients at depth 100", "## A.2.7 Sine features",
            "## B.1 Baselines over learning rates", "## B.2 Gallery"]


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    preset = root / "tiny.toml"
    preset.write_text(TINY_REPORT)
    cities = write_cities(root / "cities")
    faces = make_folder(root / "faces")
    args = ["replay", str(preset), "--no-ui", "--runs-dir", str(root / "runs"), "--device", "cpu",
            "--data-root", str(root / "data"), "--data", f"cities={cities}", "--data", f"faces={faces}"]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    return root, args, result


def test_report_has_every_section_and_a_verdict_for_every_finding(replayed):
    root, _, result = replayed
    assert result.exit_code == 0, result.output
    out = root / "runs" / "tinyreport"
    text = (out / "REPORT.md").read_text()
    positions = [text.index(section) for section in SECTIONS]
    assert positions == sorted(positions), "sections are not in STUDY's order"
    findings = json.loads((out / "findings.json").read_text())
    assert len(findings) == 18
    # one seed: a claim whose interval is over seeds is inconclusive; Part B's are paired over the test images
    assert {f["verdict"] for f in findings} <= {"reproduced", "not reproduced", "inconclusive", "not measured"}
    measured = [f for f in findings if f["verdict"] != "not measured"]
    assert len(measured) >= 15, [f for f in findings if f["verdict"] == "not measured"]
    for f in findings:
        assert f"| {f['claim']} |" in text and f"**{f['verdict']}**" in text
    assert "BatchNorm cannot train with batch size 1" in text
    assert "self-pretrained, not ImageNet" in text
    html = (out / "REPORT.html").read_text()
    assert "<table>" in html and "data:image/png;base64," in html
    assert 'src="lr/' not in html  # every figure inlined: the page stands alone


def test_rebuild_after_a_killed_run_gives_the_same_numbers(replayed):
    root, args, _ = replayed
    out = root / "runs" / "tinyreport"
    before = json.loads((out / "findings.json").read_text())
    # a replay killed mid-run leaves that run's run.json marked running / incomplete
    victim = out / "depth_width" / "depth=6,width=32" / "run.json"
    record = json.loads(victim.read_text())
    record.update(status="running", complete=False)
    victim.write_text(json.dumps(record))
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.output.count("skipped") == 33  # every run but the killed one
    assert json.loads((out / "findings.json").read_text()) == before


def test_report_must_be_a_boolean(tmp_path: Path):
    path = tmp_path / "p.toml"
    path.write_text('report = "yes"\n[[experiment]]\nname = "a"\n')
    with pytest.raises(BenchError, match=r"p.toml:1: 'report' must be true or false"):
        load_preset(path)


def test_shipped_report_presets_cover_both_parts():
    for name, size, clock_size in (("report", 224, 150), ("quick", 48, 40)):
        preset = load_preset(Path(__file__).resolve().parents[1] / "presets" / f"{name}.toml")
        assert preset.report is True
        names = [e.name for e in preset.experiments]
        labs = ["digits", "perceptron", "xor", "xor_course"]  # Part C: both presets answer it
        parts_ab = ["lr", "epochs", "batch_size", "batch_size_batchnorm", "depth_width", "gradients", "sine",
                    "baselines"]
        assert names == parts_ab + labs + ["mlp_vs_cnn", "clocks", "generative"]  # Part C's later labs end both
        assert preset.experiments[7].settings["data.image_size"] == size
        assert next(e for e in preset.experiments if e.name == "clocks").settings["data.size"] == clock_size  # C.5: the course's 150 px on a GPU
