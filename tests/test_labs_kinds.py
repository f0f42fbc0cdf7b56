"""The three Part C kinds through `benchtui replay` (headless, tiny sizes):
a tiny digits folder passed with --data digits=DIR feeds both digit labs;
run.json finals, figures, the report's C sections; bad data fails in one
line before anything is written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchtui.cli import cli
from benchtui.setup_state import SetupState, choices
from engine.data.digits import standin_arrays
from engine.kinds import dataset_choices, datasets, get_kind

TINY = """
name = "tinylabs"
title = "tiny labs"
report = true

[[experiment]]
name = "digits"
kind = "digits"
title = "C.1 tiny"
set = { "model.k" = 3 }
grid = { "model.space" = ["256d", "pca"] }
figures = [{ kind = "distances" }, { kind = "embeddings" }, { kind = "table" }, { kind = "confusion" }]

[[experiment]]
name = "perceptron"
kind = "perceptron"
title = "C.2 tiny"
set = { "optim.epochs" = 5 }
grid = { "model.mode" = ["batch", "online"] }
figures = [{ kind = "accuracy" }, { kind = "table" }]

[[experiment]]
name = "xor"
kind = "xor"
title = "C.3 tiny"
set = { "model.seeds" = 8, "optim.epochs" = 600, "optim.log_every" = 200 }
grid = { "model.init" = ["uniform", "normal"], "optim.lr" = [0.1, 2.0] }
figures = [{ kind = "loss_curves" }, { kind = "solve_table" }, { kind = "surface" }]
"""


def write_digits(folder: Path, train: int = 80, test: int = 30) -> Path:
    """The first rows of the stand-in, as the course's four CSV files."""
    x, y = standin_arrays()
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("test", test)):
        np.savetxt(folder / f"{split}_in.csv", x[split][:n], fmt="%g", delimiter=",")
        np.savetxt(folder / f"{split}_out.csv", y[split][:n], fmt="%d")
    return folder


