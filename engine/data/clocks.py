"""The ``clocks`` dataset: grey analog clocks and the time they show (STUDY Part C.5).

Format (the course's): a folder with two numpy arrays,
  * ``images.npy``: (N, H, H) uint8 grey clocks (the course's are 150x150);
  * ``labels.npy``: (N, 2) integers, row i = (hour 0-11, minute 0-59) of image i.
They are read with ``allow_pickle=False`` (memory-mapped), checked before any
training (a wrong shape or dtype, a different N, a label out of range or a
missing file is one line naming the file), resized to ``data.size`` when H
differs, and split by a seeded permutation 80 / 10 / 10 (train / val / test).

Embedded default: a STAND-IN rendered by the bench itself (``render_clocks``):
a round dial on a grey background, 12 hour ticks (sometimes 60 minute ticks),
a filled triangle marking 12 o'clock, an hour hand that moves on with the
minutes (at h:m it points at (h + m/60) x 30 degrees), a longer thinner minute
hand (m x 6 degrees), short tails behind the centre; dial size, greys, hand
lengths and widths vary per clock, the whole clock is rotated by up to
+-ROTATION degrees about the image centre (the 12 o'clock triangle turns with
it), then blurred and given pixel noise. Times are uniform over 12 hours.
Deterministic from ``data.seed``; cached under ``data/cache/clocks/``.

Times are compared as minutes on a 12-hour dial, [0, 720): ``cyclic_error``
is the "common sense" error (11:50 read as 00:10 is 20 minutes; no error
exceeds 360).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from engine.errors import BenchError
from engine.io import atomic_path

DIAL_MINUTES = 720  # a 12-hour dial
SPLITS = ("train", "val", "test")
SPLIT_FRACTIONS = {"train": 0.8, "val": 0.1, "test": 0.1}
ROTATION = 45.0  # degrees: the stand-in's clocks are turned by a uniform angle in [-45, 45]
FORMAT = 1  # bump when the renderer changes, to re-render cached stand-ins
MIN_SIZE = 16


# ------------------------------------------------------------------ time
def to_minutes(labels: np.ndarray) -> np.ndarray:
    """(n, 2) (hour, minute) -> minutes on the dial in [0, 720)."""
    labels = np.asarray(labels)
    return (labels[..., 0] % 12) * 60 + labels[..., 1]


def cyclic_error(a, b, period: float = DIAL_MINUTES) -> np.ndarray:
    """The "common sense" error between times in minutes: the shorter way
    round the dial, min(|a - b|, 720 - |a - b|), so never above 360."""
    d = np.abs(np.asarray(a, dtype=float) - np.asarray(b, dtype=float)) % period
    return np.minimum(d, period - d)


def clock_text(minutes: float) -> str:
    """Minutes on the dial -> "hh:mm" (00:00 to 11:59), rounded to the minute."""
    total = int(round(float(minutes))) % DIAL_MINUTES
    return f"{total // 60:02d}:{total % 60:02d}"


# ------------------------------------------------------------------ splits
@dataclass
class ClockSplits:
    """Images and (hour, minute) labels per split, as numpy arrays."""

    x: dict[str, np.ndarray]  # split -> uint8 (n, size, size)
    y: dict[str, np.ndarray]  # split -> int64 (n, 2): hour 0-11, minute 0-59
    size: int
    source: str
    standin: bool
    seed: int  # of the split (and, for the stand-in, of the rendering)
    native_size: int  # the images' side before resizing

    def sizes(self) -> dict[str, int]:
        return {s: int(len(self.y[s])) for s in SPLITS}

    def minutes(self, split: str) -> np.ndarray:
        return to_minutes(self.y[split])


def split_indices(n: int, seed: int) -> dict[str, np.ndarray]:
    """80 / 10 / 10 of ``range(n)`` by a seeded permutation (each split sorted)."""
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, round(n * SPLIT_FRACTIONS["val"]))
    n_test = max(1, round(n * SPLIT_FRACTIONS["test"]))
    parts = {"test": order[:n_test], "val": order[n_test:n_test + n_val], "train": order[n_test + n_val:]}
    return {s: np.sort(parts[s]) for s in SPLITS}


def make_splits(images: np.ndarray, labels: np.ndarray, size: int, seed: int, source: str,
                standin: bool) -> ClockSplits:
    native = int(images.shape[1])
    parts = split_indices(len(labels), seed)
    x = {s: resize(images[idx], size) for s, idx in parts.items()}
    y = {s: np.asarray(labels[idx], dtype=np.int64) for s, idx in parts.items()}
    return ClockSplits(x, y, size, source, standin, seed, native)


def resize(images: np.ndarray, size: int, chunk: int = 1024) -> np.ndarray:
    """(n, h, h) uint8 -> (n, size, size) uint8 (bilinear with antialiasing); a copy in memory."""
    if images.shape[1] == size:
        return np.ascontiguousarray(images)
    import torch

    out = np.empty((len(images), size, size), np.uint8)
    for start in range(0, len(images), chunk):
        block = torch.from_numpy(np.asarray(images[start:start + chunk], dtype=np.float32))[:, None]
        small = torch.nn.functional.interpolate(block, size=(size, size), mode="bilinear", antialias=True,
                                                align_corners=False)
        out[start:start + chunk] = small[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()
    return out


# ------------------------------------------------------------------ the course's folder
def read_folder(folder: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``images.npy`` and ``labels.npy`` of ``folder``, checked (one line per problem)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"clocks: {folder} is not a folder")
    arrays = {}
    for name in ("images.npy", "labels.npy"):
        path = folder / name
        if not path.is_file():
            raise BenchError(f"{path}: file not found (expected images.npy and labels.npy)")
        try:
            arrays[name] = np.load(path, mmap_mode="r", allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise BenchError(f"{path}: not a readable numpy array ({exc})") from None
    images, labels = arrays["images.npy"], arrays["labels.npy"]
    where = folder / "images.npy"
    if images.ndim != 3 or images.shape[1] != images.shape[2]:
        raise BenchError(f"{where}: shape {images.shape}, expected (N, H, H) square grey images such as (N, 150, 150)")
    if images.dtype != np.uint8:
        raise BenchError(f"{where}: dtype {images.dtype}, expected uint8 grey values 0-255")
    if images.shape[1] < MIN_SIZE:
        raise BenchError(f"{where}: images of {images.shape[1]}x{images.shape[2]} pixels, expected at least "
                         f"{MIN_SIZE}x{MIN_SIZE}")
    where = folder / "labels.npy"
    if labels.ndim != 2 or labels.shape[1] != 2:
        raise BenchError(f"{where}: shape {labels.shape}, expected (N, 2): one (hour, minute) row per image")
    if labels.dtype.kind not in "iu":
        raise BenchError(f"{where}: dtype {labels.dtype}, expected integers (hour, minute)")
    if len(labels) != len(images):
        raise BenchError(f"{where}: {len(labels)} rows but images.npy has {len(images)} images "
                         "(one label row per image expected)")
    if len(labels) < 10:
        raise BenchError(f"{where}: {len(labels)} clocks, at least 10 needed for the 80/10/10 split")
    for column, what, top in ((0, "hour", 11), (1, "minute", 59)):  # checked in the file's own dtype:
        bad = np.flatnonzero((labels[:, column] < 0) | (labels[:, column] > top))  # a uint64 never wraps to -1
        if len(bad):
            raise BenchError(f"{where}: row {bad[0]}: {what} {labels[bad[0], column]} is outside 0-{top} "
                             f"({len(bad)} such rows)")
    return images, np.asarray(labels, dtype=np.int64)


def load_clocks(path: str | Path | None, size: int, n: int, seed: int,
                cache_dir: str | Path = "data/cache/clocks") -> ClockSplits:
    """The course's folder (resized to ``size``), or without a path the stand-in
    (``n`` clocks rendered at ``size`` from ``seed``, cached)."""
    if path:
        images, labels = read_folder(path)
        return make_splits(images, labels, size, seed, f"folder {Path(path).resolve()}", standin=False)
    images, labels = standin_arrays(n, size, seed, Path(cache_dir))
    source = (f"embedded STAND-IN, not the course's clocks: {n:,} clocks rendered by the bench at {size}x{size} px "
              f"(seed {seed}; dial, ticks, a 12 o'clock triangle, hour and minute hands of varied length and width, "
              f"whole clock rotated by up to +-{ROTATION:g} degrees, blur and noise)")
    return make_splits(images, labels, size, seed, source, standin=True)


# ------------------------------------------------------------------ the renderer
@dataclass(frozen=True)
class Style:
    """How one clock is drawn; sizes are fractions of the image side."""

    rotation: float = 0.0  # degrees, counter-clockwise, the whole clock
    radius: float = 0.42  # of the dial
    offset: tuple[float, float] = (0.0, 0.0)  # of the dial's centre from the image's
    background: int = 90
    face: int = 235
    ink: int = 20
    rim: float = 0.02  # rim width
    tick_length: float = 0.12  # of the hour ticks, fraction of the radius
    minute_ticks: bool = False
    hour_length: float = 0.55  # fractions of the radius
    hour_width: float = 0.08
    minute_length: float = 0.85
    minute_width: float = 0.04
    tail: float = 0.1  # of the hands behind the centre, fraction of the radius
    blur: float = 0.0  # Gaussian blur radius in pixels of a 150-px image (scaled with the size)
    noise: float = 0.0  # standard deviation of the pixel noise (grey levels)


def random_style(rng: np.random.Generator) -> Style:
    background = int(rng.integers(20, 170))
    return Style(
        rotation=float(rng.uniform(-ROTATION, ROTATION)),
        radius=float(rng.uniform(0.36, 0.46)),
        offset=(float(rng.uniform(-0.03, 0.03)), float(rng.uniform(-0.03, 0.03))),
        background=background,
        face=int(rng.integers(max(background + 50, 180), 256)),
        ink=int(rng.integers(0, 70)),
        rim=float(rng.uniform(0.005, 0.03)),
        tick_length=float(rng.uniform(0.08, 0.16)),
        minute_ticks=bool(rng.random() < 0.5),
        hour_length=float(rng.uniform(0.42, 0.6)),
        hour_width=float(rng.uniform(0.06, 0.11)),
        minute_length=float(rng.uniform(0.75, 0.92)),
        minute_width=float(rng.uniform(0.025, 0.05)),
        tail=float(rng.uniform(0.0, 0.18)),
        blur=float(rng.uniform(0.0, 1.0)),
        noise=float(rng.uniform(0.0, 10.0)),
    )


def _hand(angle_deg: float, length: float, width: float, tail: float, cx: float, cy: float) -> list[tuple]:
    """A tapered hand as a polygon: from ``tail`` behind the centre to ``length``
    ahead, at ``angle_deg`` clockwise from 12 o'clock (image y points down)."""
    a = math.radians(angle_deg)
    ux, uy = math.sin(a), -math.cos(a)  # along the hand
    px, py = -uy, ux  # across it
    tip, back = (cx + ux * length, cy + uy * length), (cx - ux * tail, cy - uy * tail)
    w, w_tip = width / 2, width / 3
    return [(back[0] + px * w, back[1] + py * w), (tip[0] + px * w_tip, tip[1] + py * w_tip),
            (tip[0] - px * w_tip, tip[1] - py * w_tip), (back[0] - px * w, back[1] - py * w)]


