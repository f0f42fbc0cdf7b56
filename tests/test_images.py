"""The image study: awkward folders, weights resolution, the shared feature
cache, the gallery selection, and a tiny end-to-end replay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from benchtui.cli import cli
from engine.config import apply_overrides
from engine.data.images import load_image_folder
from engine.errors import BenchError
from engine.figures.images import gallery_rows
from engine.kinds import get_kind
from engine.models import images as resnet
from engine.trainers import images_weights
from engine.trainers import images as image_trainer


def make_folder(root: Path, per_class: int = 6, size: int = 40) -> Path:
    """Two classes that differ in brightness, in assorted formats."""
    rng = np.random.default_rng(0)
    for split in ("train", "val", "test"):
        for label, name in enumerate(("fake", "real")):
            folder = root / split / name
            folder.mkdir(parents=True)
            for i in range(per_class):
                pixels = rng.integers(0, 120, (size, size + i, 3)) + 100 * label
                img = Image.fromarray(pixels.astype(np.uint8))
                kind = i % 4
                if kind == 0:
                    img.save(folder / f"{i}.png")
                elif kind == 1:
                    img.convert("L").save(folder / f"{i}.PNG")  # grayscale, upper-case suffix
                elif kind == 2:
                    img.convert("RGBA").save(folder / f"{i}.png")
                else:
                    img.convert("P").save(folder / f"{i}_palette.png")
            img.save(folder / "photo.JPG", format="JPEG")
    return root


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = make_folder(tmp_path / "faces")
    (root / "train" / "real" / "broken.jpg").write_bytes(b"not a jpeg at all")
    (root / "train" / "fake" / "notes.txt").write_text("hello")
    return root


def test_awkward_folder_loads_with_the_right_counts(folder: Path, tmp_path: Path):
    data = load_image_folder(folder, 32, tmp_path / "cache")
    assert data.class_names == ["fake", "real"]
    assert data.sizes() == {"train": 14, "val": 14, "test": 14}
    assert data.class_counts()["train"] == {"fake": 7, "real": 7}
    assert data.x["train"].shape == (14, 3, 32, 32) and data.x["train"].dtype == torch.uint8
    skipped = {s["file"]: s["reason"] for s in data.skipped}
    assert skipped == {"train/real/broken.jpg": "unreadable: UnidentifiedImageError",
                       "train/fake/notes.txt": "not a .jpg/.jpeg/.png file"}
    # real images are brighter: the labels line up with the pixels
    bright = data.x["train"].float().mean(dim=(1, 2, 3))
    assert bright[data.y["train"] == 1].min() > bright[data.y["train"] == 0].max()


def test_decoded_images_are_cached(folder: Path, tmp_path: Path, monkeypatch):
    first = load_image_folder(folder, 32, tmp_path / "cache")
    monkeypatch.setattr("engine.data.images.decode", lambda *a: pytest.fail("decoded again"))
    second = load_image_folder(folder, 32, tmp_path / "cache")
    assert torch.equal(first.x["test"], second.x["test"])
    assert len(list((tmp_path / "cache").glob("*.pt"))) == 1


@pytest.mark.parametrize("change, message", [
    (lambda r: (r / "train" / "other").mkdir(), "must hold exactly two class folders (found 3"),
    (lambda r: [p.unlink() for p in (r / "val" / "real").iterdir()], "holds no .jpg/.jpeg/.png images"),
    (lambda r: __import__("shutil").rmtree(r / "test"), "test is missing"),
])
def test_bad_folders_are_refused(folder: Path, tmp_path: Path, change, message):
    change(folder)
    with pytest.raises(BenchError, match=message.replace("(", r"\(").replace(".", r"\.")):
        load_image_folder(folder, 32, tmp_path / "cache")


def small_cfg(**overrides):
    base = {"data.image_size": 32, "system.device": "cpu", "model.pretext_images": 24, "model.pretext_epochs": 1,
            "model.weights": "self"}
    return apply_overrides(image_trainer.ImageTrainConfig(), {**base, **overrides})


def test_weights_from_a_saved_state_dict(tmp_path: Path):
    model = resnet.binary_resnet18()
    torch.nn.init.constant_(model.conv1.weight, 0.125)
    torch.save(model.state_dict(), tmp_path / "mine.pt")
    cfg = small_cfg(**{"model.weights": str(tmp_path / "mine.pt")})
    weights = images_weights.resolve_weights(cfg.model, 32, tmp_path, torch.device("cpu"))
    assert weights.kind == "file" and weights.label.startswith("file mine.pt")
    fresh = resnet.binary_resnet18()
    resnet.load_backbone(fresh, weights)
    assert torch.all(fresh.conv1.weight == 0.125)


def test_missing_weights_file_is_an_error(tmp_path: Path):
    cfg = small_cfg(**{"model.weights": str(tmp_path / "nope.pt")})
    with pytest.raises(BenchError, match="model.weights: no file"):
        images_weights.resolve_weights(cfg.model, 32, tmp_path, torch.device("cpu"))


def test_auto_without_imagenet_uses_labelled_self_pretrained(tmp_path: Path, monkeypatch):
    monkeypatch.setattr(images_weights, "imagenet_cache_file", lambda: tmp_path / "absent.pth")
    monkeypatch.setattr(images_weights.ResNet18_Weights.IMAGENET1K_V1.__class__, "get_state_dict",
                        lambda *a, **k: pytest.fail("auto must not download"))
    lines: list[str] = []
    cfg = small_cfg(**{"model.weights": "auto"})
    weights = images_weights.resolve_weights(cfg.model, 32, tmp_path, torch.device("cpu"), lines.append)
    assert weights.kind == "self-pretrained"
    assert "not ImageNet" in weights.label
    assert any(line.startswith("WARNING: ImageNet weights unavailable") for line in lines)
    cached = list(tmp_path.glob("resnet18-self-rot-*.pt"))
    assert len(cached) == 1
    again = images_weights.resolve_weights(cfg.model, 32, tmp_path, torch.device("cpu"), lines.append)
    assert again.key == weights.key and not any("pretraining" in line for line in lines[2:])


def test_frozen_features_are_shared_by_probes(folder: Path, tmp_path: Path):
    data = load_image_folder(folder, 32, tmp_path / "cache")
    data.cache_root = tmp_path
    image_trainer.FEATURE_CACHE.clear()
    before = dict(image_trainer.FEATURE_STATS)
    results = [get_kind("images").train(small_cfg(**{"model.mode": mode, "optim.lr": lr}), data)
               for mode, lr in (("linear_probe", 0.01), ("linear_probe", 0.001), ("sklearn_probe", 0.001))]
    assert [r.status for r in results] == ["ok"] * 3
    assert image_trainer.FEATURE_STATS["computed"] - before["computed"] == 1
    assert image_trainer.FEATURE_STATS["reused"] - before["reused"] == 2
    assert all("not ImageNet" in r.extra["weights"]["label"] for r in results)


def test_gallery_keeps_images_right_for_one_and_wrong_for_the_other():
    files = ["a.png", "b.png", "c.png", "d.png"]
    labels = [1, 0, 1, 0]
    better = {"predictions": {"test": {"file": files, "label": labels, "prob": [0.9, 0.2, 0.7, 0.6]}}}
    worse = {"predictions": {"test": {"file": files, "label": labels, "prob": [0.3, 0.8, 0.9, 0.7]}}}
    rows = gallery_rows(better, worse)
    assert [r["file"] for r in rows] == ["a.png", "b.png"]
    assert rows[0]["better_prob"] == 0.9 and rows[0]["worse_prob"] == 0.3


TINY = """
name = "tinycnn"
[defaults]
"data.image_size" = 32
"model.weights" = "self"
"model.pretext_images" = 24
"model.pretext_epochs" = 1
"optim.batch_size" = 4
[[experiment]]
name = "baselines"
kind = "images"
grid = { "model.mode" = ["scratch", "finetune"], "optim.lr" = [0.01, 0.001] }
runs = [{ "model.mode" = "xgboost" }, { "model.mode" = "sklearn_probe" }, { "model.mode" = "linear_probe" }]
figures = [{ kind = "accuracy_vs_lr" }, { kind = "lr_table" }, { kind = "gallery", count = 3 }]
"""


def test_tiny_image_preset_end_to_end(folder: Path, tmp_path: Path):
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY)
    runs = tmp_path / "runs"
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(runs), "--device", "cpu",
                                      "--data-root", str(tmp_path / "data"), "--data", f"faces={folder}"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "7 ok" in result.output
    assert "weights: self-pretrained, not ImageNet" in result.output
    out = runs / "tinycnn" / "baselines"
    record = json.loads((out / "mode=finetune,lr=0.01" / "run.json").read_text())
    assert record["weights"]["kind"] == "self-pretrained"
    assert len(record["predictions"]["test"]["prob"]) == 14
    assert record["data"]["skipped_files"][0]["file"] in ("train/real/broken.jpg", "train/fake/notes.txt")
    assert len(record["history"]["step_loss"]) == 4  # 14 images in batches of 4
    table = json.loads((out / "lr_table.json").read_text())
    assert {row["baseline"] for row in table} == {"scratch", "finetune", "xgboost", "sklearn_probe", "linear_probe"}
    assert [row["rank"] for row in table if row["baseline"] == "scratch"] == ["best", "second best"]
    gallery = json.loads((out / "gallery.json").read_text())
    assert gallery["better"]["mode"] == "finetune" and gallery["worse"]["mode"] == "scratch"
    assert (out / "accuracy_vs_lr.png").stat().st_size > 1000


def test_probe_numbers_do_not_depend_on_what_was_cached(folder: Path, tmp_path: Path):
    """A replay resumed after a kill finds weights and features cached; its runs must
    give the same numbers as when they were computed in the run itself."""
    data = load_image_folder(folder, 32, tmp_path / "cache")
    data.cache_root = tmp_path
    cfg = small_cfg(**{"model.mode": "linear_probe", "optim.lr": 0.01})
    image_trainer.FEATURE_CACHE.clear()
    image_trainer.WEIGHTS_CACHE.clear()
    first = get_kind("images").train(cfg, data)  # pretrains the backbone and computes the features
    again = get_kind("images").train(cfg, data)  # finds both cached
    assert first.history["step_loss"] == again.history["step_loss"]
    assert first.extra["predictions"]["test"]["prob"] == again.extra["predictions"]["test"]["prob"]


def test_standardise_features_uses_train_statistics():
    train = torch.tensor([[1.0, 5.0, 7.0], [3.0, 5.0, 9.0]])
    out = image_trainer.standardise_features({"train": train, "val": torch.tensor([[2.0, 5.0, 10.0]])})
    torch.testing.assert_close(out["train"].mean(0), torch.zeros(3))
    assert torch.all(out["train"][:, 1] == 0)  # a constant feature stays finite (0), not NaN
    std = train.std(0)[2]
    torch.testing.assert_close(out["val"][0], torch.tensor([0.0, 0.0, (10.0 - 8.0) / std.item()]))


def synthetic_feature_splits(n: int = 640, seed: int = 0) -> tuple[object, dict]:
    """Images that are never looked at, and 512 non-negative frozen features of
    a large common offset (like a backbone's pooled ReLU outputs) whose first
    16 dimensions carry the class."""
    from engine.data.images import ImageSplits

    gen = torch.Generator().manual_seed(seed)
    xs, ys, feats, files = {}, {}, {}, {}
    for split, count in (("train", n), ("val", n // 4), ("test", n // 4)):
        y = torch.arange(count) % 2
        f = 20 + 5 * torch.rand(count, 512, generator=gen)
        f[:, :16] += 5.0 * y[:, None]
        xs[split], ys[split], feats[split] = torch.zeros(count, 3, 2, 2, dtype=torch.uint8), y, f
        files[split] = [f"{split}/{i}.png" for i in range(count)]
    data = ImageSplits(x=xs, y=ys, files=files, class_names=["fake", "real"], source="synthetic features")
    return data, feats


@pytest.mark.parametrize("lr", [0.1, 0.01])
def test_linear_probe_learns_unnormalised_features_at_large_lr(lr, monkeypatch):
    """Regression (bug found by the Part B report, fixed): on raw positive features the
    probe sat at exactly 0.500 for lr 0.1 and 0.01 (Adam moves every one of
    512 weights by ~lr, so the logit swings by lr x sum of features and the
    head flips between all-real and all-fake). The probe standardises the
    features with train statistics."""
    data, feats = synthetic_feature_splits()
    weights = resnet.ResolvedWeights("file", "synthetic", "synthetic")
    monkeypatch.setattr(image_trainer, "get_weights", lambda *a, **k: weights)
    monkeypatch.setattr(image_trainer, "features_of", lambda *a, **k: feats)
    cfg = small_cfg(**{"model.mode": "linear_probe", "optim.lr": lr, "optim.batch_size": 32, "optim.epochs": 1})
    result = get_kind("images").train(cfg, data)
    assert result.status == "ok"
    assert result.history["test_accuracy"][-1] >= 0.9


def test_a_stop_ends_xgboost_after_the_current_boosting_round(tmp_path):
    """XGBoost on 64-px pixels boosts for about a minute: it looks at the
    stop after every round, so a Ctrl-C or ctrl+x ends it there."""
    from engine.trainers import images_classic

    data = load_image_folder(make_folder(tmp_path / "faces"), 32, tmp_path / "cache")
    cfg = apply_overrides(image_trainer.ImageTrainConfig(), {"model.mode": "xgboost", "system.threads": 1})
    asked: list[int] = []

    def stopped() -> bool:
        asked.append(1)
        return len(asked) >= 3

    probs, note = images_classic.fit_classic(cfg, data, lambda: {}, stopped)
    assert probs is None and note == "stopped by request after 3 boosting rounds"
    probs, note = images_classic.fit_classic(cfg, data, lambda: {})  # not stopped: all 100 rounds
    assert set(probs) == {"train", "val", "test"} and note == ""


def test_a_stop_ends_self_pretraining_after_the_current_batch_and_caches_nothing(tmp_path):
    cfg = apply_overrides(resnet.ResNetConfig(), {"weights": "self", "pretext_images": 256, "pretext_epochs": 1})
    asked: list[int] = []

    def stopped() -> bool:
        asked.append(1)
        return len(asked) >= 2

    with pytest.raises(images_weights.PretrainingStopped):
        images_weights.resolve_weights(cfg, 32, tmp_path / "weights", torch.device("cpu"), stopped=stopped)
    assert len(asked) == 2  # one batch trained, then the stop was seen
    assert not list((tmp_path / "weights").glob("*.pt"))
