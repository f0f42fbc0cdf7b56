"""Images for the generative lab (STUDY Part C.6): a folder of faces, or the
embedded stand-in.

Format (``--data gen=DIR``): any folder of ``.jpg`` / ``.jpeg`` / ``.png``
images, searched recursively (the course used cartoon faces). Every image is
converted to RGB (transparency composed on white), centre-cropped to a
square and resized to ``size`` x ``size``. Unreadable files are skipped and
listed (``skipped``); a folder with no readable image is an error naming it.
A seeded permutation holds out ``test_fraction`` of the images as the test
split. Decoded arrays are cached under ``data/cache/generative/`` keyed by
the folder's listing (names, sizes, mtimes) and the size; the stand-in is
cached by (count, size, seed).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import BenchError
from engine.io import atomic_path

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}
CACHE_VERSION = 1


@dataclass
class GenImages:
    """uint8 (n, 3, size, size) images, split into train and test."""

    x: dict[str, np.ndarray]  # split -> uint8 (n, 3, size, size)
    files: dict[str, list[str]]  # split -> names relative to the folder ("stand-in #i" for the stand-in)
    source: str
    size: int
    skipped: list[dict] = field(default_factory=list)  # {"file", "reason"}
    root: Path | None = None
    standin: bool = False

    def sizes(self) -> dict[str, int]:
        return {split: int(len(v)) for split, v in self.x.items()}

    def as_float(self, split: str) -> np.ndarray:
        """The split as float32 in [-1, 1]."""
        return self.x[split].astype(np.float32) / 127.5 - 1.0


def decode(path: Path, size: int) -> np.ndarray:
    """One image as uint8 (3, size, size), RGB, centre-cropped to a square."""
    from PIL import Image

    with Image.open(path) as img:
        img.draft("RGB", (size, size))  # JPEG: decode at a reduced scale when possible
        if img.mode in ("RGBA", "LA", "P", "PA"):
            img = img.convert("RGBA")
            background = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, img)
        img = img.convert("RGB")
        w, h = img.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        img = img.crop((left, top, left + side, top + side))
        img = img.resize((size, size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def listing(root: Path) -> list[Path]:
    if not root.is_dir():
        raise BenchError(f"gen: {root} is not a folder")
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _folder_key(root: Path, files: list[Path], size: int) -> str:
    digest = hashlib.sha256(f"v{CACHE_VERSION} {size}".encode())
    for path in files:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def read_folder(root: str | Path, size: int, cache_dir: Path | None = None) -> tuple[np.ndarray, list[str], list[dict]]:
    """(images uint8 (n, 3, size, size), their names, skipped files) of a folder."""
    root = Path(root).resolve()
    files = listing(root)
    cache = Path(cache_dir) / f"folder_{_folder_key(root, files, size)}.npz" if cache_dir else None
    if cache is not None and cache.is_file():
        try:
            with np.load(cache, allow_pickle=False) as blob:
                skipped = [{"file": f, "reason": r} for f, r in zip(blob["skipped_files"], blob["skipped_reasons"])]
                return blob["x"], [str(n) for n in blob["names"]], skipped
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt
            pass
    arrays, names, skipped = [], [], []
    for path in files:
        try:
            arrays.append(decode(path, size))
        except Exception as exc:  # noqa: BLE001 - PIL raises many kinds for broken files
            skipped.append({"file": str(path.relative_to(root)), "reason": f"unreadable: {type(exc).__name__}"})
            continue
        names.append(str(path.relative_to(root)))
    if not arrays:
        what = f"{len(skipped)} unreadable" if skipped else "no .jpg/.jpeg/.png"
        raise BenchError(f"gen: {root} holds no readable image ({what} files)")
    x = np.stack(arrays)
    if cache is not None:
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, x=x, names=np.asarray(names), skipped_files=np.asarray([s["file"] for s in skipped], str),
                         skipped_reasons=np.asarray([s["reason"] for s in skipped], str))
    return x, names, skipped


def standin(count: int, size: int, seed: int, cache_dir: Path | None = None) -> np.ndarray:
    """The stand-in faces (drawn once per (count, size, seed), then cached)."""
    from engine.data.generative_standin import standin_faces

    cache = Path(cache_dir) / f"standin_v{CACHE_VERSION}_{count}_{size}_{seed}.npy" if cache_dir else None
    if cache is not None and cache.is_file():
        try:
            x = np.load(cache, allow_pickle=False)
            if x.shape == (count, 3, size, size) and x.dtype == np.uint8:
                return x
        except Exception:  # noqa: BLE001 - a damaged cache is drawn again
            pass
    x = standin_faces(count, size, seed)
    if cache is not None:
        with atomic_path(cache) as tmp:
            with open(tmp, "wb") as fh:
                np.save(fh, x)
    return x


def split(x: np.ndarray, names: list[str], test_fraction: float, seed: int) -> tuple[dict, dict]:
    """A seeded hold-out: at least one image in each split when there are two or more."""
    n = len(x)
    n_test = int(round(n * test_fraction))
    n_test = min(max(n_test, 1 if n >= 2 else 0), n - 1) if n >= 2 else 0
    order = np.random.default_rng(seed).permutation(n)
    test, train = np.sort(order[:n_test]), np.sort(order[n_test:])
    return ({"train": x[train], "test": x[test]},
            {"train": [names[i] for i in train], "test": [names[i] for i in test]})


def load_images(path: str, size: int, count: int, test_fraction: float, seed: int,
                cache_dir: Path | None = None) -> GenImages:
    """A folder (``path``) or, when ``path`` is empty, ``count`` stand-in faces."""
    from engine.data.generative_standin import SOURCE_PREFIX

    if path:
        root = Path(path).resolve()
        x, names, skipped = read_folder(root, size, cache_dir)
        source = f"folder {root}"
        if skipped:
            source += f" ({len(skipped)} unreadable file(s) skipped)"
        xs, files = split(x, names, test_fraction, seed)
        return GenImages(xs, files, source, size, skipped, root)
    x = standin(count, size, seed, cache_dir)
    xs, files = split(x, [f"stand-in #{i}" for i in range(count)], test_fraction, seed)
    source = f"{SOURCE_PREFIX} ({count} faces, seed {seed}; not real data)"
    return GenImages(xs, files, source, size, [], None, standin=True)
