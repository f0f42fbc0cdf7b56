"""Preset parsing: good presets plan the right runs; bad ones fail early
with one line naming the file, line and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.errors import BenchError
from engine.preset import load_preset, run_name

REPO = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(text)
    return path


def test_shipped_mlp_preset_covers_part_a():
    preset = load_preset(REPO / "presets" / "mlp.toml")
    runs = {e.name: e.runs for e in preset.experiments}
    assert [r["optim.lr"] for r in runs["lr"] if not r["model.batchnorm"]] == [1.0, 0.01, 0.001, 0.00001]
    assert [(r["optim.batch_size"], r["optim.epochs"]) for r in runs["batch_size"]] == [
        (1, 1), (16, 10), (128, 50), (1024, 50)]
    assert [(r["model.depth"], r["model.width"]) for r in runs["depth_width"]] == [
        (1, 16), (2, 16), (6, 16), (10, 16), (6, 8), (6, 32), (6, 64)]
    gradients = next(e for e in preset.experiments if e.name == "gradients")
    assert gradients.settings["model.depth"] == 100 and gradients.settings["model.width"] == 4
    assert len(runs["sine"]) == 2


def test_grid_is_a_product_and_zip_pairs(tmp_path: Path):
    preset = load_preset(write(tmp_path, """
[[experiment]]
name = "a"
grid = { lr = [0.1, 0.01], batchnorm = [false, true] }
zip = { depth = [1, 2], width = [4, 8] }
"""))
    runs = preset.experiments[0].runs
    assert len(runs) == 8
    assert runs[0] == {"optim.lr": 0.1, "model.batchnorm": False, "model.depth": 1, "model.width": 4}
    assert run_name(runs[0]) == "lr=0.1,batchnorm=false,depth=1,width=4"


@pytest.mark.parametrize(
    "text, message",
    [
        ('name = "x"\n[[experiment]\nname = "a"\n', "TOML syntax error"),
        ('name = "x"\n', "no [[experiment]] tables"),
        ('colour = 1\n[[experiment]]\nname = "a"\n', ":1: unknown top-level key 'colour'"),
        ('[[experiment]]\nname = "a"\nkind = "svm"\n', ":3: experiment 'a': unknown kind 'svm'"),
        ('[[experiment]]\nname = "a"\nsweep = {}\n', ":3: experiment 'a': unknown key 'sweep'"),
        ('[[experiment]]\nname = "a"\nset = { "optim.lrate" = 1 }\n', ":3: experiment 'a', set: unknown key 'optim.lrate'"),
        ('[[experiment]]\nname = "a"\nset = { epochs = "ten" }\n',
         ":3: experiment 'a': bad value for 'optim.epochs': 'ten' is not an int"),
        ('[[experiment]]\nname = "a"\n\ngrid = { lr = [] }\n', ":4: experiment 'a', grid: 'optim.lr' must be a non-empty list"),
        ('[[experiment]]\nname = "a"\nzip = { lr = [0.1], depth = [1, 2] }\n', "zip: all lists must have the same length"),
        ('[[experiment]]\nname = "a"\nfigures = [{ kind = "pie" }]\n', "unknown figure kind 'pie'"),
        ('[[experiment]]\nname = "a"\nfigures = [{ kind = "curves", metrics = ["vall_loss"] }]\n',
         "unknown metric 'vall_loss'"),
        ('[[experiment]]\nname = "a"\n[[experiment]]\nname = "a"\n', "experiment name 'a' is used twice"),
        ('name = ".."\n[[experiment]]\nname = "a"\n', ":1: 'name' must be a plain folder name"),
        ('[[experiment]]\nname = "a"\ngrid = { lr = [0.1] }\nzip = { "optim.lr" = [0.3] }\n',
         "'optim.lr' is set in more than one of set/grid/zip"),
        ('[[experiment]]\nname = "a"\ngrid = { lr = [0.001, 0.0010000001] }\n',
         "two runs would share the folder 'lr=0.001'"),
    ],
)
def test_malformed_presets_fail_with_file_line_and_key(tmp_path: Path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(BenchError) as info:
        load_preset(path)
    assert str(info.value).startswith(str(path))
    assert message in str(info.value)
    assert "\n" not in str(info.value)
