"""Lab 6 (STUDY Part C.6), kind ``generative``: the image folder reader, the
drawn stand-in faces, tiny VAE and GAN fits, the PNGs their runs save, and a
tiny replay through the CLI with --data gen=DIR and the report's C.6
section."""

from __future__ import annotations

import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from benchtui.cli import cli
from engine.config import apply_overrides
from engine.data.generative import load_images, read_folder
from engine.data.generative_standin import standin_faces
from engine.errors import BenchError
from engine.kinds import get_kind
from engine.models.generative import ConvVAE, Discriminator, Generator
from engine.trainers.generative import GenConfig, check_config, frechet_distance, grid, sharpness

KIND = get_kind("generative")


def write_folder(root: Path) -> Path:
    """Nine readable images in nested folders (several sizes and modes), one broken file, one text file."""
    rng = np.random.default_rng(0)
    (root / "a" / "b").mkdir(parents=True)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)).save(root / f"face{i}.png")
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (20, 50, 3), dtype=np.uint8)).save(root / "a" / f"face{i}.JPG")
    Image.fromarray(rng.integers(0, 256, (16, 16, 4), dtype=np.uint8), "RGBA").save(root / "a" / "b" / "alpha.png")
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8), "L").save(root / "a" / "b" / "grey.jpeg")
    (root / "a" / "b" / "broken.png").write_bytes(b"not a png at all")
    (root / "notes.txt").write_text("ignored")
    return root


def test_folder_reader_recurses_skips_and_lists_unreadable_files(tmp_path):
    root = write_folder(tmp_path / "gen")
    x, names, skipped = read_folder(root, 16, tmp_path / "cache")
    assert x.shape == (9, 3, 16, 16) and x.dtype == np.uint8
    assert "a/b/alpha.png" in names and "a/face0.JPG" in names and "notes.txt" not in names
    assert skipped == [{"file": "a/b/broken.png", "reason": "unreadable: UnidentifiedImageError"}]
    assert len(list((tmp_path / "cache").iterdir())) == 1
    again = read_folder(root, 16, tmp_path / "cache")  # from the cache
    assert np.array_equal(again[0], x) and again[1] == names and again[2] == skipped
    data = load_images(str(root), 16, 0, 0.25, 3, tmp_path / "cache")
    assert data.sizes() == {"train": 7, "test": 2} and not data.standin
    assert sorted(data.files["train"] + data.files["test"]) == sorted(names)
    assert "1 unreadable file(s) skipped" in data.source and data.skipped == skipped
    assert data.as_float("train").min() >= -1 and data.as_float("train").max() <= 1
    assert load_images(str(root), 16, 0, 0.25, 3).files == data.files  # the split is seeded


