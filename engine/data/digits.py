"""The ``digits`` dataset: the course's "small MNIST" (STUDY Part C, labs 1-2).

Format: a folder with four header-less CSV files,
  * ``train_in.csv`` / ``test_in.csv``: one image a row, 256 comma-separated
    values in [-1, 1] (a 16x16 grey digit, row by row);
  * ``train_out.csv`` / ``test_out.csv``: one label a row, an integer 0-9
    (``3`` or ``3.0``), row i labelling row i of the matching ``_in`` file.
Blank lines are skipped (line numbers in errors stay those of the file).

Embedded default, built offline from scikit-learn's ``load_digits`` (1,797
8x8 digits with values 0..16, shipped inside scikit-learn):
  * upscaled to 16x16 by nearest neighbour: every pixel becomes a 2x2 block
    (``np.kron``), so no information is invented and squared distances are
    exactly 4x those between the 8x8 images;
  * scaled linearly from 0..16 to [-1, 1] (v / 8 - 1; background -1);
  * split by a seeded permutation (seed 42) in the course's proportions,
    1,707 train of 2,707 (63 %): 1,133 train / 664 test.
It is a stand-in, not the course's data: its digits are smaller, blockier
and from other writers, so accuracies differ from the course's. It is
cached under the cache dir passed in (default ``data/cache/digits/``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import BenchError
from engine.io import atomic_path, read_json, write_json

SPLITS = ("train", "test")
N_PIXELS = 256
SIDE = 16
CLASS_NAMES = [str(d) for d in range(10)]
DEFAULT_DIR = Path("data/cache/digits")

SPLIT_SEED = 42
COURSE_TRAIN, COURSE_TOTAL = 1707, 2707  # the course's split sizes (1,707 + 1,000)
DEFAULT_FORMAT = 1  # bump when the embedded default changes, to rebuild caches


@dataclass
class DigitsSplits:
    """Images and labels per split, as numpy arrays."""

    x: dict[str, np.ndarray]  # split -> float64 (n, 256) in [-1, 1]
    y: dict[str, np.ndarray]  # split -> int64 (n,) in 0..9
    class_names: list[str] = field(default_factory=lambda: list(CLASS_NAMES))
    source: str = ""  # what the data is, for run.json and figures
    standin: bool = False  # the embedded default (scikit-learn's digits), not the course's files

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def sizes(self) -> dict[str, int]:
        return {s: int(len(self.y[s])) for s in SPLITS}


def load_digits(path: str | Path | None = None, cache_dir: str | Path = DEFAULT_DIR) -> DigitsSplits:
    """Load the four CSVs from ``path``; without a path, the embedded default
    (built and cached under ``cache_dir`` on first use)."""
    if path is None:
        folder = build_default(Path(cache_dir))
        meta = read_json(folder / "meta.json") or {}
        source = meta.get("source", "embedded stand-in built from scikit-learn's digits")
    else:
        folder = Path(path)
        if not folder.is_dir():
            raise BenchError(f"digits: {folder} is not a folder")
        source = f"folder {folder.resolve()}"
    x, y = {}, {}
    for split in SPLITS:
        images = _read_images(folder / f"{split}_in.csv")
        labels = _read_labels(folder / f"{split}_out.csv")
        if len(images) != len(labels):
            raise BenchError(
                f"{folder / f'{split}_in.csv'}: {len(images)} rows but "
                f"{split}_out.csv has {len(labels)} (one label per image expected)"
            )
        x[split], y[split] = images, labels
    return DigitsSplits(x=x, y=y, class_names=list(CLASS_NAMES), source=source, standin=path is None)


def _data_lines(path: Path) -> list[tuple[int, str]]:
    """(line number, text) of the non-blank lines of ``path``."""
    if not path.is_file():
        raise BenchError(
            f"{path}: file not found (expected train_in.csv, train_out.csv, test_in.csv, test_out.csv)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise BenchError(f"{path}: not a text file (not UTF-8)") from None
    lines = [(i, line.strip()) for i, line in enumerate(text.splitlines(), start=1) if line.strip()]
    if not lines:
        raise BenchError(f"{path}: no data rows")
    return lines


def _read_images(path: Path) -> np.ndarray:
    lines = _data_lines(path)
    out = np.empty((len(lines), N_PIXELS), np.float64)
    for row, (lineno, line) in enumerate(lines):
        cells = line.split(",")
        if len(cells) != N_PIXELS:
            raise BenchError(f"{path}: line {lineno}: {len(cells)} values, expected {N_PIXELS} (a 16x16 image)")
        for col, cell in enumerate(cells, start=1):
            try:
                value = float(cell)
            except ValueError:
                value = float("nan")
            if not np.isfinite(value):
                raise BenchError(f"{path}: line {lineno}, column {col}: {cell.strip()!r} is not a number")
            if not -1.0 <= value <= 1.0:
                raise BenchError(f"{path}: line {lineno}, column {col}: {cell.strip()} is outside [-1, 1]")
            out[row, col - 1] = value
    return out


def _read_labels(path: Path) -> np.ndarray:
    lines = _data_lines(path)
    out = np.empty(len(lines), np.int64)
    for row, (lineno, line) in enumerate(lines):
        try:
            value = float(line)
        except ValueError:
            value = float("nan")
        if not (np.isfinite(value) and value == int(value) and 0 <= value <= 9):
            raise BenchError(f"{path}: line {lineno}: {line!r} is not a digit label (an integer 0-9)")
        out[row] = int(value)
    return out


def standin_arrays() -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The embedded default as arrays (x, y per split), before any file is
    written: scikit-learn's digits, 2x2 nearest-neighbour upscaling, [-1, 1],
    seeded 63/37 split (see the module docstring)."""
    from sklearn.datasets import load_digits as sk_load_digits

    bunch = sk_load_digits()
    small = bunch.images.astype(np.float64)  # (1797, 8, 8), 0..16
    big = np.kron(small, np.ones((1, 2, 2)))  # (1797, 16, 16), each pixel a 2x2 block
    images = big.reshape(len(big), N_PIXELS) / 8.0 - 1.0
    labels = bunch.target.astype(np.int64)
    n_train = round(len(images) * COURSE_TRAIN / COURSE_TOTAL)
    order = np.random.default_rng(SPLIT_SEED).permutation(len(images))
    parts = {"train": np.sort(order[:n_train]), "test": np.sort(order[n_train:])}
    return {s: images[i] for s, i in parts.items()}, {s: labels[i] for s, i in parts.items()}


