"""Lab 4 (STUDY Part C.4), kind ``mlp_vs_cnn``: the IDX and CIFAR readers on
tiny fixture files (good ones and each error), the stand-ins' determinism, a
tiny fit, and a replay with --data fashion_mnist=DIR --data cifar10=DIR
through the CLI: run.json, figures, the report's C.4 section."""

from __future__ import annotations

import gzip
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchtui.cli import cli
from engine.config import apply_overrides
from engine.data import mlp_vs_cnn as data_mod
from engine.errors import BenchError
from engine.kinds import datasets, get_kind
from engine.preset import load_preset

ROOT = Path(__file__).resolve().parent.parent


# ------------------------------------------------------------------ fixtures
def idx_bytes(arr: np.ndarray, magic: int) -> bytes:
    return struct.pack(">I", magic) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.astype(np.uint8).tobytes()


def write_gz(path: Path, payload: bytes) -> None:
    with gzip.open(path, "wb") as fh:
        fh.write(payload)


def write_fashion(folder: Path, train: int = 40, test: int = 20, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, prefix in (("train", train, "train"), ("test", test, "t10k")):
        y = np.arange(n) % 10
        x = rng.integers(0, 60, (n, 28, 28))
        x[np.arange(n), 2 + 2 * y, :] = 250  # a bright row whose height is the class: learnable
        write_gz(folder / f"{prefix}-images-idx3-ubyte.gz", idx_bytes(x, 0x803))
        write_gz(folder / f"{prefix}-labels-idx1-ubyte.gz", idx_bytes(y, 0x801))
    return folder


def write_cifar(parent: Path, per_batch: int = 10, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    folder = parent / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = [int(v) for v in rng.integers(0, 10, per_batch)]
        batch = {b"batch_label": name.encode(), b"labels": labels,
                 b"data": rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8)}
        (folder / name).write_bytes(pickle.dumps(batch))
    names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog", b"horse", b"ship", b"truck"]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names, b"num_vis": 3072}))
    return folder


def load(name: str, path, **kw):
    args = {"train_per_class": 10_000, "test_per_class": 10_000, "val_fraction": 0.25, "seed": 0, **kw}
    return data_mod.load(name, path, cache_dir=None, **args)


# ------------------------------------------------------------------ readers
def test_fashion_reader_reads_the_idx_files(tmp_path):
    folder = write_fashion(tmp_path / "fm")
    data = load("fashion_mnist", folder)
    assert data.sizes() == {"train": 30, "val": 10, "test": 20}
    assert data.shape == (1, 28, 28) and data.x["train"].dtype == np.uint8
    assert data.class_names[0] == "T-shirt/top" and not data.standin
    with gzip.open(folder / "t10k-images-idx3-ubyte.gz") as fh:
        raw = fh.read()
    assert np.array_equal(data.x["test"][:, 0], np.frombuffer(raw, np.uint8, offset=16).reshape(20, 28, 28))
    assert str(folder.resolve()) in data.source
    train_val = np.concatenate([data.y["train"], data.y["val"]])
    assert sorted(train_val) == sorted(np.arange(40) % 10)  # the split is a partition of train
    again = load("fashion_mnist", folder)
    assert np.array_equal(again.y["val"], data.y["val"])  # seeded
    assert not np.array_equal(load("fashion_mnist", folder, seed=1).x["val"], data.x["val"])
    capped = load("fashion_mnist", folder, train_per_class=2, test_per_class=1)
    assert capped.sizes()["train"] + capped.sizes()["val"] == 20 and capped.sizes()["test"] == 10


def rewrite(folder: Path, name: str, payload: bytes, gz: bool = True) -> Path:
    path = folder / name
    write_gz(path, payload) if gz else path.write_bytes(payload)
    return path


@pytest.mark.parametrize(("name", "damage", "message"), [
    ("train-images-idx3-ubyte.gz", lambda raw: raw[:-100], "truncated: 31260 bytes of data"),
    ("train-labels-idx1-ubyte.gz", lambda raw: raw[:-1] + bytes([10]), "label 10 at index 39 is out of range 0-9"),
    ("t10k-images-idx3-ubyte.gz", lambda raw: struct.pack(">I", 0x801) + raw[4:], "magic number 0x00000801"),
    ("t10k-labels-idx1-ubyte.gz", lambda raw: raw[:4] + struct.pack(">I", 17) + raw[8:-3],
     "17 labels but t10k-images-idx3-ubyte.gz has 20 images"),
    ("t10k-labels-idx1-ubyte.gz", lambda raw: raw[:-3], "truncated: 17 bytes of data, the header says 20"),
    ("t10k-images-idx3-ubyte.gz", lambda raw: raw[:4] + struct.pack(">I", 20) + struct.pack(">I", 27) + raw[12:],
     "dimension 1 is 27, expected 28"),
    ("train-labels-idx1-ubyte.gz", lambda raw: raw[:2], "truncated: 2 bytes"),
])
def test_fashion_reader_names_the_file_and_the_fault(tmp_path, name, damage, message):
    folder = write_fashion(tmp_path / "fm")
    with gzip.open(folder / name) as fh:
        raw = fh.read()
    rewrite(folder, name, damage(raw))
    with pytest.raises(BenchError) as err:
        load("fashion_mnist", folder)
    text = str(err.value)
    assert name in text and message in text and "\n" not in text, text


def test_fashion_reader_refuses_a_cut_gzip_and_a_missing_file(tmp_path):
    folder = write_fashion(tmp_path / "fm")
    gz = (folder / "train-images-idx3-ubyte.gz").read_bytes()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(gz[: len(gz) // 2])
    with pytest.raises(BenchError, match=r"train-images-idx3-ubyte.gz: not a readable gzip file"):
        load("fashion_mnist", folder)
    (folder / "train-images-idx3-ubyte.gz").unlink()
    with pytest.raises(BenchError, match=r"train-images-idx3-ubyte.gz: file not found"):
        load("fashion_mnist", folder)


def test_fashion_reader_refuses_bad_deflate_data_in_one_line(tmp_path):
    folder = write_fashion(tmp_path / "fm")
    path = folder / "t10k-labels-idx1-ubyte.gz"
    gz = bytearray(path.read_bytes())
    assert gz[3] == 0x08  # header flags: only FNAME (gzip.open stores the file name, NUL-terminated)
    start = gz.index(0, 10) + 1  # the deflate stream
    gz[start] |= 0b110  # the first block's type bits -> 11, reserved: zlib.error, not an OSError
    path.write_bytes(bytes(gz))
    with pytest.raises(BenchError) as err:
        load("fashion_mnist", folder)
    text = str(err.value)
    assert text.startswith(f"{path}: not a readable gzip file (error:") and "\n" not in text, text


def cifar_batch_bytes(protocol: int, numpy_core: bool = False) -> bytes:
    """A batch pickled the way the real ones are: data, labels, batch_label, filenames."""
    batch = {b"batch_label": b"training batch 1 of 5", b"labels": [3, 7],
             b"data": np.arange(2 * 3072).astype(np.uint8).reshape(2, 3072), b"filenames": [b"a.png", b"b.png"]}
    raw = pickle.dumps(batch, protocol=protocol)
    # the real batches (Python 2, numpy 1) name numpy.core, not numpy 2's numpy._core
    return raw.replace(b"numpy._core.", b"numpy.core.") if numpy_core else raw


@pytest.mark.parametrize(("protocol", "numpy_core"), [(2, True), (2, False), (4, False), (5, False)])
def test_cifar_reader_reads_batches_pickled_with_each_protocol(tmp_path, protocol, numpy_core):
    path = tmp_path / "data_batch_1"
    path.write_bytes(cifar_batch_bytes(protocol, numpy_core))
    x, y = data_mod.read_cifar_batch(path)
    assert x.shape == (2, 3, 32, 32) and x.reshape(2, 3072)[1, 5] == (3072 + 5) % 256 and list(y) == [3, 7]


class RunsACommand:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch '{self.marker}'",)


def test_cifar_reader_refuses_a_pickle_that_would_run_code(tmp_path):
    folder = write_cifar(tmp_path)
    marker = tmp_path / "it-ran"
    payload = pickle.dumps({b"data": RunsACommand(marker), b"labels": [0]})
    assert b"system" in payload
    (folder / "data_batch_2").write_bytes(payload)
    with pytest.raises(BenchError) as err:
        load("cifar10", tmp_path)
    text = str(err.value)
    assert text.startswith(f"{folder / 'data_batch_2'}: not a CIFAR batch") and "\n" not in text, text
    assert "system" in text and not marker.exists()


@pytest.mark.parametrize("which", ["parent", "batches"])
def test_cifar_reader_reads_the_batches_from_either_folder(tmp_path, which):
    folder = write_cifar(tmp_path)
    data = load("cifar10", tmp_path if which == "parent" else folder)
    assert data.sizes() == {"train": 38, "val": 12, "test": 10}
    assert data.shape == (3, 32, 32) and data.class_names[:2] == ["airplane", "automobile"]
    batch = pickle.loads((folder / "test_batch").read_bytes())
    assert np.array_equal(data.x["test"].reshape(10, 3072), batch[b"data"])
    assert list(data.y["test"]) == batch[b"labels"]
    assert "cifar-10-batches-py" in data.source


@pytest.mark.parametrize(("name", "content", "message"), [
    ("data_batch_3", b"this is not a pickle", "not a python pickle"),
    ("data_batch_2", pickle.dumps([1, 2, 3]), "holds a list, not a CIFAR-10 dict"),
    ("test_batch", pickle.dumps({b"images": 1}), "not a CIFAR-10 batch (no 'data' and 'labels'"),
    ("data_batch_1", pickle.dumps({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}),
     "'data' is uint8 (2, 100), expected uint8 (n, 3072)"),
    ("data_batch_5", pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}),
     "label 10 at index 1 is out of range 0-9"),
    ("data_batch_4", pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0]}), "1 labels for 2 images"),
    ("batches.meta", pickle.dumps({b"label_names": [b"a"]}), "no list of 10 'label_names'"),
    ("test_batch", None, "file not found"),
])
def test_cifar_reader_names_the_file_and_the_fault(tmp_path, name, content, message):
    folder = write_cifar(tmp_path)
    if content is None:
        (folder / name).unlink()
    else:
        (folder / name).write_bytes(content)
    with pytest.raises(BenchError) as err:
        load("cifar10", tmp_path)
    text = str(err.value)
    assert str(folder / name) in text and message in text and "\n" not in text, text


