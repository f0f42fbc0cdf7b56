"""The two datasets of lab 4 (STUDY Part C.4): Fashion-MNIST and CIFAR-10.

Formats, as their authors distribute them:
  * ``fashion_mnist``: a folder with the four IDX files
    ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
    ``t10k-images-idx3-ubyte.gz``, ``t10k-labels-idx1-ubyte.gz``, gzipped as
    distributed or raw (the same names without ``.gz``, as torchvision
    leaves them after extracting, also in its ``FashionMNIST/raw/``). IDX: two
    zero bytes, a type byte (0x08 = unsigned byte), the number of dimensions,
    each dimension as a big-endian uint32, then the values row by row
    (images: magic 0x00000803, n x 28 x 28; labels: 0x00000801, n).
  * ``cifar10``: the python batches ``data_batch_1`` ... ``data_batch_5``,
    ``test_batch`` (pickled dicts: ``data`` (n, 3072) uint8, the red, green
    and blue 32x32 planes; ``labels``, n integers 0-9) and ``batches.meta``
    (``label_names``), in ``cifar-10-batches-py/`` or the folder given.

A validation split is carved from the training images by a seeded
permutation (``val_fraction``, ``seed``). ``train_per_class`` /
``test_per_class`` cap a real folder's images per class (the first ones of
a seeded order; a cap above the class size keeps them all).

Embedded stand-ins (offline; nothing is downloaded), drawn by the bench with
PIL, deterministic from the seed, and labelled as stand-ins everywhere:
  * for ``fashion_mnist``: 28x28 grey images of 10 drawn shapes (disc, ring,
    square, frame, triangle, plus, cross, bars, diamond, tee), light on dark,
    jittered in position (±4 px), size, rotation (±20°), stroke width and
    brightness, crossed by faint strokes, with pixel noise;
  * for ``cifar10``: 32x32 colour images of the same 10 shapes in a random
    colour, anywhere in the image at a random size, on a random colour
    gradient cluttered with random lines, blobs and boxes: a shape's class
    does not depend on where it is, so translation invariance matters.
The image i of class c of a split is drawn from its own seeded generator,
so a smaller stand-in is the first images of a larger one. Stand-ins are
cached under ``data/cache/mlp_vs_cnn/``.
"""

from __future__ import annotations

import gzip
import pickle
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from engine.errors import BenchError
from engine.io import atomic_path

SPLITS = ("train", "val", "test")
DATASETS = ("fashion_mnist", "cifar10")
SHAPES = ("disc", "ring", "square", "frame", "triangle", "plus", "cross", "bars", "diamond", "tee")
IDX_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
             "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}
CIFAR_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR_DIR = "cifar-10-batches-py"
STANDIN_VERSION = 2
STANDIN_SOURCE = {
    "fashion_mnist": "embedded STAND-IN for Fashion-MNIST (not Fashion-MNIST): 28x28 grey drawings of 10 shapes, "
                     "jittered in position, size, rotation, stroke and brightness, crossed by faint strokes, "
                     "with noise",
    "cifar10": "embedded STAND-IN for CIFAR-10 (not CIFAR-10): 32x32 colour drawings of 10 shapes at random "
               "positions and sizes on cluttered colour backgrounds",
}


@dataclass
class ImageSet:
    """Images per split as uint8 (n, channels, height, width), labels int64."""

    name: str  # the dataset: fashion_mnist or cifar10
    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    class_names: list[str]
    source: str
    standin: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.x["train"].shape[1:])  # type: ignore[return-value]

    def sizes(self) -> dict[str, int]:
        return {s: int(len(self.y[s])) for s in SPLITS}

    def class_counts(self, split: str = "train") -> dict[str, int]:
        counts = np.bincount(self.y[split], minlength=self.num_classes)
        return {name: int(n) for name, n in zip(self.class_names, counts)}


# ------------------------------------------------------------------ Fashion-MNIST
def idx_file(folder: Path, name: str) -> Path:
    """Where the IDX file ``name`` (``….gz``) is: gzipped or raw, in ``folder``
    or in torchvision's ``FashionMNIST/raw/`` under it."""
    raw_name = name.removesuffix(".gz")
    places = (folder, folder / "FashionMNIST" / "raw", folder / "raw")
    for place in places:
        for candidate in (place / name, place / raw_name):
            if candidate.is_file():
                return candidate
    raise BenchError(f"{folder / name}: file not found (nor {raw_name} uncompressed, nor in FashionMNIST/raw/)")