def invoke(*args: str):
    return CliRunner().invoke(cli, ["replay", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("labs")
    preset = root / "tinylabs.toml"
    preset.write_text(TINY)
    data = write_digits(root / "digits")
    result = invoke(str(preset), "--no-ui", "--runs-dir", str(root / "runs"), "--data", f"digits={data}")
    return result, root / "runs" / "tinylabs", data


def run_json(out: Path, experiment: str, run: str) -> dict:
    return json.loads((out / experiment / run / "run.json").read_text())


def test_digits_kind_replays(replayed):
    result, out, data = replayed
    assert result.exit_code == 0, result.output
    for space in ("256d", "pca"):
        record = run_json(out, "digits", f"space={space}")
        assert record["status"] == "ok" and record["kind"] == "digits"
        assert str(data.resolve()) in record["data"]["source"] and record["data"]["sizes"] == {"train": 80, "test": 30}
        final = record["final"]
        assert set(final) >= {"train_centre_accuracy", "test_centre_accuracy", "train_knn_accuracy",
                              "test_knn_accuracy", "best_test_knn_accuracy"}
        rows = record["digits"]["table"]
        assert [(r["classifier"], r["split"]) for r in rows] == [("centre", "train"), ("centre", "test"),
                                                                 ("knn", "train"), ("knn", "test")]
        assert final["test_knn_accuracy"] == rows[3]["accuracy"] == rows[3]["correct"] / 30
        assert sum(map(sum, record["digits"]["confusion"]["knn/test"])) == 30
        # per test digit: what a paired test of two classifiers over the same digits needs
        saved = record["digits"]
        assert len(saved["test_labels"]) == 30 and set(saved["test_predictions"]) == {"centre", "knn"}
        assert np.mean(np.equal(saved["test_predictions"]["knn"], saved["test_labels"])) == pytest.approx(
            final["test_knn_accuracy"])
        assert record["data"]["standin"] is False  # a folder, not the embedded stand-in
    assert "embedding" in run_json(out, "digits", "space=pca")["digits"]
    table = json.loads((out / "digits" / "accuracy_table.json").read_text())
    assert [(r["space"], r["classifier"]) for r in table][:2] == [("256d", "centre"), ("256d", "centre")]
    for name in ("centre_distances.png", "embeddings.png", "accuracy_table.md", "confusion_knn_256d_test.png",
                 "confusion_centre_pca_test.png"):
        assert (out / "digits" / name).is_file(), name


def test_perceptron_reads_the_same_folder_and_streams_epochs(replayed):
    result, out, data = replayed
    for mode in ("batch", "online"):
        record = run_json(out, "perceptron", f"mode={mode}")
        assert record["status"] == "ok" and str(data.resolve()) in record["data"]["source"]
        history = record["history"]
        epochs = record["perceptron"]["epochs_run"]
        assert history["epoch"] == list(range(1, epochs + 1)) and len(history["test_accuracy"]) == epochs
        assert history["step_loss"] == record["perceptron"]["updates"]  # misclassified examples per epoch
        assert record["final"]["test_accuracy"] == history["test_accuracy"][-1]
        assert record["final"]["train_accuracy"] > 0.5  # chance is 0.1
        right = np.equal(record["perceptron"]["test_predictions"], record["perceptron"]["test_labels"])
        assert len(right) == 30 and np.mean(right) == pytest.approx(record["final"]["test_accuracy"])
    assert "[perceptron/mode=batch] epoch 5/5" in result.output
    assert (out / "perceptron" / "accuracy_per_epoch.png").is_file()
    assert "| batch | 0.1 | 5 |" in (out / "perceptron" / "final_table.md").read_text()


def test_xor_kind_replays(replayed):
    result, out, _ = replayed
    slow, fast = run_json(out, "xor", "init=uniform,lr=0.1"), run_json(out, "xor", "init=uniform,lr=2")
    for record in (slow, fast):
        assert record["status"] == "ok"
        assert record["history"]["epoch"] == [200, 400, 600]
        assert len(record["history"]["step_loss"]) == 600
        assert record["final"]["solve_rate"] == np.mean(record["xor"]["solved"])
        assert record["xor"]["seeds"] == list(range(42, 50))
    assert fast["final"]["loss"] < slow["final"]["loss"]
    assert fast["final"]["solve_rate"] > slow["final"]["solve_rate"] == 0.0
    for name in ("loss_curves.png", "solve_rate.md", "solve_rate.json", "surface.png"):
        assert (out / "xor" / name).is_file(), name


def test_report_has_the_c_sections(replayed):
    _, out, _ = replayed
    findings = json.loads((out / "findings.json").read_text())
    assert {f["section"] for f in findings} == {"C.1", "C.2", "C.3"}
    text = (out / "REPORT.md").read_text()
    for heading in ("## C.1 Distances on digits", "## C.2 Multi-class perceptron", "## C.3 XOR from scratch"):
        assert heading in text
    assert "| nearest centre | 256-d pixels | test |" in text


def test_bad_digits_fail_in_one_line_before_anything_is_written(tmp_path):
    preset = tmp_path / "tinylabs.toml"
    preset.write_text(TINY)
    data = write_digits(tmp_path / "digits", 20, 10)
    (data / "test_out.csv").write_text("1\n2\n12\n")
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(tmp_path / "runs"),
                                      "--data", f"digits={data}"])
    assert result.exit_code != 0
    assert result.output.strip().splitlines()[-1].endswith(
        "test_out.csv: line 3: '12' is not a digit label (an integer 0-9)")
    assert not (tmp_path / "runs").exists()


def test_a_dataset_shared_by_two_kinds():
    assert datasets()["digits"].name == "digits"
    assert {("digits", "digits"), ("digits", "perceptron")} <= {(d, k.name) for d, k in dataset_choices()}
    values = [value for _, value in choices()]
    assert "digits:digits" in values and "perceptron:digits" in values
    assert "xor:xor" in values and "xor_course:xor" in values  # the sweep and the course's protocol
    state = SetupState()
    state.set_dataset("perceptron:digits")
    assert (state.kind, state.dataset, state.choice) == ("perceptron", "digits", "perceptron:digits")
    state.set_dataset("xor:xor")
    assert state.kind == "xor"
    state.set_dataset("xor_course:xor")
    assert state.kind == "xor_course"
    assert get_kind("perceptron").datasets == get_kind("digits").datasets


def test_data_for_built_in_data_says_there_is_no_folder_to_read(tmp_path):
    (tmp_path / "somewhere").mkdir()
    result = CliRunner().invoke(cli, ["replay", "presets/labs.toml", "--only", "xor", "--no-ui",
                                      "--runs-dir", str(tmp_path / "runs"), "--data", f"xor={tmp_path / 'somewhere'}"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"error: --data xor={tmp_path / 'somewhere'}: the 'xor' data are built in; there is no folder to read")
    assert not (tmp_path / "runs").exists()