# ------------------------------------------------------------------ stand-ins
def test_standins_are_deterministic_prefix_stable_and_labelled(tmp_path):
    for name, shape in (("fashion_mnist", (1, 28, 28)), ("cifar10", (3, 32, 32))):
        x1, y1 = data_mod.standin_split(name, "train", 3, seed=7)
        x2, y2 = data_mod.standin_split(name, "train", 3, seed=7)
        x3, _ = data_mod.standin_split(name, "train", 5, seed=7)
        x4, _ = data_mod.standin_split(name, "train", 3, seed=8)
        assert x1.shape == (30,) + shape and x1.dtype == np.uint8 and list(y1[:10]) == list(range(10))
        assert np.array_equal(x1, x2) and np.array_equal(y1, y2)
        assert np.array_equal(x3[:30], x1)  # a smaller stand-in is the start of a larger one
        assert not np.array_equal(x1, x4)
        assert x1.std() > 10  # drawn, not blank
        data = data_mod.load(name, None, 4, 2, 0.25, 7, cache_dir=tmp_path)
        assert data.standin and "STAND-IN" in data.source and data.sizes() == {"train": 30, "val": 10, "test": 20}
        cached = data_mod.load(name, None, 4, 2, 0.25, 7, cache_dir=tmp_path)  # from the .npz
        assert np.array_equal(cached.x["train"], data.x["train"])
    assert len(list(tmp_path.glob("*.npz"))) == 2


