"""Image folders for binary classification (STUDY Part B, real vs fake).

Format: ``DIR/{train,val,test}/<class>/*.{jpg,jpeg,png}`` with exactly two
class folders (``fake`` and ``real`` for the study; names are read from the
folders, sorted, and the second one is the positive class whose probability
is reported). Any size and mode (grayscale, RGBA, palette) is converted to
RGB and resized to ``image_size`` x ``image_size``.

Decode once: the decoded uint8 tensors are cached under
``data/cache/images/`` keyed by the folder's file list (names, sizes, mtimes)
and the image size. Unreadable files are skipped and listed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from engine.errors import BenchError
from engine.io import atomic_path

SPLITS = ("train", "val", "test")
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


@dataclass
class ImageSplits:
    x: dict[str, torch.Tensor]  # split -> uint8 (n, 3, size, size)
    y: dict[str, torch.Tensor]  # split -> int64 (n,), 1 = class_names[1]
    files: dict[str, list[str]]  # split -> paths relative to the root
    class_names: list[str]
    source: str
    skipped: list[dict] = field(default_factory=list)  # {"file", "reason"}
    image_size: int = 64
    cache_root: Path | None = None  # where derived artefacts (weights) are cached
    root: Path | None = None  # the folder the files are relative to

    def sizes(self) -> dict[str, int]:
        return {s: int(len(self.y[s])) for s in SPLITS}

    def class_counts(self) -> dict[str, dict[str, int]]:
        return {s: {name: int((self.y[s] == i).sum()) for i, name in enumerate(self.class_names)} for s in SPLITS}


def _listing(root: Path) -> tuple[list[str], dict[str, list[tuple[Path, int]]], list[dict]]:
    """Class names, the candidate files per split, and stray files."""
    if not root.is_dir():
        raise BenchError(f"faces: {root} is not a folder")
    class_sets = {}
    for split in SPLITS:
        folder = root / split
        if not folder.is_dir():
            raise BenchError(f"faces: {folder} is missing (expected train/, val/ and test/)")
        class_sets[split] = sorted(p.name for p in folder.iterdir() if p.is_dir())
    classes = class_sets["train"]
    if len(classes) != 2:
        raise BenchError(f"faces: {root / 'train'} must hold exactly two class folders (found {len(classes)}: "
                         f"{', '.join(classes) or 'none'})")
    files: dict[str, list[tuple[Path, int]]] = {}
    stray: list[dict] = []
    for split in SPLITS:
        if class_sets[split] != classes:
            raise BenchError(f"faces: {root / split} has class folders {class_sets[split]}, expected {classes}")
        files[split] = []
        for label, name in enumerate(classes):
            folder = root / split / name
            entries = sorted(p for p in folder.rglob("*") if p.is_file())
            images = [p for p in entries if p.suffix.lower() in IMAGE_SUFFIXES]
            stray += [{"file": str(p.relative_to(root)), "reason": "not a .jpg/.jpeg/.png file"}
                      for p in entries if p.suffix.lower() not in IMAGE_SUFFIXES]
            if not images:
                raise BenchError(f"faces: {folder} holds no .jpg/.jpeg/.png images")
            files[split] += [(p, label) for p in images]
    return classes, files, stray


def _cache_key(root: Path, files: dict[str, list[tuple[Path, int]]], image_size: int) -> str:
    digest = hashlib.sha256(f"v1 {image_size}".encode())
    for split in SPLITS:
        for path, label in files[split]:
            stat = path.stat()
            digest.update(f"{path.relative_to(root)}|{label}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def decode(path: Path, image_size: int) -> np.ndarray:
    """One image as uint8 (3, size, size), RGB."""
    from PIL import Image

    with Image.open(path) as img:
        img.draft("RGB", (image_size, image_size))  # JPEG: decode at reduced scale when possible
        if img.mode in ("RGBA", "LA", "P", "PA"):
            img = img.convert("RGBA")
            background = Image.new("RGBA", img.size, (255, 255, 255, 255))
            img = Image.alpha_composite(background, img)
        img = img.convert("RGB").resize((image_size, image_size), Image.Resampling.BILINEAR, reducing_gap=2.0)
        return np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).copy()


def load_image_folder(root: str | Path, image_size: int, cache_dir: Path, source: str | None = None,
                      log=lambda line: None) -> ImageSplits:
    root = Path(root).resolve()
    classes, files, stray = _listing(root)
    key = _cache_key(root, files, image_size)
    cache = Path(cache_dir) / f"{key}.pt"
    source = source or f"folder {root}"
    if cache.is_file():
        try:
            blob = torch.load(cache, weights_only=True)
            return ImageSplits(blob["x"], blob["y"], blob["files"], blob["classes"], source,
                               blob["skipped"], image_size, root=root)
        except Exception:  # noqa: BLE001 - a damaged cache is rebuilt
            log(f"image cache {cache} unreadable; decoding again")

    x, y, names, skipped = {}, {}, {}, list(stray)
    for split in SPLITS:
        arrays, labels, kept = [], [], []
        for path, label in files[split]:
            try:
                arrays.append(decode(path, image_size))
            except Exception as exc:  # noqa: BLE001 - PIL raises many kinds for broken files
                skipped.append({"file": str(path.relative_to(root)), "reason": f"unreadable: {type(exc).__name__}"})
                continue
            labels.append(label)
            kept.append(str(path.relative_to(root)))
        for label, name in enumerate(classes):
            if label not in labels:
                raise BenchError(f"faces: {root / split / name} has no readable image")
        x[split] = torch.from_numpy(np.stack(arrays))
        y[split] = torch.tensor(labels, dtype=torch.long)
        names[split] = kept
    with atomic_path(cache) as tmp:
        torch.save({"x": x, "y": y, "files": names, "classes": classes, "skipped": skipped}, tmp)
    return ImageSplits(x, y, names, classes, source, skipped, image_size, root=root)