def test_a_folder_without_a_readable_image_is_one_line_naming_it(tmp_path):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "readme.txt").write_text("no images")
    with pytest.raises(BenchError, match=f"gen: {empty} holds no readable image"):
        read_folder(empty, 16)
    (empty / "sub" / "bad.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(BenchError, match=r"holds no readable image \(1 unreadable files\)"):
        read_folder(empty, 16)
    with pytest.raises(BenchError, match="is not a folder"):
        read_folder(tmp_path / "missing", 16)


def test_standin_faces_are_deterministic_and_a_prefix_of_a_longer_draw(tmp_path):
    a, b = standin_faces(6, 32, 7), standin_faces(6, 32, 7)
    assert a.shape == (6, 3, 32, 32) and np.array_equal(a, b)
    assert np.array_equal(standin_faces(3, 32, 7), a[:3])
    assert not np.array_equal(standin_faces(6, 32, 8), a)
    assert len({img.tobytes() for img in a}) == 6  # every face differs
    data = load_images("", 32, 20, 0.2, 7, tmp_path / "cache")
    assert data.standin and "STAND-IN" in data.source and data.sizes() == {"train": 16, "test": 4}
    assert len(list((tmp_path / "cache").glob("standin_*.npy"))) == 1
    assert np.array_equal(load_images("", 32, 20, 0.2, 7, tmp_path / "cache").x["test"], data.x["test"])


@pytest.mark.parametrize("size", [16, 32, 33, 48])
def test_models_produce_the_asked_size(size):
    z = torch.randn(2, 5)
    assert Generator(size, 5, 4)(z).shape == (2, 3, size, size)
    vae = ConvVAE(size, 5, 4)
    recon, mu, logvar = vae(torch.zeros(2, 3, size, size))
    assert recon.shape == (2, 3, size, size) and mu.shape == logvar.shape == (2, 5)
    assert Discriminator(size, 4)(torch.zeros(2, 3, size, size)).shape == (2,)


def test_measures():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(200, 3))
    cov = np.cov(a, rowvar=False)
    assert frechet_distance(a.mean(0), cov, a.mean(0), cov) == pytest.approx(0, abs=1e-6)
    assert frechet_distance(np.zeros(3), np.eye(3), np.ones(3), np.eye(3)) == pytest.approx(3)
    flat = np.zeros((2, 3, 8, 8))
    assert sharpness(flat) == 0 and sharpness(rng.uniform(-1, 1, (2, 3, 8, 8))) > 0.5
    picture = grid(np.full((3, 3, 4, 4), np.nan), 2, pad=1)
    assert picture.shape == (11, 11, 3) and picture.dtype == np.uint8


def test_bad_settings_are_refused_in_one_line():
    for key, value, message in (("data.size", 8, "data.size"), ("optim.batch_size", 1, "BatchNorm"),
                                ("model.beta", -1.0, "model.beta"), ("optim.gan_lr", 0.0, "optim.gan_lr"),
                                ("system.figures_every", 0, "figures_every")):
        with pytest.raises(BenchError, match=message):
            check_config(apply_overrides(GenConfig(), {key: value}))
    check_config(apply_overrides(GenConfig(), {"data.size": 33, "model.latent": 33, "model.width": 33}))


def tiny(arch: str) -> GenConfig:
    return apply_overrides(GenConfig(), {"model.arch": arch, "data.size": 16, "data.images": 24, "model.latent": 4,
                                         "model.width": 4, "optim.epochs": 2, "optim.batch_size": 8,
                                         "system.figures_every": 1, "system.device": "cpu", "system.threads": 1})


@pytest.mark.parametrize("arch", ["vae", "gan"])
def test_tiny_fit_streams_epochs_writes_nothing_and_save_writes_the_pngs(arch, tmp_path, monkeypatch):
    cfg = tiny(arch)
    data = load_images("", 16, 24, 0.25, 42)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    result = KIND.train(cfg, data)
    assert os.listdir(work) == []  # fit writes no file: the driver saves
    assert result.status == "ok", result.message
    h = result.history
    assert h["epoch"] == [1, 2] and h["iterations_per_epoch"] == 2 and len(h["step_loss"]) == 4
    own = ("train_recon", "test_recon", "train_kl", "test_kl") if arch == "vae" else ("d_loss", "g_loss", "d_real",
                                                                                      "d_fake")
    other = ("d_loss",) if arch == "vae" else ("test_recon",)
    for name in own + ("frechet", "diversity", "sharpness"):
        assert len(h[name]) == 2 and all(np.isfinite(h[name])), name
    assert all(name not in h for name in other)
    pictures = pickle.loads(pickle.dumps(result.model))  # crosses a process boundary
    assert sorted(pictures.samples) == [1, 2] and pictures.samples[2].dtype == np.uint8
    assert (pictures.reconstructions is not None) == (arch == "vae")
    record: dict = {"history": h}
    files = KIND.save_artifacts(result, tmp_path / "run", record, data)
    expected = ["samples_epoch_001.png", "samples_epoch_002.png", "interpolation.png"]
    assert files == expected + (["reconstructions.png"] if arch == "vae" else [])
    for name in files:
        with Image.open(tmp_path / "run" / name) as img:
            assert img.mode == "RGB" and min(img.size) >= 100
    g = record["generative"]
    assert g["arch"] == arch and g["sample_epochs"] == [1, 2] and g["mean_image_recon"] > 0
    final = KIND.final_metrics(h)
    assert final["best_frechet"] == min(h["frechet"]) and (final["test_recon"] is None) == (arch == "gan")
    again = KIND.train(cfg, data)  # same config and seed -> same numbers on the CPU
    assert again.history["frechet"] == h["frechet"]


