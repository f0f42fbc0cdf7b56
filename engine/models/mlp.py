"""The MLP of STUDY Part A.

``depth`` counts hidden layers, the input layer included and the output layer
not: depth 6 means 7 ``Linear`` layers. Each hidden layer is
Linear -> [BatchNorm1d] -> ReLU, BatchNorm sitting before the activation.

With ``residual`` every width->width hidden layer becomes a standard
pre-activation residual block (He et al. 2016, "Identity Mappings in Deep
Residual Networks"), one ``Linear`` per block so that depth still counts
``Linear`` layers:

    x -> x + W relu([BatchNorm](x)) / sqrt(blocks)

The branch's output ``W relu(.)`` has both signs (its bias starts at zero and
W's entries are symmetric around zero), so adding it a hundred times is a
random walk, not the unbounded positive drift of ``x + relu(W x)``; the
branch is scaled by 1/sqrt(number of blocks) (as in SkipInit / Fixup) so the
stream's variance stays O(1) at any depth; the identity path carries the
gradient unchanged to the first layers. The first hidden layer (inputs ->
width, not square) stays Linear -> [BatchNorm] -> ReLU, and the head reads
the stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn


@dataclass(frozen=True)
class MLPConfig:
    standardize: bool = field(
        default=True,
        metadata={"help": "z-score raw (long, lat) with train statistics (sine features see degrees)"},
    )
    depth: int = field(default=6, metadata={"help": "hidden layers (depth 6 = 7 Linear layers)"})
    width: int = field(default=16, metadata={"help": "units per hidden layer"})
    batchnorm: bool = field(default=False, metadata={"help": "BatchNorm1d before each ReLU"})
    residual: bool = field(
        default=False, metadata={"help": "pre-activation residual block x + W relu([BN](x))/sqrt(blocks) "
                                          "for each width->width hidden layer"}
    )
    sine_features: bool = field(
        default=False, metadata={"help": "feed sin(a*x) for a in sine_scales instead of raw x"}
    )
    sine_scales: tuple[float, ...] = field(
        default=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0),
        metadata={"help": "the a values of the sine features"},
    )


class SineFeatures(nn.Module):
    """x (n, d) -> sin(a * x) for every a: (n, d * len(scales))."""

    def __init__(self, scales: tuple[float, ...]):
        super().__init__()
        self.register_buffer("scales", torch.tensor(scales, dtype=torch.float32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sin(x.unsqueeze(-1) * self.scales).flatten(1)


class Standardize(nn.Module):
    """(x - mean) / std with statistics fixed from the training split, so the
    model always takes degrees (decision-region grids included)."""

    def __init__(self, n_inputs: int):
        super().__init__()
        self.register_buffer("mean", torch.zeros(n_inputs))
        self.register_buffer("std", torch.ones(n_inputs))

    def fit(self, x: torch.Tensor) -> None:
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-6))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class HiddenLayer(nn.Module):
    """Linear -> [BatchNorm] -> ReLU; with ``residual`` (square layers only)
    the pre-activation block x + scale * Linear(ReLU([BatchNorm](x)))."""

    def __init__(self, n_in: int, n_out: int, batchnorm: bool, residual: bool, scale: float = 1.0):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.residual = residual and n_in == n_out
        # a residual block normalises its input (pre-activation); a plain layer its pre-activation
        self.norm = nn.BatchNorm1d(n_in if self.residual else n_out) if batchnorm else nn.Identity()
        self.scale = scale if self.residual else 1.0
        if self.residual:
            nn.init.zeros_(self.linear.bias)  # no constant drift added block after block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.residual:
            return x + self.scale * self.linear(torch.relu(self.norm(x)))
        return torch.relu(self.norm(self.linear(x)))


class MLP(nn.Module):
    def __init__(self, cfg: MLPConfig, n_inputs: int, n_classes: int):
        super().__init__()
        if cfg.depth < 1 or cfg.width < 1:
            raise ValueError("MLP depth and width must be at least 1")
        if cfg.sine_features:
            self.features: nn.Module = SineFeatures(cfg.sine_scales)
        elif cfg.standardize:
            self.features = Standardize(n_inputs)
        else:
            self.features = nn.Identity()
        n_in = n_inputs * len(cfg.sine_scales) if cfg.sine_features else n_inputs
        layers = []
        blocks = sum(1 for i in range(cfg.depth) if (n_in if i == 0 else cfg.width) == cfg.width)
        scale = 1.0 / math.sqrt(max(1, blocks))
        for _ in range(cfg.depth):
            layers.append(HiddenLayer(n_in, cfg.width, cfg.batchnorm, cfg.residual, scale))
            n_in = cfg.width
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(n_in, n_classes)

    def linear_layers(self) -> list[nn.Linear]:
        """The Linear layers in order, input layer first, output layer last
        (depth + 1 of them): the layers whose gradients are recorded."""
        return [layer.linear for layer in self.hidden] + [self.head]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(self.features(x)))