def draw_clock(hour: int, minute: int, size: int, style: Style = Style(),
               rng: np.random.Generator | None = None) -> np.ndarray:
    """One (size, size) uint8 grey clock showing hour:minute. Drawn at a
    larger scale and shrunk (antialiased); ``rng`` draws the pixel noise."""
    from PIL import Image, ImageDraw, ImageFilter

    scale = max(2, math.ceil(200 / size))
    side = size * scale
    image = Image.new("L", (side, side), style.background)
    draw = ImageDraw.Draw(image)
    cx, cy = side * (0.5 + style.offset[0]), side * (0.5 + style.offset[1])
    r = style.radius * side
    rim = max(1, round(style.rim * side))
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=style.face, outline=style.ink, width=rim)
    inner = r - rim
    if style.minute_ticks:
        for m in range(60):
            if m % 5:
                a = math.radians(m * 6)
                s, c = math.sin(a), -math.cos(a)
                draw.line([(cx + s * inner * 0.95, cy + c * inner * 0.95), (cx + s * inner, cy + c * inner)],
                          fill=style.ink, width=max(1, round(side * 0.006)))
    for h in range(1, 12):  # 12 o'clock gets the triangle
        a = math.radians(h * 30)
        s, c = math.sin(a), -math.cos(a)
        start = inner * (1 - style.tick_length)
        draw.line([(cx + s * start, cy + c * start), (cx + s * inner, cy + c * inner)], fill=style.ink,
                  width=max(1, round(side * (0.025 if h % 3 == 0 else 0.014))))
    tri = inner * (style.tick_length + 0.08)
    half = inner * 0.09
    draw.polygon([(cx, cy - inner * (1 - tri / inner)), (cx - half, cy - inner), (cx + half, cy - inner)],
                 fill=style.ink)
    hour_angle = ((hour % 12) + minute / 60) * 30
    for angle, length, width in ((hour_angle, style.hour_length, style.hour_width),
                                 (minute * 6, style.minute_length, style.minute_width)):
        draw.polygon(_hand(angle, length * inner, width * inner, style.tail * inner, cx, cy), fill=style.ink)
    cap = inner * 0.06
    draw.ellipse([cx - cap, cy - cap, cx + cap, cy + cap], fill=style.ink)
    if style.rotation:
        image = image.rotate(style.rotation, resample=Image.Resampling.BICUBIC, center=(side / 2, side / 2),
                             fillcolor=style.background)
    image = image.resize((size, size), Image.Resampling.BOX)
    if style.blur > 0:
        image = image.filter(ImageFilter.GaussianBlur(style.blur * size / 150))
    pixels = np.asarray(image, dtype=np.float32)
    if style.noise > 0 and rng is not None:
        pixels = pixels + rng.normal(0.0, style.noise, pixels.shape)
    return np.clip(np.round(pixels), 0, 255).astype(np.uint8)


def render_clocks(n: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` stand-in clocks: (n, size, size) uint8 and (n, 2) (hour, minute)."""
    rng = np.random.default_rng(seed)
    labels = np.stack([rng.integers(0, 12, n), rng.integers(0, 60, n)], axis=1).astype(np.int64)
    images = np.empty((n, size, size), np.uint8)
    for i, (hour, minute) in enumerate(labels):
        images[i] = draw_clock(int(hour), int(minute), size, random_style(rng), rng)
    return images, labels


def standin_arrays(n: int, size: int, seed: int, cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """The stand-in's arrays, rendered once and cached (one .npz per n, size and seed)."""
    path = Path(cache_dir) / f"standin-v{FORMAT}-n{n}-size{size}-seed{seed}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as cached:
                images, labels = cached["images"], cached["labels"]
            if images.shape == (n, size, size) and labels.shape == (n, 2):
                return images, labels
        except (ValueError, OSError, KeyError, EOFError):
            pass  # unreadable: render again
    images, labels = render_clocks(n, size, seed)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, images=images, labels=labels)
    return images, labels
