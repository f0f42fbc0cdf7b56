"""Shared fixtures: tiny CSV folders for the cities loader and a tiny
synthetic ``CitySplits`` for the trainer (no downloads, each fit < 1 s)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from engine.config import apply_overrides
from engine.data.mlp import CitySplits

HEADER = "long,lat,country\n"
GOOD_ROWS = "1.0,2.0,3\n3.5,4.5,7\n5,6,10\n"


def write_cities(folder: Path, **splits: str | bytes | None) -> Path:
    """Write train/validation/test CSVs into ``folder``. Each split defaults to
    a valid three-row table; pass text or bytes to replace it, None to leave
    the file out."""
    folder.mkdir(parents=True, exist_ok=True)
    for split in ("train", "validation", "test"):
        content = splits.get(split, HEADER + GOOD_ROWS)
        if content is None:
            continue
        path = folder / f"{split}.csv"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    return folder


@pytest.fixture
def cities_dir(tmp_path: Path):
    """A factory: ``cities_dir(train="...")`` -> folder with the three CSVs."""

    def make(**splits: str | bytes | None) -> Path:
        return write_cities(tmp_path / "cities", **splits)

    return make


CENTERS = np.array([[-10.0, 40.0], [10.0, 50.0], [30.0, 60.0]], np.float32)


def make_blobs(n_train: int = 300, seed: int = 0, spread: float = 3.0) -> CitySplits:
    """Three well separated Gaussian clusters in (long, lat) degrees; the
    validation and test splits have n_train / 3 rows each."""
    rng = np.random.default_rng(seed)
    x, y = {}, {}
    for split, n in (("train", n_train), ("validation", n_train // 3), ("test", n_train // 3)):
        labels = rng.integers(0, 3, n)
        x[split] = (CENTERS[labels] + rng.normal(0.0, spread, (n, 2))).astype(np.float32)
        y[split] = labels.astype(np.int64)
    return CitySplits(x=x, y=y, class_names=["a", "b", "c"], source="synthetic blobs", label_values=[0, 1, 2])


@pytest.fixture
def blobs() -> CitySplits:
    return make_blobs()


@pytest.fixture
def blob_factory():
    """``blob_factory(n_train=..., seed=...)`` -> a fresh synthetic CitySplits."""
    return make_blobs


@pytest.fixture
def small_cfg():
    """A config that trains the blobs to ~100 % in a fraction of a second."""
    from engine.trainers.mlp import MLPTrainConfig

    return apply_overrides(
        MLPTrainConfig(),
        {
            "optim.epochs": 5,
            "optim.batch_size": 32,
            "optim.lr": 0.01,
            "model.depth": 2,
            "model.width": 16,
            "system.device": "cpu",
            "system.seed": 123,
        },
    )


# the files that take longest (a Ray cluster, Ray trials, the TUI) go first, so that the two processes of
# `pytest -n 2 --dist loadfile` (pyproject.toml) end together instead of one waiting on the last file
FIRST = ("test_ray_cluster.py", "test_tui.py", "test_resume.py", "test_executors.py", "test_report.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(FIRST)))