def read_idx(path: Path, magic: int, dims: tuple[int | None, ...]) -> np.ndarray:
    """An IDX file of unsigned bytes, gzipped (told by its first two bytes,
    whatever its name) or raw, checked against ``magic`` and ``dims`` (None:
    any size)."""
    if not path.is_file():
        raise BenchError(f"{path}: file not found")
    try:
        with open(path, "rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
        with (gzip.open(path, "rb") if gzipped else open(path, "rb")) as fh:
            raw = fh.read()
    except (OSError, EOFError, gzip.BadGzipFile, zlib.error) as exc:  # zlib.error: bad deflate data
        what = "a readable gzip file" if gzipped else "readable"
        raise BenchError(f"{path}: not {what} ({type(exc).__name__}: {exc})") from None
    if len(raw) < 4:
        raise BenchError(f"{path}: truncated: {len(raw)} bytes, not even an IDX header")
    found = struct.unpack(">I", raw[:4])[0]
    if found != magic:
        raise BenchError(f"{path}: magic number 0x{found:08x}, expected 0x{magic:08x} "
                         f"(an IDX file of unsigned bytes with {len(dims)} dimension{'s' * (len(dims) > 1)})")
    head = 4 + 4 * len(dims)
    if len(raw) < head:
        raise BenchError(f"{path}: truncated header ({len(raw)} bytes)")
    shape = struct.unpack(f">{len(dims)}I", raw[4:head])
    for i, (got, want) in enumerate(zip(shape, dims)):
        if want is not None and got != want:
            raise BenchError(f"{path}: dimension {i} is {got}, expected {want}")
    count = int(np.prod(shape))
    if len(raw) - head != count:
        what = "truncated" if len(raw) - head < count else "too long"
        dims_text = " x ".join(map(str, shape)) + (f" = {count}" if len(shape) > 1 else "")
        raise BenchError(f"{path}: {what}: {len(raw) - head} bytes of data, the header says {dims_text}")
    return np.frombuffer(raw, np.uint8, offset=head).reshape(shape).copy()


def check_labels(path: Path, labels: np.ndarray, classes: int = 10) -> np.ndarray:
    bad = np.flatnonzero((labels < 0) | (labels >= classes))
    if len(bad):
        raise BenchError(f"{path}: label {int(labels[bad[0]])} at index {int(bad[0])} is out of range 0-{classes - 1}")
    return labels.astype(np.int64)


def read_fashion_mnist(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    """(x, y) for train and test from the four IDX files; x (n, 1, 28, 28)."""
    x, y = {}, {}
    for split, (images_name, labels_name) in IDX_FILES.items():
        images_path, labels_path = idx_file(folder, images_name), idx_file(folder, labels_name)
        images = read_idx(images_path, 0x00000803, (None, 28, 28))
        labels = read_idx(labels_path, 0x00000801, (None,))
        if len(images) != len(labels):
            raise BenchError(f"{labels_path}: {len(labels)} labels but {images_path.name} has "
                             f"{len(images)} images")
        x[split], y[split] = images[:, None], check_labels(labels_path, labels)
    names = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    return x, y, names


# ------------------------------------------------------------------ CIFAR-10
def cifar_folder(folder: Path) -> Path:
    """``folder`` itself when it holds the batches, else its ``cifar-10-batches-py/``."""
    if (folder / "batches.meta").is_file() or not (folder / CIFAR_DIR).is_dir():
        return folder
    return folder / CIFAR_DIR


# Everything a CIFAR-10 python batch may refer to: its dicts, lists, bytes and
# ints are plain pickle opcodes; its numpy array needs these (Python 2's
# cPickle and numpy 1 write numpy.core; numpy 2 writes numpy._core; Python 3's
# protocol 2 writes bytes through _codecs.encode, protocol 5 arrays through
# _frombuffer). Nothing else is ever looked up, so a pickle cannot run code.
PICKLE_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"), ("numpy._core.numeric", "_frombuffer"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
}


class NotABatch(Exception):
    """A pickle that refers to something a CIFAR-10 batch never holds."""


class BatchUnpickler(pickle.Unpickler):
    """pickle.Unpickler that resolves only ``PICKLE_ALLOWED`` (CIFAR-10 batches come from a user folder)."""

    def find_class(self, module: str, name: str):
        if (module, name) not in PICKLE_ALLOWED:
            raise NotABatch(f"{module}.{name}")
        with warnings.catch_warnings():  # numpy 2 warns that numpy.core is numpy._core
            warnings.simplefilter("ignore", DeprecationWarning)
            return super().find_class(module, name)


def _unpickle(path: Path) -> dict:
    if not path.is_file():
        raise BenchError(f"{path}: file not found (a CIFAR-10 folder holds data_batch_1..5, test_batch, "
                         "batches.meta)")
    try:
        with open(path, "rb") as fh:
            obj = BatchUnpickler(fh, encoding="bytes").load()
    except NotABatch as exc:
        raise BenchError(f"{path}: not a CIFAR batch (the pickle refers to {exc}, which a CIFAR-10 batch never "
                         "holds; refused, nothing was run)") from None
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is the file's fault
        raise BenchError(f"{path}: not a python pickle ({type(exc).__name__}: {exc})") from None
    if not isinstance(obj, dict):
        raise BenchError(f"{path}: holds a {type(obj).__name__}, not a CIFAR-10 dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One batch: x (n, 3, 32, 32) uint8, y (n,) int64."""
    batch = _unpickle(path)
    if "data" not in batch or "labels" not in batch:
        raise BenchError(f"{path}: not a CIFAR-10 batch (no 'data' and 'labels'; keys: "
                         f"{', '.join(map(str, batch)) or 'none'})")
    data = np.asarray(batch["data"])
    if data.ndim != 2 or data.shape[1] != 3072 or data.dtype != np.uint8:
        raise BenchError(f"{path}: 'data' is {data.dtype} {data.shape}, expected uint8 (n, 3072)")
    labels = cifar_labels(path, batch["labels"])
    if len(labels) != len(data):
        raise BenchError(f"{path}: {len(labels)} labels for {len(data)} images")
    return data.reshape(-1, 3, 32, 32), labels


def cifar_labels(path: Path, raw: object) -> np.ndarray:
    """A batch's ``labels``: integers 0-9, one by one (a float such as 3.7,
    a bool, 10**30 or -1 is refused, naming its index; never rounded or
    wrapped)."""
    values = raw.tolist() if isinstance(raw, np.ndarray) else raw
    if not isinstance(values, (list, tuple)):
        raise BenchError(f"{path}: 'labels' is a {type(raw).__name__}, not a list of integers 0-9")
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise BenchError(f"{path}: label {value!r} at index {index} is not an integer (labels are 0-9)")
        if not 0 <= value <= 9:
            raise BenchError(f"{path}: label {value} at index {index} is out of range 0-9")
    return np.asarray(values, dtype=np.int64).reshape(-1)


def read_cifar10(folder: Path) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[str]]:
    folder = cifar_folder(folder)
    meta = _unpickle(folder / "batches.meta")
    names = meta.get("label_names")
    if not isinstance(names, (list, tuple)) or len(names) != 10:
        raise BenchError(f"{folder / 'batches.meta'}: no list of 10 'label_names'")
    names = [n.decode("latin1") if isinstance(n, bytes) else str(n) for n in names]
    train = [read_cifar_batch(folder / name) for name in CIFAR_TRAIN]
    x = {"train": np.concatenate([b[0] for b in train]), "test": None}
    y = {"train": np.concatenate([b[1] for b in train]), "test": None}
    x["test"], y["test"] = read_cifar_batch(folder / "test_batch")
    return x, y, names


# ------------------------------------------------------------------ stand-ins
def _shape_polygons(cls: int, rng: np.random.Generator) -> tuple[list[np.ndarray], str, float]:
    """The class's outline in unit coordinates (radius about 1): a list of
    polygons, how to draw them (fill / outline / ellipse / ring) and a stroke
    width (units of the radius)."""
    stroke = rng.uniform(0.22, 0.34)
    s = stroke / 2

    def rect(x0, y0, x1, y1):
        return np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], float)

    if cls == 0:
        return [], "disc", stroke
    if cls == 1:
        return [], "ring", stroke
    if cls in (2, 8):
        return [rect(-0.75, -0.75, 0.75, 0.75)], "fill", stroke
    if cls == 3:
        return [rect(-0.8, -0.8, 0.8, 0.8)], "outline", stroke
    if cls == 4:
        return [np.array([[0, -0.95], [0.9, 0.7], [-0.9, 0.7]])], "fill", stroke
    if cls in (5, 6):
        return [rect(-0.95, -s, 0.95, s), rect(-s, -0.95, s, 0.95)], "fill", stroke
    if cls == 7:
        return [rect(-0.9, -0.55 - s, 0.9, -0.55 + s), rect(-0.9, 0.55 - s, 0.9, 0.55 + s)], "fill", stroke
    return [rect(-0.9, -0.8, 0.9, -0.8 + stroke), rect(-s, -0.8, s, 0.9)], "fill", stroke  # tee


