"""The embedded stand-in for the course's cartoon faces (offline).

No cartoon-face dataset ships with the installed packages, so the bench
draws its own with PIL: a background colour, a face (ellipse of random
width, height and skin colour), hair (none, a cap, a fringe or long hair,
in a random colour), two eyes (white, a coloured iris, a pupil; random size,
spacing and height), optional eyebrows and glasses, a nose, and a mouth
(smile, flat or open). Every face is drawn at twice its final size and
downsampled (anti-aliased). Deterministic from a seed: face ``i`` depends
only on (seed, i), so any N gives the first N faces of the same sequence.
Labelled "stand-in" wherever it is used.
"""

from __future__ import annotations

import numpy as np

SOURCE_PREFIX = "embedded STAND-IN for the course's cartoon faces: faces drawn by the bench with PIL"

SKIN = [(255, 224, 189), (241, 194, 125), (224, 172, 105), (198, 134, 66), (141, 85, 36), (255, 205, 148),
        (234, 192, 134), (120, 200, 120), (160, 170, 230)]  # the last two: cartoon colours
HAIR = [(20, 20, 20), (90, 56, 37), (160, 110, 60), (230, 200, 110), (180, 60, 30), (200, 200, 200),
        (60, 60, 160), (150, 40, 120)]
IRIS = [(60, 40, 20), (40, 90, 160), (50, 130, 70), (100, 100, 100), (20, 20, 20)]


def _colour(rng: np.random.Generator, palette: list[tuple[int, int, int]], jitter: int = 18) -> tuple[int, ...]:
    base = np.asarray(palette[int(rng.integers(len(palette)))])
    return tuple(int(v) for v in np.clip(base + rng.integers(-jitter, jitter + 1, 3), 0, 255))


def draw_face(rng: np.random.Generator, size: int):
    """One cartoon face as a PIL RGB image of ``size`` x ``size``."""
    from PIL import Image, ImageDraw

    s = 2 * size  # draw large, then downsample
    background = tuple(int(v) for v in rng.integers(40, 256, 3))
    img = Image.new("RGB", (s, s), background)
    d = ImageDraw.Draw(img)
    cx, cy = s * rng.uniform(0.45, 0.55), s * rng.uniform(0.5, 0.58)
    rx, ry = s * rng.uniform(0.24, 0.33), s * rng.uniform(0.30, 0.40)
    skin, hair = _colour(rng, SKIN), _colour(rng, HAIR)
    style = int(rng.integers(4))  # 0 none, 1 cap, 2 fringe, 3 long
    if style == 3:  # long hair behind the face
        d.rectangle((cx - rx * 1.15, cy - ry * 0.6, cx + rx * 1.15, cy + ry * rng.uniform(0.6, 1.1)), fill=hair)
        d.ellipse((cx - rx * 1.15, cy - ry * 1.15, cx + rx * 1.15, cy + ry * 0.3), fill=hair)
    ear = rx * 0.22
    for side in (-1, 1):
        ex = cx + side * rx * 0.97
        d.ellipse((ex - ear, cy - ear * 1.3, ex + ear, cy + ear * 1.3), fill=skin)
    d.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=skin)
    if style in (1, 3):  # a cap of hair on top
        d.chord((cx - rx * 1.05, cy - ry * 1.1, cx + rx * 1.05, cy + ry * 0.2), 180, 360, fill=hair)
    elif style == 2:  # a fringe
        d.pieslice((cx - rx * 1.02, cy - ry * 1.08, cx + rx * 1.02, cy + ry * 0.5), 190, 350, fill=hair)
    # eyes
    eye_y = cy - ry * rng.uniform(0.05, 0.25)
    gap = rx * rng.uniform(0.35, 0.55)
    erx, ery = rx * rng.uniform(0.14, 0.24), ry * rng.uniform(0.08, 0.16)
    iris = _colour(rng, IRIS, 10)
    look = rng.uniform(-0.4, 0.4) * erx
    for side in (-1, 1):
        ex = cx + side * gap
        d.ellipse((ex - erx, eye_y - ery, ex + erx, eye_y + ery), fill=(250, 250, 250), outline=(30, 30, 30),
                  width=max(1, s // 64))
        ir = min(erx, ery) * 0.85
        d.ellipse((ex + look - ir, eye_y - ir, ex + look + ir, eye_y + ir), fill=iris)
        pr = ir * 0.45
        d.ellipse((ex + look - pr, eye_y - pr, ex + look + pr, eye_y + pr), fill=(0, 0, 0))
        if rng.random() < 0.6:  # eyebrow
            by = eye_y - ery - ry * rng.uniform(0.06, 0.14)
            tilt = side * ry * rng.uniform(-0.05, 0.05)
            d.line((ex - erx, by + tilt, ex + erx, by - tilt), fill=hair, width=max(2, s // 32))
    if rng.random() < 0.25:  # glasses
        frame = _colour(rng, [(20, 20, 20), (120, 60, 20), (180, 30, 30)], 10)
        for side in (-1, 1):
            ex = cx + side * gap
            d.ellipse((ex - erx * 1.5, eye_y - ery * 1.9, ex + erx * 1.5, eye_y + ery * 1.9), outline=frame,
                      width=max(1, s // 40))
        d.line((cx - gap + erx * 1.5, eye_y, cx + gap - erx * 1.5, eye_y), fill=frame, width=max(1, s // 40))
    # nose
    ny = cy + ry * rng.uniform(0.05, 0.2)
    nose = tuple(int(v * 0.8) for v in skin)
    d.line((cx, ny - ry * 0.12, cx - rx * 0.06, ny), fill=nose, width=max(1, s // 48))
    # mouth
    my = cy + ry * rng.uniform(0.4, 0.6)
    mw = rx * rng.uniform(0.25, 0.5)
    kind = int(rng.integers(3))  # 0 smile, 1 flat, 2 open
    lips = (int(rng.integers(120, 220)), 40, 50)
    if kind == 0:
        d.arc((cx - mw, my - ry * 0.18, cx + mw, my + ry * 0.1), 20, 160, fill=lips, width=max(2, s // 32))
    elif kind == 1:
        d.line((cx - mw, my, cx + mw, my), fill=lips, width=max(2, s // 32))
    else:
        d.ellipse((cx - mw * 0.7, my - ry * 0.08, cx + mw * 0.7, my + ry * 0.12), fill=(90, 20, 30), outline=lips,
                  width=max(1, s // 48))
    return img.resize((size, size), Image.Resampling.LANCZOS)


def standin_faces(count: int, size: int, seed: int) -> np.ndarray:
    """(count, 3, size, size) uint8: the first ``count`` faces of the seed's sequence."""
    out = np.empty((count, 3, size, size), np.uint8)
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        out[i] = np.asarray(draw_face(rng, size), dtype=np.uint8).transpose(2, 0, 1)
    return out
