"""ResNet18 for one-logit binary classification (STUDY Part B) and the
record of which pretrained weights a run used. Where the weights come from
(a file, ImageNet, or the bench's own rotation pretraining) is resolved in
``engine.trainers.images_weights``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from torchvision.models import resnet18

from engine.errors import BenchError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

Mode = Literal["xgboost", "scratch", "linear_probe", "sklearn_probe", "finetune"]


@dataclass(frozen=True)
class ResNetConfig:
    mode: Mode = field(default="finetune", metadata={
        "help": "xgboost | scratch | linear_probe | sklearn_probe | finetune"})
    weights: str = field(default="auto", metadata={
        "help": "pretrained weights: auto (ImageNet from the torch cache, else self-pretrained; never downloads), imagenet (may download), self, or a PATH"})
    pretext_images: int = field(default=2000, metadata={"help": "self-pretraining: rotation-task images"})
    pretext_epochs: int = field(default=2, metadata={"help": "self-pretraining: epochs"})


@dataclass(frozen=True)
class ResolvedWeights:
    kind: str  # file | imagenet | self-pretrained
    label: str  # what figures and the console say
    key: str  # identity, for the feature cache
    state: dict = field(repr=False, compare=False, default_factory=dict)

    def describe(self) -> dict:
        return {"kind": self.kind, "label": self.label, "key": self.key}


def binary_resnet18() -> nn.Module:
    model = resnet18(weights=None)
    model.fc = nn.Linear(model.fc.in_features, 1)
    return model


def backbone_state(state: dict) -> dict:
    """A state dict without its classifier head (keys fc.*)."""
    if "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    return {k.removeprefix("module."): v for k, v in state.items() if not k.removeprefix("module.").startswith("fc.")}


def load_backbone(model: nn.Module, weights: ResolvedWeights) -> None:
    missing, unexpected = model.load_state_dict(weights.state, strict=False)
    missing = [k for k in missing if not k.startswith("fc.")]
    if missing or unexpected:
        raise BenchError(f"weights '{weights.label}' do not fit ResNet18: missing {missing[:3]}, "
                         f"unexpected {unexpected[:3]}")


def normaliser(device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return mean, std