BASE_ANGLE = {6: 45.0, 8: 45.0}  # the cross is a rotated plus, the diamond a rotated square


def _draw_shape(draw, cls: int, rng: np.random.Generator, centre: tuple[float, float], radius: float,
                colour, max_turn: float = 20.0) -> None:
    polys, how, stroke = _shape_polygons(cls, rng)
    angle = np.deg2rad(BASE_ANGLE.get(cls, 0.0) + rng.uniform(-max_turn, max_turn))
    aspect = rng.uniform(0.85, 1.15)
    cx, cy = centre
    width = max(1, int(round(stroke * radius)))
    if how in ("disc", "ring"):
        rx, ry = radius * 0.85 * aspect, radius * 0.85 / aspect
        box = (cx - rx, cy - ry, cx + rx, cy + ry)
        if how == "disc":
            draw.ellipse(box, fill=colour)
        else:
            draw.ellipse(box, outline=colour, width=width)
        return
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    for poly in polys:
        pts = (poly * [aspect, 1 / aspect]) @ rot.T * radius + [cx, cy]
        pts = [tuple(p) for p in pts]
        if how == "fill":
            draw.polygon(pts, fill=colour)
        else:
            draw.line(pts + [pts[0]], fill=colour, width=width, joint="curve")


def draw_grey(cls: int, rng: np.random.Generator, size: int = 28, scale: int = 2) -> np.ndarray:
    """One grey stand-in image (1, size, size): a light shape on a dark ground."""
    from PIL import Image, ImageDraw

    big = size * scale
    img = Image.new("L", (big, big), int(rng.integers(0, 50)))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(1, 4))):  # faint strokes across the image
        x0, y0, x1, y1 = rng.uniform(0, big, 4)
        draw.line((x0, y0, x1, y1), fill=int(rng.integers(50, 110)), width=int(rng.integers(1, 2 * scale + 1)))
    radius = big * rng.uniform(0.22, 0.4)
    centre = big / 2 + rng.uniform(-4, 4, 2) * scale
    _draw_shape(draw, cls, rng, tuple(centre), radius, int(rng.integers(110, 256)))
    out = np.asarray(img.resize((size, size), Image.Resampling.BOX), np.float32)
    out += rng.normal(0, 20, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8)[None]