# ------------------------------------------------------------------ kind and fit
def tiny_config(**values):
    kind = get_kind("mlp_vs_cnn")
    base = {"data.train_per_class": 6, "data.test_per_class": 3, "optim.epochs": 1, "optim.batch_size": 16,
            "model.hidden": "16,8", "model.channels": "4,8", "model.dense": 8, "system.threads": 1}
    return kind, apply_overrides(kind.config_type(), {**base, **values})


@pytest.mark.parametrize(("dataset", "arch"), [("fashion_mnist", "cnn"), ("cifar10", "mlp"), ("cifar10", "cnn")])
def test_a_tiny_fit_streams_every_split_and_returns_a_picklable_model(tmp_path, dataset, arch):
    kind, cfg = tiny_config(**{"data.dataset": dataset, "model.arch": arch, "optim.epochs": 2})
    data = kind.load_data(cfg, tmp_path)
    side = 28 if dataset == "fashion_mnist" else 32
    preview = kind.preview(data)
    assert preview.image.shape == (4 * side, 8 * side, 3) and "STAND-IN" in preview.text
    assert kind.describe_data(data)["sizes"] == {"train": 54, "val": 6, "test": 30}
    result = kind.train(cfg, data)
    assert result.status == "ok", result.message
    h = result.history
    assert h["epoch"] == [1, 2] and h["iterations_per_epoch"] == 4  # 54 training images, batches of 16
    for split in ("train", "val", "test"):
        assert len(h[f"{split}_accuracy"]) == 2 and 0 <= h[f"{split}_accuracy"][-1] <= 1
        assert np.isfinite(h[f"{split}_loss"]).all()
    assert len(h["step_loss"]) == 8
    restored = pickle.loads(pickle.dumps((result.model, result.extra)))  # crosses process boundaries
    assert all(v.device.type == "cpu" for v in restored[0].values())
    assert restored[1]["mlp_vs_cnn"]["arch"] == arch and restored[1]["mlp_vs_cnn"]["standin"]
    again = kind.train(cfg, data)
    assert again.history["val_loss"] == h["val_loss"]  # same config and seed, same numbers


