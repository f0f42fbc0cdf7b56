"""What does not change between runs is built once: XGBoost's input matrix."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import torch

from engine.trainers import images_classic


def _images(seed: int):
    g = torch.Generator().manual_seed(seed)
    x = {s: torch.randint(0, 256, (n, 3, 4, 4), dtype=torch.uint8, generator=g)
         for s, n in (("train", 6), ("val", 3), ("test", 2))}
    return SimpleNamespace(x=x, source="synthetic", sizes=lambda: {s: len(v) for s, v in x.items()})


def test_xgboost_input_matrix_is_built_once_per_dataset():
    cfg = SimpleNamespace(data=SimpleNamespace(image_size=4))
    data = _images(0)
    first = images_classic.flat_pixels(cfg, data)
    assert images_classic.flat_pixels(cfg, data) is first  # a second seed reuses it
    for split, x in data.x.items():
        expected = x.reshape(len(x), -1).numpy().astype(np.float32) / 255
        assert first[split].dtype == np.float32 and np.array_equal(first[split], expected)
    other = _images(1)  # another dataset (same name and sizes) gets its own matrix
    assert not np.array_equal(images_classic.flat_pixels(cfg, other)["train"], first["train"])