def _colour(rng: np.random.Generator, avoid: np.ndarray | None = None) -> tuple[int, int, int]:
    """A random colour, at least some distance from ``avoid`` when given."""
    for _ in range(20):
        c = rng.integers(0, 256, 3)
        if avoid is None or np.abs(c.astype(int) - avoid).sum() > 200:
            break
    return tuple(int(v) for v in c)


def draw_colour(cls: int, rng: np.random.Generator, size: int = 32, scale: int = 2) -> np.ndarray:
    """One colour stand-in image (3, size, size): a shape anywhere on clutter."""
    from PIL import Image, ImageDraw

    big = size * scale
    a, b = np.array(_colour(rng), float), np.array(_colour(rng), float)
    t = np.linspace(0, 1, big)[:, None, None]
    ground = a * (1 - t) + b * t
    if rng.random() < 0.5:
        ground = ground.transpose(1, 0, 2)
    img = Image.fromarray(np.broadcast_to(ground, (big, big, 3)).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(4, 9))):  # clutter: lines, blobs, boxes
        x0, y0 = rng.uniform(0, big, 2)
        x1, y1 = np.array([x0, y0]) + rng.uniform(-big / 3, big / 3, 2)
        kind, colour = int(rng.integers(3)), _colour(rng)
        if kind == 0:
            draw.line((x0, y0, x1, y1), fill=colour, width=int(rng.integers(1, 2 * scale + 1)))
        elif kind == 1:
            r = rng.uniform(1.5, 4) * scale
            draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=colour)
        else:
            draw.rectangle((min(x0, x1), min(y0, y1), min(x0, x1) + rng.uniform(2, 6) * scale,
                            min(y0, y1) + rng.uniform(2, 6) * scale), outline=colour)
    radius = big * rng.uniform(0.17, 0.3)
    centre = rng.uniform(radius, big - radius, 2)
    middle = np.asarray(img)[int(centre[1]), int(centre[0])].astype(int)
    _draw_shape(draw, cls, rng, tuple(centre), radius, _colour(rng, avoid=middle))
    out = np.asarray(img.resize((size, size), Image.Resampling.BOX), np.float32)
    out += rng.normal(0, 8, out.shape)
    return np.clip(out, 0, 255).astype(np.uint8).transpose(2, 0, 1)


