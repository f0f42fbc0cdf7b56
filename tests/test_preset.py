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


def test_seeds_repeat_every_run_and_name_the_seed_last(tmp_path: Path):
    path = tmp_path / "p.toml"
    path.write_text('seeds = [1, 2]\n[[experiment]]\nname = "a"\ngrid = { lr = [0.1, 0.01] }\n'
                    '[[experiment]]\nname = "b"\nseeds = [7]\n')
    a, b = load_preset(path).experiments
    assert [run_name(r) for r in a.runs] == ["lr=0.1,seed=1", "lr=0.1,seed=2", "lr=0.01,seed=1", "lr=0.01,seed=2"]
    assert a.seeds == [1, 2] and b.seeds == [7] and [run_name(r) for r in b.runs] == ["seed=7"]


@pytest.mark.parametrize("text, message", [
    ('[[experiment]]\nname = "a"\nseeds = []\n', "'seeds' must be a non-empty list of whole numbers"),
    ('[[experiment]]\nname = "a"\nseeds = [1, 1]\n', "'seeds' lists a seed twice"),
    ('[[experiment]]\nname = "a"\nseeds = [1.5]\n', "'seeds' must be a non-empty list"),
    ('[[experiment]]\nname = "a"\nseeds = [1, 2]\ngrid = { "system.seed" = [3, 4] }\n',
     "give either 'seeds' or a value of system.seed"),
])
def test_bad_seeds_fail_with_file_and_line(tmp_path: Path, text: str, message: str):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(BenchError) as info:
        load_preset(path)
    assert message in str(info.value) and f"{path}:" in str(info.value)


def test_seeds_option_repeats_every_setting_from_the_experiment_seed(tmp_path: Path):
    from engine.study import ReplayOptions, plan

    path = tmp_path / "p.toml"
    path.write_text('[defaults]\n"system.seed" = 10\n[[experiment]]\nname = "a"\ngrid = { lr = [0.1, 0.01] }\n'
                    '[[experiment]]\nname = "b"\nseeds = [3, 4]\n')
    # planning loads the data: point it at a tiny folder
    from tests.test_cli import write_cities

    data = write_cities(tmp_path / "cities")
    the_plan = plan(load_preset(path), ReplayOptions(runs_dir=tmp_path / "runs", seeds=3,
                                                     data_paths={"cities": str(data)}))
    names = [(r.experiment.name, r.name, r.group, r.config.system.seed) for r in the_plan.runs]
    assert names[:3] == [("a", "lr=0.1,seed=10", "lr=0.1", 10), ("a", "lr=0.1,seed=11", "lr=0.1", 11),
                         ("a", "lr=0.1,seed=12", "lr=0.1", 12)]
    assert [n[1] for n in names if n[0] == "b"] == ["seed=3", "seed=4", "seed=5"]
