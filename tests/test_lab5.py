"""Lab 5 (STUDY Part C.5), telling the time: the common-sense error, the
course's .npy reader (a good folder and each way it can be wrong), the
stand-in renderer (deterministic, hands where the label says), every head's
reading of its own targets, a tiny fit per head, and a tiny replay with the
figures, gallery.json and the report section."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from benchtui.cli import cli
from engine.config import apply_overrides
from engine.data.clocks import (Style, clock_text, cyclic_error, draw_clock, load_clocks, read_folder, render_clocks,
                                to_minutes)
from engine.errors import BenchError
from engine.kinds import get_kind
from engine.models.clocks import ClockModelConfig, angle_pair, class_centre, class_of, loss_of, read_minutes
from engine.trainers.clocks import ClockConfig, check_config


# ------------------------------------------------------------------ the error
@pytest.mark.parametrize(("a", "b", "error"), [
    (11 * 60 + 50, 10, 20),  # 11:50 vs 00:10
    (0, 360, 360), (0, 0, 0), (30, 45, 15), (719, 0, 1), (100.5, 100, 0.5), (0, 361, 359),
])
def test_cyclic_error_cases(a, b, error):
    assert cyclic_error(a, b) == pytest.approx(error)
    assert cyclic_error(b, a) == pytest.approx(error)  # symmetric


def test_cyclic_error_never_exceeds_360():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 720, 10_000), rng.uniform(0, 720, 10_000)
    errors = cyclic_error(a, b)
    assert errors.max() <= 360 and errors.min() >= 0 and errors.max() > 359
    assert np.allclose(errors, cyclic_error(b, a))
    assert to_minutes(np.array([[11, 50], [0, 10]])).tolist() == [710, 10]
    assert clock_text(710) == "11:50" and clock_text(719.7) == "00:00"


# ------------------------------------------------------------------ the reader
def write_folder(folder: Path, n: int = 20, size: int = 32, images=None, labels=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if images is None or labels is None:
        rendered, hm = render_clocks(n, size, seed=3)
        images = rendered if images is None else images
        labels = hm if labels is None else labels
    np.save(folder / "images.npy", images)
    np.save(folder / "labels.npy", labels)
    return folder


def test_a_good_folder_is_split_80_10_10_and_resized(tmp_path: Path):
    folder = write_folder(tmp_path / "clocks", n=40, size=40)
    data = load_clocks(folder, size=24, n=0, seed=5)
    assert data.sizes() == {"train": 32, "val": 4, "test": 4}
    assert data.x["train"].shape == (32, 24, 24) and data.x["train"].dtype == np.uint8
    assert not data.standin and data.native_size == 40 and "folder" in data.source
    labels = np.load(folder / "labels.npy")
    together = np.concatenate([data.y[s] for s in ("train", "val", "test")])
    assert sorted(map(tuple, together)) == sorted(map(tuple, labels))  # every clock once
    again = load_clocks(folder, size=24, n=0, seed=5)
    assert np.array_equal(again.x["test"], data.x["test"]) and np.array_equal(again.y["val"], data.y["val"])


@pytest.mark.parametrize(("change", "message"), [
    (lambda f: (f / "labels.npy").unlink(), "labels.npy: file not found"),
    (lambda f: np.save(f / "images.npy", np.zeros((20, 32, 32, 3), np.uint8)),
     "images.npy: shape (20, 32, 32, 3), expected (N, H, H)"),
    (lambda f: np.save(f / "images.npy", np.zeros((20, 32, 32), np.float32)), "images.npy: dtype float32, expected uint8"),
    (lambda f: np.save(f / "labels.npy", np.zeros((20, 3), np.int64)), "labels.npy: shape (20, 3), expected (N, 2)"),
    (lambda f: np.save(f / "labels.npy", np.zeros((20, 2), np.float64)), "labels.npy: dtype float64, expected integers"),
    (lambda f: np.save(f / "labels.npy", np.zeros((19, 2), np.int64)), "labels.npy: 19 rows but images.npy has 20"),
    (lambda f: np.save(f / "labels.npy", np.array([[12, 0]] + [[1, 2]] * 19)), "labels.npy: row 0: hour 12 is outside 0-11"),
    (lambda f: np.save(f / "labels.npy", np.array([[1, 2]] * 5 + [[3, 60]] * 15)),
     "labels.npy: row 5: minute 60 is outside 0-59 (15 such rows)"),
    (lambda f: np.save(f / "labels.npy", np.array([None] * 20, dtype=object), allow_pickle=True),
     "labels.npy: not a readable numpy array"),
    (lambda f: (f / "images.npy").write_bytes(b"not numpy"), "images.npy: not a readable numpy array"),
])
def test_each_problem_is_one_line_naming_the_file(tmp_path: Path, change, message):
    folder = write_folder(tmp_path / "clocks")
    change(folder)
    with pytest.raises(BenchError) as info:
        read_folder(folder)
    assert message in str(info.value) and "\n" not in str(info.value)
    assert str(folder) in str(info.value)


def test_a_bad_folder_fails_in_one_line_before_training(tmp_path: Path):
    folder = write_folder(tmp_path / "clocks", labels=np.full((20, 2), 99))
    preset = tmp_path / "p.toml"
    preset.write_text('name = "p"\n[[experiment]]\nname = "clocks"\nkind = "clocks"\n')
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(tmp_path / "runs"),
                                      "--data", f"clocks={folder}"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].endswith("labels.npy: row 0: hour 99 is outside 0-11 (20 such rows)")
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------ the renderer
def test_the_stand_in_is_deterministic_and_cached(tmp_path: Path):
    a_images, a_labels = render_clocks(6, 32, seed=1)
    b_images, b_labels = render_clocks(6, 32, seed=1)
    assert np.array_equal(a_images, b_images) and np.array_equal(a_labels, b_labels)
    c_images, _ = render_clocks(6, 32, seed=2)
    assert not np.array_equal(a_images, c_images)
    assert a_labels[:, 0].max() <= 11 and a_labels[:, 1].max() <= 59
    data = load_clocks(None, size=32, n=20, seed=1, cache_dir=tmp_path)
    assert data.standin and "STAND-IN" in data.source and len(list(tmp_path.glob("*.npz"))) == 1
    cached = load_clocks(None, size=32, n=20, seed=1, cache_dir=tmp_path)
    assert np.array_equal(cached.x["train"], data.x["train"])


def ring(image: np.ndarray, radius: float, angle_deg: float) -> float:
    """The darkest grey of the 3x3 pixels at ``radius`` (pixels) from the centre,
    ``angle_deg`` clockwise from 12 (so a thin hand is not missed by rounding)."""
    c = (image.shape[0] - 1) / 2
    a = math.radians(angle_deg)
    row, col = round(c - radius * math.cos(a)), round(c + radius * math.sin(a))
    return float(image[row - 1:row + 2, col - 1:col + 2].min())


def test_a_rendered_three_oclock_has_the_minute_hand_up_and_the_hour_hand_right():
    style = Style()  # no rotation, no noise, no blur
    image = draw_clock(3, 0, 128, style)
    inner = style.radius * 128
    dark, light = (style.ink + style.face) / 2, style.face - 40
    assert all(ring(image, inner * f, 0) < dark for f in (0.3, 0.5, 0.65))  # minute hand up
    assert all(ring(image, inner * f, 90) < dark for f in (0.2, 0.35))  # hour hand at 3
    assert all(ring(image, inner * f, a) > light for f in (0.3, 0.5) for a in (180, 270))  # nothing at 6 or 9


def test_the_minute_hand_points_at_the_minute_and_the_hour_hand_moves_on():
    style = Style()
    for minute in (0, 7, 20, 33, 48):
        image = draw_clock(5, minute, 128, style)
        profile = [ring(image, style.radius * 128 * 0.72, a) for a in range(360)]  # beyond the hour hand
        darkest = int(np.argmin(profile))
        assert min(abs(darkest - minute * 6), 360 - abs(darkest - minute * 6)) <= 4, (minute, darkest)
    image = draw_clock(3, 30, 128, style)  # hour hand half way from 3 to 4: 105 degrees
    inner = style.radius * 128
    assert ring(image, inner * 0.35, 105) < style.ink + 60 and ring(image, inner * 0.35, 88) > style.face - 40


# ------------------------------------------------------------------ the heads
@pytest.mark.parametrize("model", [
    ClockModelConfig(head="regression", loss="mse"), ClockModelConfig(head="regression", loss="cyclic"),
    ClockModelConfig(head="classification", classes=720), ClockModelConfig(head="two_head", loss="cyclic"),
    ClockModelConfig(head="two_head", loss="mse"),
])
def test_each_head_reads_its_own_targets_back(model):
    hours, minutes = torch.tensor([0, 3, 11, 11, 6]), torch.tensor([0, 0, 50, 59, 30])
    t = (hours * 60 + minutes).double()
    if model.head == "regression":
        out = (t / 720)[:, None] if model.loss == "mse" else angle_pair(t / 720)
    elif model.head == "classification":
        out = torch.nn.functional.one_hot(class_of(t, model.classes), model.classes).double()
    else:
        minute = (minutes.double() / 60)[:, None] if model.loss == "mse" else angle_pair(minutes.double() / 60)
        out = torch.cat([torch.nn.functional.one_hot(hours, 12).double() * 10, minute], dim=1)
    read = read_minutes(model, out).numpy()
    assert cyclic_error(read, t.numpy()).max() < 1e-6, read
    assert torch.isfinite(loss_of(model, out.float(), hours, minutes))


def test_classes_read_their_centre():
    minutes = torch.tensor([0, 29, 30, 719])
    assert class_of(minutes, 24).tolist() == [0, 0, 1, 23]
    assert class_centre(class_of(minutes, 24), 24).tolist() == [14.5, 14.5, 44.5, 704.5]
    assert class_centre(class_of(minutes, 720), 720).tolist() == [0, 29, 30, 719]


def test_config_checks():
    for key, value, message in (("model.classes", 1, "model.classes must be 2 to 720"),
                                ("model.classes", 721, "model.classes must be 2 to 720"),
                                ("data.size", 8, "data.size must be at least 16"),
                                ("optim.batch_size", 1, "BatchNorm")):
        with pytest.raises(BenchError, match=message):
            check_config(apply_overrides(ClockConfig(), {key: value}))
    check_config(apply_overrides(ClockConfig(), {"model.classes": 25}))  # any k works, not only divisors of 720


# ------------------------------------------------------------------ a tiny fit per head
TINY = {"data.size": 24, "data.n": 50, "model.channels": 4, "model.hidden": 16, "optim.epochs": 1,
        "optim.batch_size": 16, "system.device": "cpu", "system.threads": 1}


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    return load_clocks(None, size=24, n=50, seed=0, cache_dir=tmp_path_factory.mktemp("cache"))


@pytest.mark.parametrize("head", [{"model.head": "regression", "model.loss": "mse"},
                                  {"model.head": "regression", "model.loss": "cyclic"},
                                  {"model.head": "classification", "model.classes": 48},
                                  {"model.head": "two_head"}])
def test_a_tiny_fit_per_head(tiny_data, head):
    kind = get_kind("clocks")
    cfg = apply_overrides(ClockConfig(), {**TINY, **head})
    result = kind.train(cfg, tiny_data)
    assert result.status == "ok", result.message
    h = result.history
    assert h["epoch"] == [1] and len(h["step_loss"]) == 3  # 40 train clocks in batches of 16 (the last of 8)
    for split in ("train", "val", "test"):
        assert 0 <= h[f"{split}_error"][0] <= 360 and math.isfinite(h[f"{split}_loss"][0])
    test = result.extra["clocks"]["test"]
    assert len(test["read"]) == 5 and test["true"] == tiny_data.minutes("test").tolist()
    assert np.mean(test["error"]) == pytest.approx(h["test_error"][0], abs=0.01)
    pickle.loads(pickle.dumps((result.model, result.extra)))  # what a worker process hands back
    again = kind.train(cfg, tiny_data)
    assert again.history["test_error"] == h["test_error"]  # same config and seed, same numbers


# ------------------------------------------------------------------ a tiny replay
PRESET = """
name = "tinyclocks"
report = true
[[experiment]]
name = "clocks"
kind = "clocks"
set = { "data.size" = 24, "data.n" = 60, "model.channels" = 4, "model.hidden" = 16, "optim.epochs" = 1, "optim.batch_size" = 16, "model.head" = "classification" }
grid = { "model.classes" = [24, 120] }
runs = [{ "model.head" = "regression", "model.loss" = "mse" }, { "model.head" = "two_head" }]
figures = [{ kind = "table" }, { kind = "error_vs_classes" }, { kind = "gallery", count = 4 }]
"""


def test_a_tiny_replay_writes_the_figures_the_gallery_and_the_report(tmp_path: Path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(PRESET)
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(tmp_path / "runs"),
                                      "--data-root", str(tmp_path / "data"), "--set", "system.threads=1"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "tinyclocks" / "clocks"
    record = json.loads((out / "head=two_head" / "run.json").read_text())
    assert record["data"]["standin"] and "STAND-IN" in record["data"]["source"]
    assert len(record["clocks"]["test"]["read"]) == 6 and (out / "head=two_head" / "model.pt").is_file()
    for name in ("clock_table.png", "clock_table.md", "error_vs_classes.png", "gallery.png"):
        assert (out / name).is_file(), name
    gallery = json.loads((out / "gallery.json").read_text())
    assert gallery["root"] == str(out.resolve()) and "STAND-IN" in gallery["note"]
    assert [im["path"] for im in gallery["images"]] == [f"worst_0{i}.png" for i in range(1, 5)]
    first = gallery["images"][0]
    assert first["label"].startswith("true ") and " read " in first["label"] and first["label"].endswith(" min)")
    assert "error" in first["caption"] and (out / first["path"]).is_file()
    from PIL import Image

    assert Image.open(out / first["path"]).size == (24, 24)
    table = (out / "clock_table.md").read_text()
    assert "| classification, 120 classes |" in table and "| two heads (12 hours + cyclic minutes) |" in table
    report = (tmp_path / "runs" / "tinyclocks" / "REPORT.md").read_text()
    assert "## C.5 Telling the time (experiment `clocks`)" in report and "C.5" in report
    # every claim's verdict, re-derived from the runs' own records: chosen by validation, compared on test
    findings = {f["claim"]: f for f in json.loads((tmp_path / "runs" / "tinyclocks" / "findings.json").read_text())
                if f["section"] == "C.5"}
    from engine.studies import NOT_MEASURED
    from engine.studies.part_c_lab5 import (classification_beats_regression, cyclic_beats_mse,
                                            two_heads_beat_classification)

    assert set(findings) == {c.text for c in (cyclic_beats_mse, classification_beats_regression,
                                             two_heads_beat_classification)}
    # the tiny budget (a few epochs) is below the judged one: every claim is not measured, with the reason
    assert {text: f["verdict"] for text, f in findings.items()} == dict.fromkeys(findings, NOT_MEASURED)
    assert all(f["effect"] is None for f in findings.values())
    assert "not judged at" in findings[two_heads_beat_classification.text]["measured"]
    for text in findings:
        assert f" — {text}**" in report
    # the per-clock errors a paired test needs are in every run.json
    record = json.loads((out / "head=two_head" / "run.json").read_text())
    assert len(record["clocks"]["test"]["error"]) == len(record["clocks"]["test"]["true"]) > 0


# ------------------------------------------------------------------ choosing the best run (figures)
def figure_run(name: str, head: str, val: float, test: float, status: str = "ok", classes: int = 24) -> dict:
    return {"name": name, "status": status, "data": {"source": "stand-in"},
            "config": {"model": {"head": head, "loss": "cyclic", "classes": classes}},
            "final": {"train_error": test, "val_error": val, "test_error": test}}


def test_the_kind_ranks_runs_on_validation_error():
    kind = get_kind("clocks")
    assert kind.primary == "val_error" and kind.primary_metric.better == "lower"


def test_the_figures_choose_the_best_run_by_validation_error_and_report_its_test_error(tmp_path: Path):
    from engine.figures import clocks as figures

    runs = [figure_run("on-val", "classification", val=10.0, test=30.0),
            figure_run("on-test", "classification", val=20.0, test=5.0, classes=120)]
    assert figures.chosen(runs)["name"] == "on-val"
    pruned = figure_run("pruned", "regression", val=1.0, test=1.0, status="pruned")
    assert figures.chosen([pruned, *runs])["name"] == "on-val"  # cut short by ASHA: never called best
    assert figures.chosen([pruned]) is None
    figures.table(runs, tmp_path, {}, "t", None)
    text = (tmp_path / "clock_table.md").read_text()
    assert "chosen by validation error: classification, 24 classes (on-val), validation 10.0 min, test 30.0 min" \
        in text
