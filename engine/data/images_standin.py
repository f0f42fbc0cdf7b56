"""The embedded stand-in for the real/fake faces folder (offline).

No face dataset ships with the installed packages, so the bench makes a
*stand-in* with the same layout and the same kind of question (is this image
untouched, or was part of it synthesised?) from the photographs that
installed packages do ship: scikit-learn's ``china.jpg`` and ``flower.jpg``
and matplotlib's ``grace_hopper.jpg``.

* ``real``: a random square crop of a photo (random size, position, flip).
* ``fake``: such a crop in which a face-sized ellipse near the centre was
  replaced by the same picture shifted a little, re-synthesised at low
  resolution and upsampled (the blur and the seam are the generator's
  traces), blended in with a soft edge.

Generated deterministically (seed 42) once into ``data/cache/faces_standin/``
with the study's split sizes (val 200, test 400; train 1,000), and labelled
as a stand-in everywhere it is used.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from engine.io import atomic_path, read_json, write_json

NATIVE_SIZE = 96
SPLIT_SIZES = {"train": 1000, "val": 200, "test": 400}
SEED = 42
SOURCE = ("embedded STAND-IN for real/fake faces: crops of photos shipped by scikit-learn and matplotlib; "
          "'fake' = a face-sized ellipse shifted, re-synthesised at low resolution and blended in (not real faces)")
VERSION = 2


def source_photos() -> list[np.ndarray]:
    """The photos the stand-in is cut from, as RGB uint8 arrays."""
    import matplotlib
    import sklearn.datasets
    from PIL import Image

    sklearn_dir = Path(sklearn.datasets.__file__).parent / "images"
    paths = [sklearn_dir / "china.jpg", sklearn_dir / "flower.jpg",
             Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"]
    return [np.asarray(Image.open(p).convert("RGB")) for p in paths]


def random_crop(photo: np.ndarray, rng: np.random.Generator, size: int = NATIVE_SIZE):
    from PIL import Image

    h, w = photo.shape[:2]
    side = int(rng.integers(size, min(h, w) // 2 + 1))
    top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    img = Image.fromarray(photo[top : top + side, left : left + side]).resize((size, size), Image.Resampling.BILINEAR)
    if rng.random() < 0.5:
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return img


def make_fake(photos: list[np.ndarray], rng: np.random.Generator, size: int = NATIVE_SIZE):
    from PIL import Image, ImageDraw, ImageFilter

    base = random_crop(photos[int(rng.integers(len(photos)))], rng, size)
    shift = tuple(int(v) for v in rng.integers(-size // 8, size // 8 + 1, 2))
    donor = base.transform(base.size, Image.Transform.AFFINE, (1, 0, shift[0], 0, 1, shift[1]),
                           resample=Image.Resampling.BILINEAR, fillcolor=None)
    low = int(size * rng.uniform(0.2, 0.4))  # the "generator" works at low resolution
    donor = donor.resize((low, low), Image.Resampling.BILINEAR).resize((size, size), Image.Resampling.BILINEAR)
    rx, ry = size * rng.uniform(0.22, 0.32), size * rng.uniform(0.28, 0.38)
    cx, cy = size / 2 + rng.uniform(-0.1, 0.1) * size, size / 2 + rng.uniform(-0.1, 0.1) * size
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(size * 0.03))
    return Image.composite(donor, base, mask)


def build_standin(cache_dir: Path) -> Path:
    """Write the stand-in folder once; return it."""
    root = Path(cache_dir)
    meta = read_json(root / "meta.json")
    if isinstance(meta, dict) and meta.get("version") == VERSION:
        return root
    photos = source_photos()
    rng = np.random.default_rng(SEED)
    for split, count in SPLIT_SIZES.items():
        for i in range(count):
            label = "fake" if i % 2 else "real"
            img = make_fake(photos, rng) if label == "fake" else random_crop(photos[int(rng.integers(len(photos)))], rng)
            with atomic_path(root / split / label / f"{split}_{i:04d}.png") as tmp:
                img.save(tmp, format="PNG", compress_level=1)  # fast; PNG is lossless at every level
    write_json(root / "meta.json", {"version": VERSION, "source": SOURCE, "sizes": SPLIT_SIZES, "seed": SEED})
    return root