def build_default(cache_dir: Path = DEFAULT_DIR) -> Path:
    """Write the embedded default CSVs once; return their folder."""
    cache_dir = Path(cache_dir)
    names = [f"{s}_{part}.csv" for s in SPLITS for part in ("in", "out")]
    meta = read_json(cache_dir / "meta.json") or {}
    if meta.get("format") == DEFAULT_FORMAT and all((cache_dir / n).is_file() for n in names):
        return cache_dir
    import sklearn

    x, y = standin_arrays()
    for split in SPLITS:
        # values are multiples of 1/8, so "%g" writes them exactly
        with atomic_path(cache_dir / f"{split}_in.csv") as tmp:
            np.savetxt(tmp, x[split], fmt="%g", delimiter=",")
        with atomic_path(cache_dir / f"{split}_out.csv") as tmp:
            np.savetxt(tmp, y[split], fmt="%d")
    write_json(
        cache_dir / "meta.json",
        {
            "format": DEFAULT_FORMAT,
            "source": (
                f"embedded stand-in, not the course's data: scikit-learn {sklearn.__version__} digits "
                f"(8x8, 0..16) upscaled 2x2 to 16x16 and scaled to [-1, 1], "
                f"split {COURSE_TRAIN}/{COURSE_TOTAL} of the rows to train by seed {SPLIT_SEED}"
            ),
            "sizes": {s: int(len(y[s])) for s in SPLITS},
        },
    )
    return cache_dir
