"""The two networks of lab 4 (STUDY Part C.4).

* ``mlp``: the image flattened, then one ``Linear -> ReLU`` per entry of
  ``hidden`` (3 hidden layers by default), then a ``Linear`` to the classes.
* ``cnn``: one ``Conv2d 3x3 (same padding) -> ReLU -> MaxPool 2x2`` per entry
  of ``channels`` (3 conv layers by default; the pooling is skipped once the
  feature map is 1 pixel wide), flattened, then ``Linear -> ReLU`` with
  ``dense`` units and a ``Linear`` to the classes: 2 dense layers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn


@dataclass(frozen=True)
class NetConfig:
    arch: Literal["mlp", "cnn"] = field(default="mlp", metadata={"help": "mlp (dense layers) or cnn (conv layers)"})
    hidden: tuple[int, ...] = field(default=(256, 128, 64), metadata={"help": "mlp: units per hidden layer"})
    channels: tuple[int, ...] = field(default=(32, 64, 64), metadata={"help": "cnn: channels per conv layer"})
    dense: int = field(default=128, metadata={"help": "cnn: units of the dense layer before the output"})


def build(cfg: NetConfig, shape: tuple[int, int, int], classes: int) -> nn.Module:
    """The network for images of ``shape`` (channels, height, width)."""
    c, h, w = shape
    if cfg.arch == "mlp":
        layers: list[nn.Module] = [nn.Flatten()]
        width = c * h * w
        for units in cfg.hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        return nn.Sequential(*layers, nn.Linear(width, classes))
    layers = []
    for out in cfg.channels:
        layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(inplace=True)]  # in place: no new feature map
        if min(h, w) >= 2:
            layers.append(nn.MaxPool2d(2))
            h, w = h // 2, w // 2
        c = out
    return nn.Sequential(*layers, nn.Flatten(), nn.Linear(c * h * w, cfg.dense), nn.ReLU(),
                         nn.Linear(cfg.dense, classes))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def load(cfg: NetConfig, shape: tuple[int, int, int], classes: int, state: dict) -> nn.Module:
    model = build(cfg, shape, classes)
    model.load_state_dict({k: torch.as_tensor(v) for k, v in state.items()})
    return model.eval()