TINY = """
name = "tinygen"
title = "tiny generative"
report = true

[[experiment]]
name = "generative"
kind = "generative"
title = "C.6 tiny"
set = { "data.size" = 16, "model.latent" = 4, "model.width" = 4, "optim.epochs" = 2, "optim.batch_size" = 4, "system.figures_every" = 1 }
grid = { "model.arch" = ["vae", "gan"] }
figures = [{ kind = "overview" }, { kind = "curves", metrics = ["frechet"] }, { kind = "table" }]
"""


def test_replay_with_a_folder_writes_runs_figures_and_the_c6_section(tmp_path):
    preset = tmp_path / "tinygen.toml"
    preset.write_text(TINY)
    folder = write_folder(tmp_path / "faces")
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(tmp_path / "runs"),
                                      "--data-root", str(tmp_path / "data"), "--data", f"gen={folder}",
                                      "--device", "cpu"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "1 unreadable file(s) skipped: a/b/broken.png" in result.output
    out = tmp_path / "runs" / "tinygen"
    vae = json.loads((out / "generative" / "arch=vae" / "run.json").read_text())
    assert vae["status"] == "ok" and vae["data"]["skipped_files"][0]["file"] == "a/b/broken.png"
    assert str(folder.resolve()) in vae["data"]["source"] and vae["data"]["sizes"] == {"train": 8, "test": 1}
    assert "reconstructions.png" in vae["artifacts"]
    for name in ("overview.png", "frechet.png", "final_table.md"):
        assert (out / "generative" / name).is_file(), name
    findings = [f for f in json.loads((out / "findings.json").read_text()) if f["section"] == "C.6"]
    assert len(findings) == 5
    text = (out / "REPORT.md").read_text()
    assert "## C.6 VAE and GAN (experiment `generative`)" in text
    assert "(generative/arch=gan/samples_epoch_002.png)" in text and "(generative/arch=vae/interpolation.png)" in text


def test_bad_folder_fails_in_one_line_before_anything_is_written(tmp_path):
    preset = tmp_path / "tinygen.toml"
    preset.write_text(TINY)
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(tmp_path / "runs"),
                                      "--data", f"gen={tmp_path / 'empty'}"])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1].endswith(f"gen: {tmp_path / 'empty'} holds no readable image "
                                                           "(no .jpg/.jpeg/.png files)")
    assert not (tmp_path / "runs").exists()


def test_samples_that_are_not_finite_give_nan_measures_in_line_with_the_epochs(monkeypatch):
    from engine.trainers import generative as trainer

    calls = {"n": 0}
    decode = trainer.VAEModel.decode

    def nan_from_epoch_2(self, z):  # epoch 1 decodes the evaluation and the picture latents, then NaN
        calls["n"] += 1
        out = decode(self, z)
        return out if calls["n"] <= 2 else torch.full_like(out, float("nan"))

    monkeypatch.setattr(trainer.VAEModel, "decode", nan_from_epoch_2)
    result = KIND.train(tiny("vae"), load_images("", 16, 24, 0.25, 42))
    h = result.history
    assert result.status == "diverged" and "epoch 2" in result.message
    assert h["epoch"] == [1, 2]
    for name in trainer.SAMPLE_MEASURES:
        assert len(h[name]) == 2 and math.isfinite(h[name][0]) and math.isnan(h[name][1]), name
    final = KIND.final_metrics(h)
    assert math.isnan(final["diversity"]) and final["best_frechet"] == h["frechet"][0]
