"""The MLP of STUDY Part A.

``depth`` counts hidden layers, the input layer included and the output layer
not: depth 6 means 7 ``Linear`` layers. Each hidden layer is
Linear -> [BatchNorm1d] -> ReLU, BatchNorm sitting before the activation.
"""

from __future__ import annotations

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
        default=False, metadata={"help": "skip connection around each width->width hidden layer"}
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
    def __init__(self, n_in: int, n_out: int, batchnorm: bool, residual: bool):
        super().__init__()
        self.linear = nn.Linear(n_in, n_out)
        self.norm = nn.BatchNorm1d(n_out) if batchnorm else nn.Identity()
        self.residual = residual and n_in == n_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.norm(self.linear(x)))
        return x + h if self.residual else h


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
        for _ in range(cfg.depth):
            layers.append(HiddenLayer(n_in, cfg.width, cfg.batchnorm, cfg.residual))
            n_in = cfg.width
        self.hidden = nn.Sequential(*layers)
        self.head = nn.Linear(n_in, n_classes)

    def linear_layers(self) -> list[nn.Linear]:
        """The Linear layers in order, input layer first, output layer last
        (depth + 1 of them): the layers whose gradients are recorded."""
        return [layer.linear for layer in self.hidden] + [self.head]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hidden(self.features(x)))
