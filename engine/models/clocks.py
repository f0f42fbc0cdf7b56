"""The clock reader (STUDY Part C.5): one small CNN backbone, four ways to
say the time (``model.head``), and how each output becomes minutes.

Heads and their losses (times are minutes t on the 12-hour dial, [0, 720)):
  * ``regression`` + ``loss = "mse"``: one number, MSE against t / 720;
    read as clip(output, 0, 1) x 720 (12:00 sits at both ends of the scale).
  * ``regression`` + ``loss = "cyclic"``: (sin, cos) of the dial angle
    2 pi t / 720, MSE on the pair; read as atan2 (no seam at 12:00).
  * ``classification`` with k = ``model.classes`` (2-720): class
    floor(t k / 720), cross-entropy; read as the class centre, the middle of
    the whole minutes the class holds (c + 1/2) 720 / k - 1/2 (so with 720
    classes a class is its minute).
  * ``two_head``: 12 hour classes (cross-entropy) + the minute regressed
    (``loss = "cyclic"``: (sin, cos) of 2 pi m / 60, cyclic-aware; ``"mse"``:
    m / 60 as one number); loss = cross-entropy + MSE, equal weights; read as
    hour x 60 + minute.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn

from engine.data.clocks import DIAL_MINUTES

HEADS = ("regression", "classification", "two_head")


@dataclass(frozen=True)
class ClockModelConfig:
    head: Literal["regression", "classification", "two_head"] = field(default="two_head", metadata={
        "help": "regression (one time), classification (k classes) or two_head (12 hours + minutes)"})
    loss: Literal["mse", "cyclic"] = field(default="cyclic", metadata={
        "help": "regression / two_head minutes: mse on one number, or cyclic on (sin, cos) of the angle"})
    classes: int = field(default=24, metadata={
        "help": "classification: k classes of 720/k minutes, 2-720 (the study: 24, 48, 120, 240, 480, 720)"})
    channels: int = field(default=16, metadata={"help": "channels of the first conv block (x2, x4, x4 after)"})
    hidden: int = field(default=128, metadata={"help": "units of the dense layer before the head"})


def head_label(model: dict) -> str:
    """A run's approach in words, from its config's ``model`` table."""
    head, loss = model.get("head"), model.get("loss")
    if head == "regression":
        return f"regression, {'cyclic loss on (sin, cos)' if loss == 'cyclic' else 'MSE'}"
    if head == "classification":
        return f"classification, {model.get('classes')} classes"
    return f"two heads (12 hours + {'cyclic' if loss == 'cyclic' else 'MSE'} minutes)"


def outputs_of(cfg: ClockModelConfig) -> int:
    if cfg.head == "regression":
        return 2 if cfg.loss == "cyclic" else 1
    if cfg.head == "classification":
        return cfg.classes
    return 12 + (2 if cfg.loss == "cyclic" else 1)


class ClockNet(nn.Module):
    """Four conv blocks (3x3 conv, BatchNorm, ReLU, 2x2 max-pool), an average
    pool to 4x4 (the hands' positions survive), a dense layer, the head."""

    def __init__(self, cfg: ClockModelConfig):
        super().__init__()
        c = cfg.channels
        widths = [1, c, 2 * c, 4 * c, 4 * c]
        blocks = []
        for cin, cout in zip(widths, widths[1:]):
            blocks += [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks, nn.AdaptiveAvgPool2d(4), nn.Flatten())
        self.dense = nn.Sequential(nn.Linear(widths[-1] * 16, cfg.hidden), nn.ReLU(inplace=True))
        self.head = nn.Linear(cfg.hidden, outputs_of(cfg))
        self.to(memory_format=torch.channels_last)  # max-pooling and BatchNorm are vectorised along the channels there

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # channels-last: max-pooling and BatchNorm are vectorised along the channels there (a step on the CPU
        # 12.5 -> 8.4 ms); flatten still reads (channels, height, width) order
        return self.head(self.dense(self.features(x.contiguous(memory_format=torch.channels_last))))


# ------------------------------------------------------------------ targets, losses, reading
def angle_pair(fraction: torch.Tensor) -> torch.Tensor:
    """(sin, cos) of a fraction of a turn."""
    a = 2 * math.pi * fraction
    return torch.stack([torch.sin(a), torch.cos(a)], dim=-1)


def pair_fraction(pair: torch.Tensor) -> torch.Tensor:
    """A (sin, cos) pair -> the fraction of a turn in [0, 1)."""
    return torch.remainder(torch.atan2(pair[..., 0], pair[..., 1]) / (2 * math.pi), 1.0)


def class_of(minutes: torch.Tensor, k: int) -> torch.Tensor:
    return torch.clamp((minutes.double() * k / DIAL_MINUTES).floor().long(), 0, k - 1)


def class_centre(classes: torch.Tensor, k: int) -> torch.Tensor:
    return (classes.double() + 0.5) * DIAL_MINUTES / k - 0.5


def loss_of(cfg: ClockModelConfig, out: torch.Tensor, hours: torch.Tensor, minutes: torch.Tensor) -> torch.Tensor:
    """The head's loss (a mean over the batch); ``hours``, ``minutes``: the labels."""
    t = (hours * 60 + minutes).float()
    if cfg.head == "regression":
        if cfg.loss == "mse":
            return nn.functional.mse_loss(out[:, 0], t / DIAL_MINUTES)
        return nn.functional.mse_loss(out, angle_pair(t / DIAL_MINUTES))
    if cfg.head == "classification":
        return nn.functional.cross_entropy(out, class_of(t, cfg.classes))
    hour_loss = nn.functional.cross_entropy(out[:, :12], hours)
    if cfg.loss == "mse":
        return hour_loss + nn.functional.mse_loss(out[:, 12], minutes.float() / 60)
    return hour_loss + nn.functional.mse_loss(out[:, 12:], angle_pair(minutes.float() / 60))


def read_minutes(cfg: ClockModelConfig, out: torch.Tensor) -> torch.Tensor:
    """The time each output says, in minutes [0, 720) (float64)."""
    out = out.double()
    if cfg.head == "regression":
        if cfg.loss == "mse":
            return torch.remainder(out[:, 0].clamp(0, 1) * DIAL_MINUTES, DIAL_MINUTES)
        return pair_fraction(out) * DIAL_MINUTES
    if cfg.head == "classification":
        return torch.remainder(class_centre(out.argmax(1), cfg.classes), DIAL_MINUTES)
    hours = out[:, :12].argmax(1).double()
    if cfg.loss == "mse":
        minute = out[:, 12].clamp(0, 1) * 60
    else:
        minute = pair_fraction(out[:, 12:]) * 60
    return torch.remainder(hours * 60 + torch.remainder(minute, 60), DIAL_MINUTES)
