"""The STUDY Part A MLP's configuration, its checks, and the batch schedule.

Training itself is ``engine.trainers.mlp_stacked`` (one run is a stack of
one): the data lives on the device as tensors; every epoch draws batches
from one seeded permutation per run (no per-sample Dataset/DataLoader);
values are read off the device only at the end of an epoch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch

from engine import kit
from engine.data.mlp import CitySplits
from engine.errors import BenchError
from engine.models.mlp import MLP, MLPConfig

SPLIT_KEYS = {"train": "train", "validation": "val", "test": "test"}


# --------------------------------------------------------------------- config
@dataclass(frozen=True)
class DataConfig:
    dataset: Literal["cities"] = field(default="cities", metadata={"help": "dataset name"})
    path: str = field(default="", metadata={"help": "folder with the CSVs; empty = embedded default"})


@dataclass(frozen=True)
class OptimConfig(kit.OptimConfig):
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate"})
    weight_decay: float = field(default=0.0, metadata={"help": "Adam weight decay"})


@dataclass(frozen=True)
class SystemConfig(kit.SystemConfig):
    threads: int = field(default=1, metadata={
        "help": "CPU threads for torch; 0 = every core (1 is fastest for these tiny matrices)"})
    record_grads: bool = field(default=False, metadata={"help": "record ||grad||^2 per Linear layer each step"})


@dataclass(frozen=True)
class MLPTrainConfig:
    data: DataConfig = field(default_factory=DataConfig)
    model: MLPConfig = field(default_factory=MLPConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    system: SystemConfig = field(default_factory=SystemConfig)


# -------------------------------------------------------------------- helpers
def check_config(cfg: MLPTrainConfig) -> None:
    """Refuse configurations that cannot train, before any work starts."""
    kit.check_common(cfg)
    m = cfg.model
    if m.sine_features and not m.sine_scales:
        raise BenchError("model.sine_scales is empty: sine features need at least one scale")
    if m.depth < 1 or m.width < 1:
        raise BenchError(f"model.depth and model.width must be at least 1 (got {m.depth}, {m.width})")
    if m.batchnorm and cfg.optim.batch_size == 1:
        raise BenchError(
            "BatchNorm cannot train with batch_size 1: the batch variance of one example is zero "
            "(set model.batchnorm=false or a larger optim.batch_size)"
        )


def make_batches(n: int, batch_size: int, generator: torch.Generator, device: torch.device,
                 merge_singleton: bool) -> list[torch.Tensor]:
    """Index batches of one epoch from a seeded permutation. With BatchNorm a
    trailing batch of one example is merged into the previous batch."""
    order = torch.randperm(n, generator=generator).to(device)
    batches = list(order.split(batch_size))
    if merge_singleton and len(batches) > 1 and len(batches[-1]) == 1:
        last = batches.pop()
        batches[-1] = torch.cat([batches[-1], last])
    return batches


def build_model(cfg: MLPTrainConfig, data: CitySplits) -> MLP:
    return MLP(cfg.model, n_inputs=data.x["train"].shape[1], n_classes=data.num_classes)


def load_model(cfg: MLPTrainConfig, n_inputs: int, n_classes: int, state: dict) -> MLP:
    model = MLP(cfg.model, n_inputs=n_inputs, n_classes=n_classes)
    model.load_state_dict(state)
    return model.eval()