def test_the_kind_is_registered_with_both_datasets_and_refuses_bad_configs():
    kind = get_kind("mlp_vs_cnn")
    assert datasets()["fashion_mnist"] is kind and datasets()["cifar10"] is kind
    for values, message in (({"model.hidden": ""}, "model.hidden"), ({"data.val_fraction": 1.0}, "val_fraction"),
                            ({"model.arch": "cnn", "model.channels": ""}, "model.channels")):
        with pytest.raises(BenchError, match=message):
            kind.check_config(tiny_config(**values)[1])


def test_presets_run_the_lab(tmp_path):
    for preset in ("labs", "quick", "report"):
        loaded = load_preset(ROOT / "presets" / f"{preset}.toml")
        exp = next(e for e in loaded.experiments if e.name == "mlp_vs_cnn")
        assert exp.kind == "mlp_vs_cnn", preset
        kind = get_kind(exp.kind)
        settings = [{**exp.settings, **run} for run in exp.runs]
        seeds = sorted({s.get("system.seed") for s in settings})
        assert sorted((s["model.arch"], s["data.dataset"]) for s in settings) == sorted(
            (a, d) for a in ("mlp", "cnn") for d in ("fashion_mnist", "cifar10") for _ in seeds)
        if preset == "report":  # every seed-dependent lab on at least 3 seeds
            assert len(seeds) >= 3
        for s in settings:
            kind.check_config(apply_overrides(kind.config_type(), s))


# ------------------------------------------------------------------ replay
TINY = """
name = "tinylab4"
title = "tiny lab 4"
report = true

[[experiment]]
name = "mlp_vs_cnn"
kind = "mlp_vs_cnn"
title = "C.4 tiny"
set = { "optim.epochs" = 2, "optim.batch_size" = 8, "model.hidden" = [32, 16, 8], "model.channels" = [4, 8, 8], "model.dense" = 16, "data.val_fraction" = 0.25, "system.threads" = 1 }
grid = { "model.arch" = ["mlp", "cnn"], "data.dataset" = ["fashion_mnist", "cifar10"] }
figures = [{ kind = "table" }, { kind = "accuracy_curves" }]
"""


def invoke(root: Path, *data: str):
    preset = root / "tinylab4.toml"
    preset.write_text(TINY)
    args = ["replay", str(preset), "--no-ui", "--runs-dir", str(root / "runs"), "--data-root", str(root / "data")]
    for item in data:
        args += ["--data", item]
    return CliRunner().invoke(cli, args)


