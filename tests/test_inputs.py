"""Bad input is one line naming the file and the value at fault: CIFAR
labels that are not integers 0-9, IDX files gzipped or raw, clock labels
reported as they are in the file, presets that are not UTF-8."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchtui.cli import cli
from engine.data import mlp_vs_cnn as data_mod
from engine.data.clocks import read_folder
from engine.errors import BenchError
from engine.preset import load_preset
from tests.test_lab4 import load, write_fashion
from tests.test_lab5 import write_folder


def cifar_batch(path: Path, labels) -> Path:
    data = np.zeros((len(labels), 3072), np.uint8)
    path.write_bytes(pickle.dumps({b"data": data, b"labels": labels}))
    return path


@pytest.mark.parametrize("labels, message", [
    ([0, 3.7, 1], "label 3.7 at index 1 is not an integer (labels are 0-9)"),
    ([0, 1, 10 ** 30], f"label {10 ** 30} at index 2 is out of range 0-9"),
    ([-1, 1], "label -1 at index 0 is out of range 0-9"),
    ([0, 2 ** 63], f"label {2 ** 63} at index 1 is out of range 0-9"),
    (np.array([0.0, 2.0]), "label 0.0 at index 0 is not an integer (labels are 0-9)"),
    ([1, "2"], "label '2' at index 1 is not an integer (labels are 0-9)"),
])
def test_cifar_labels_must_be_integers_0_to_9(tmp_path: Path, labels, message):
    path = cifar_batch(tmp_path / "data_batch_1", labels)
    with pytest.raises(BenchError) as info:
        data_mod.read_cifar_batch(path)
    assert str(info.value) == f"{path}: {message}"


def test_cifar_integer_labels_of_numpy_type_are_read(tmp_path: Path):
    path = cifar_batch(tmp_path / "data_batch_1", np.array([0, 9, 4], np.uint8))
    assert data_mod.read_cifar_batch(path)[1].tolist() == [0, 9, 4]


@pytest.mark.parametrize("layout", ["flat", "torchvision"])
def test_idx_files_are_read_raw_as_well_as_gzipped(tmp_path: Path, layout):
    gz = write_fashion(tmp_path / "gz")
    raw = tmp_path / "raw" / ("FashionMNIST/raw" if layout == "torchvision" else "")
    raw.mkdir(parents=True)
    for path in gz.glob("*.gz"):  # as torchvision leaves them after extracting
        with gzip.open(path) as fh:
            (raw / path.name.removesuffix(".gz")).write_bytes(fh.read())
    a, b = load("fashion_mnist", gz), load("fashion_mnist", tmp_path / "raw")
    for split in ("train", "val", "test"):
        assert np.array_equal(a.x[split], b.x[split]) and np.array_equal(a.y[split], b.y[split])


def test_a_missing_idx_file_names_both_forms(tmp_path: Path):
    folder = write_fashion(tmp_path / "fm")
    (folder / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(BenchError, match=r"t10k-labels-idx1-ubyte.gz: file not found \(nor t10k-labels-idx1-ubyte "
                                         r"uncompressed, nor in FashionMNIST/raw/\)"):
        load("fashion_mnist", folder)


def test_a_raw_idx_file_with_a_bad_header_is_one_line(tmp_path: Path):
    folder = write_fashion(tmp_path / "fm")
    path = folder / "train-labels-idx1-ubyte.gz"
    path.unlink()
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x03" + bytes(20))
    with pytest.raises(BenchError, match=r"train-labels-idx1-ubyte: magic number 0x00000803, expected 0x00000801"):
        load("fashion_mnist", folder)


def test_a_wrapped_clock_label_is_reported_as_it_is_in_the_file(tmp_path: Path):
    folder = write_folder(tmp_path / "clocks")
    labels = np.load(folder / "labels.npy").astype(np.uint64)
    labels[4, 0] = np.iinfo(np.uint64).max  # -1 written as uint64
    np.save(folder / "labels.npy", labels)
    with pytest.raises(BenchError) as info:
        read_folder(folder)
    assert str(info.value) == (f"{folder / 'labels.npy'}: row 4: hour 18446744073709551615 is outside 0-11 "
                               "(1 such rows)")


def test_a_preset_that_is_not_utf8_is_one_line(tmp_path: Path):
    preset = tmp_path / "latin1.toml"
    preset.write_bytes('name = "caf\u00e9"\n'.encode("latin-1"))
    with pytest.raises(BenchError) as info:
        load_preset(preset)
    assert str(info.value) == (f"{preset}: not UTF-8 text (byte 0xe9 at offset 11); a preset is TOML, "
                               "which is UTF-8")
    result = CliRunner().invoke(cli, ["replay", str(preset), "--no-ui", "--runs-dir", str(tmp_path / "runs")])
    assert result.exit_code == 2 and result.output.strip().count("\n") == 0
    assert not (tmp_path / "runs").exists()