SPLIT_IDS = {"train": 0, "test": 1}


def standin_split(name: str, split: str, per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``per_class`` images of each class, classes interleaved; image i of
    class c comes from the generator (seed, split, c, i)."""
    draw = draw_grey if name == "fashion_mnist" else draw_colour
    images = [draw(c, np.random.default_rng([seed, SPLIT_IDS[split], c, i]))
              for i in range(per_class) for c in range(len(SHAPES))]
    labels = np.tile(np.arange(len(SHAPES)), per_class)
    return np.stack(images), labels.astype(np.int64)


def standin(name: str, train_per_class: int, test_per_class: int, seed: int,
            cache_dir: Path | None) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The stand-in's train pool and test split, cached as .npz."""
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{name}_v{STANDIN_VERSION}_s{seed}_{train_per_class}_{test_per_class}.npz"
        if path.is_file():
            try:
                with np.load(path) as npz:
                    return ({"train": npz["x_train"], "test": npz["x_test"]},
                            {"train": npz["y_train"], "test": npz["y_test"]})
            except (OSError, ValueError, KeyError):
                pass  # a broken cache is rebuilt
    x, y = {}, {}
    for split, n in (("train", train_per_class), ("test", test_per_class)):
        x[split], y[split] = standin_split(name, split, n, seed)
    if path is not None:
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as fh:
                np.savez(fh, x_train=x["train"], y_train=y["train"], x_test=x["test"], y_test=y["test"])
    return x, y


# ------------------------------------------------------------------ loading
def cap_per_class(y: np.ndarray, per_class: int, rng: np.random.Generator) -> np.ndarray:
    """Indices (sorted) keeping at most ``per_class`` of each class, the first of a seeded order."""
    order = rng.permutation(len(y))
    keep = np.concatenate([order[y[order] == c][:per_class] for c in np.unique(y)])
    return np.sort(keep)


def load(name: str, path: str | Path | None, train_per_class: int, test_per_class: int, val_fraction: float,
         seed: int, cache_dir: Path | None = None) -> ImageSet:
    """The dataset ``name`` from ``path`` (its authors' format), or its stand-in."""
    if name not in DATASETS:
        raise BenchError(f"data.dataset: unknown dataset '{name}' (known: {', '.join(DATASETS)})")
    if path:
        folder = Path(path)
        if not folder.is_dir():
            raise BenchError(f"{name}: {folder} is not a folder")
        x, y, names = (read_fashion_mnist if name == "fashion_mnist" else read_cifar10)(folder)
        rng = np.random.default_rng(seed)
        for split, cap in (("train", train_per_class), ("test", test_per_class)):
            keep = cap_per_class(y[split], cap, rng)
            if len(keep) < len(y[split]):
                x[split], y[split] = x[split][keep], y[split][keep]
        source = f"folder {(cifar_folder(folder) if name == 'cifar10' else folder).resolve()}"
        standin_used = False
    else:
        x, y = standin(name, train_per_class, test_per_class, seed, cache_dir)
        names, source, standin_used = list(SHAPES), STANDIN_SOURCE[name], True
    order = np.random.default_rng([seed, 1]).permutation(len(y["train"]))
    n_val = int(round(len(order) * val_fraction))
    if n_val < 1 or n_val >= len(order):
        raise BenchError(f"data.val_fraction {val_fraction} leaves {n_val} validation images of {len(order)} "
                         "training images (need at least 1 in each)")
    val, train = np.sort(order[:n_val]), np.sort(order[n_val:])
    xs = {"train": x["train"][train], "val": x["train"][val], "test": x["test"]}
    ys = {"train": y["train"][train], "val": y["train"][val], "test": y["test"]}
    return ImageSet(name, xs, ys, list(names), source, standin_used)