def test_replay_reads_both_folders_and_writes_the_table_figures_and_report(tmp_path):
    fm, cifar = write_fashion(tmp_path / "fm"), write_cifar(tmp_path / "cf")
    result = invoke(tmp_path, f"fashion_mnist={fm}", f"cifar10={tmp_path / 'cf'}")
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "tinylab4"
    for dataset, folder in (("fashion_mnist", fm), ("cifar10", cifar)):
        for arch in ("mlp", "cnn"):
            record = json.loads((out / "mlp_vs_cnn" / f"arch={arch},dataset={dataset}" / "run.json").read_text())
            assert record["status"] == "ok" and record["data"]["name"] == dataset
            assert str(folder.resolve()) in record["data"]["source"]
            assert record["final"]["test_accuracy"] == record["history"]["test_accuracy"][-1]
            assert record["mlp_vs_cnn"]["parameters"] > 0
            assert (out / "mlp_vs_cnn" / f"arch={arch},dataset={dataset}" / "model.pt").is_file()
    assert not (tmp_path / "data").exists()  # no stand-in was drawn
    rows = json.loads((out / "mlp_vs_cnn" / "accuracy_table.json").read_text())
    assert [(r["dataset"], r["arch"]) for r in rows] == [("fashion_mnist", "mlp"), ("fashion_mnist", "cnn"),
                                                         ("cifar10", "mlp"), ("cifar10", "cnn")]
    for name in ("accuracy_table.png", "accuracy_table.md", "accuracy_curves.png"):
        assert (out / "mlp_vs_cnn" / name).is_file(), name
    report = (out / "REPORT.md").read_text()
    assert "## C.4 MLP vs CNN (experiment `mlp_vs_cnn`)" in report and "| Fashion-MNIST | MLP |" in report
    findings = json.loads((out / "findings.json").read_text())
    assert {f["section"] for f in findings} == {"C.4"} and len(findings) == 4
    assert all(f["verdict"] != "not measured" for f in findings)
    # every finding rests on the test images: a paired interval (or a Wilson one) over the folders' test split
    assert all(f["n"] > 0 and f["interval"] is not None and not f["standin"] for f in findings)


def test_replay_stops_on_bad_data_in_one_line_before_training(tmp_path):
    fm = write_fashion(tmp_path / "fm")
    with gzip.open(fm / "t10k-labels-idx1-ubyte.gz") as fh:
        raw = fh.read()
    rewrite(fm, "t10k-labels-idx1-ubyte.gz", raw[:-1] + bytes([12]))
    write_cifar(tmp_path / "cf")
    result = invoke(tmp_path, f"fashion_mnist={fm}", f"cifar10={tmp_path / 'cf'}")
    assert result.exit_code == 2
    assert "t10k-labels-idx1-ubyte.gz: label 12 at index 19 is out of range 0-9" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "runs" / "tinylab4" / "mlp_vs_cnn").exists()


def test_labs_preset_plans_with_both_folders(tmp_path):
    from engine.study import ReplayOptions, plan

    fm, cifar = write_fashion(tmp_path / "fm"), write_cifar(tmp_path / "cf")
    options = ReplayOptions(runs_dir=tmp_path / "runs", data_root=tmp_path / "data", only=["mlp_vs_cnn"],
                            data_paths={"fashion_mnist": str(fm), "cifar10": str(tmp_path / "cf")})
    planned = plan(load_preset(ROOT / "presets" / "labs.toml"), options)
    paths = {(r.config.data.dataset, r.config.model.arch): r.config.data.path for r in planned.runs}
    assert paths == {("fashion_mnist", "mlp"): str(fm.resolve()), ("fashion_mnist", "cnn"): str(fm.resolve()),
                     ("cifar10", "mlp"): str((tmp_path / "cf").resolve()),
                     ("cifar10", "cnn"): str((tmp_path / "cf").resolve())}
    loaded = {key[1]: data for key, data in planned.datasets.items()}
    assert loaded["cifar10"].source == f"folder {cifar.resolve()}" and loaded["fashion_mnist"].sizes()["test"] == 20
