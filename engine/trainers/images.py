"""STUDY Part B baselines on a two-class image folder.

Modes: ``xgboost`` (default parameters on flattened pixels), ``scratch``
(ResNet18 from random init), ``linear_probe`` (frozen pretrained backbone, a
new one-logit layer on the features standardised with train statistics),
``sklearn_probe`` (``LogisticRegression()`` on the 512-d frozen features) and
``finetune`` (everything trained). Adam, batch
size 32, ``BCEWithLogitsLoss`` on one logit. Images stay on the device as
uint8 and are normalised per batch; on CUDA, bf16 autocast and channels-last.
Frozen features are computed once per split and weights and shared by every
linear-probe learning rate and the sklearn probe.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from engine import kit
from engine.data.images import SPLITS, ImageSplits
from engine.errors import BenchError
from engine.models.images import ResNetConfig, ResolvedWeights, binary_resnet18, load_backbone, normaliser
from engine.trainers import images_classic
from engine.trainers.images_weights import PretrainingStopped, resolve_weights
from engine.system import resolve_device, seed_everything


# --------------------------------------------------------------------- config
@dataclass(frozen=True)
class ImageDataConfig:
    dataset: Literal["faces"] = field(default="faces", metadata={"help": "dataset name"})
    path: str = field(default="", metadata={"help": "folder with train/ val/ test/; empty = embedded stand-in"})
    image_size: int = field(default=64, metadata={"help": "images are resized to this square size (224 in STUDY)"})


@dataclass(frozen=True)
class ImageOptimConfig(kit.OptimConfig):
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate (not used by xgboost, sklearn_probe)"})
    batch_size: int = field(default=32, metadata={"help": "images per step"})
    epochs: int = field(default=1, metadata={"help": "passes over the training split"})


@dataclass(frozen=True)
class ImageSystemConfig(kit.SystemConfig):
    amp: bool = field(default=True, metadata={"help": "bf16 autocast + channels-last on CUDA (CPU: fp32)"})


@dataclass(frozen=True)
class ImageTrainConfig:
    data: ImageDataConfig = field(default_factory=ImageDataConfig)
    model: ResNetConfig = field(default_factory=ResNetConfig)
    optim: ImageOptimConfig = field(default_factory=ImageOptimConfig)
    system: ImageSystemConfig = field(default_factory=ImageSystemConfig)


USES_LR = ("scratch", "linear_probe", "finetune")
PRETRAINED = ("linear_probe", "sklearn_probe", "finetune")

# frozen features: (weights key, data identity, image size, device) -> split -> (n, 512)
FEATURE_CACHE: dict[tuple, dict[str, torch.Tensor]] = {}
FEATURE_STATS = {"computed": 0, "reused": 0}
WEIGHTS_CACHE: dict[tuple, ResolvedWeights] = {}


# -------------------------------------------------------------------- helpers
def check_config(cfg: ImageTrainConfig) -> None:
    """Refuse configurations that cannot train, before any work starts."""
    kit.check_common(cfg)
    if cfg.optim.batch_size < 2 and cfg.model.mode in ("scratch", "finetune"):
        raise BenchError("ResNet18 has BatchNorm: optim.batch_size must be at least 2")
    if cfg.model.pretext_images < 1 or cfg.model.pretext_epochs < 1:
        raise BenchError("model.pretext_images and model.pretext_epochs must be at least 1 "
                         "(an untrained backbone must not be called pretrained)")
    if cfg.model.weights not in ("auto", "imagenet", "self") and not Path(cfg.model.weights).is_file():
        raise BenchError(f"model.weights: no file {cfg.model.weights}")
    if cfg.data.image_size < 16:
        raise BenchError(f"data.image_size must be at least 16 (got {cfg.data.image_size})")


def weights_key(cfg: ImageTrainConfig) -> tuple | None:
    """What the pretrained modes share (the backbone's weights, pretrained once and cached); None for the others."""
    if cfg.model.mode not in PRETRAINED:
        return None
    return (cfg.model.weights, cfg.data.image_size, cfg.model.pretext_images, cfg.model.pretext_epochs)


def get_weights(cfg: ImageTrainConfig, data: ImageSplits, device: torch.device, log=lambda line: None,
                stopped=lambda: False):
    key = weights_key(cfg)
    if key not in WEIGHTS_CACHE:
        cache = Path(data.cache_root or "data/cache") / "weights"
        WEIGHTS_CACHE[key] = resolve_weights(cfg.model, cfg.data.image_size, cache, device, log, stopped)
    return WEIGHTS_CACHE[key]


class Batches:
    """uint8 images on the device -> normalised float batches."""

    def __init__(self, device: torch.device, amp: bool):
        self.device = device
        self.mean, self.std = normaliser(device)
        self.cuda_amp = amp and device.type == "cuda"

    def __call__(self, x_uint8: torch.Tensor) -> torch.Tensor:
        x = (x_uint8.to(self.device, non_blocking=True).float() / 255 - self.mean) / self.std
        return x.contiguous(memory_format=torch.channels_last) if self.cuda_amp else x

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.cuda_amp)


@torch.no_grad()
def infer(model: nn.Module, x: torch.Tensor, prep: Batches, chunk: int = 256) -> torch.Tensor:
    """Outputs for uint8 images in eval mode, chunk by chunk; the model's mode is restored."""
    was_training = model.training
    model.eval()
    out = []
    for start in range(0, len(x), chunk):
        with prep.autocast():
            out.append(model(prep(x[start : start + chunk])).float())
    model.train(was_training)
    return torch.cat(out)


def logits_of(model: nn.Module, x: torch.Tensor, prep: Batches) -> torch.Tensor:
    return infer(model, x, prep).flatten()


def features_of(cfg: ImageTrainConfig, data: ImageSplits, weights: ResolvedWeights, device: torch.device,
                prep: Batches) -> dict[str, torch.Tensor]:
    key = (weights.key, data.source, tuple(data.sizes().items()), cfg.data.image_size, str(device), prep.cuda_amp)
    if key in FEATURE_CACHE:
        FEATURE_STATS["reused"] += 1
        return FEATURE_CACHE[key]
    FEATURE_STATS["computed"] += 1
    backbone = binary_resnet18()
    load_backbone(backbone, weights)
    backbone.fc = nn.Identity()
    backbone = backbone.to(device)
    if prep.cuda_amp:
        backbone = backbone.to(memory_format=torch.channels_last)
    FEATURE_CACHE[key] = {split: infer(backbone, data.x[split], prep) for split in SPLITS}
    return FEATURE_CACHE[key]


def standardise_features(feats: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """z-score each of the 512 frozen features with the training split's
    mean and standard deviation (constant features stay 0).

    The backbone's pooled features are non-negative, of very different
    scales and far from zero on average; an Adam step moves every weight by
    about lr, so at lr 0.1 or 0.01 one step swings the logit by lr x the sum
    of 512 positive features and the one-logit head flips between "all real"
    and "all fake" (test accuracy exactly 0.500 on a balanced split).
    Standardised, the same lr moves the logit by an amount independent of
    the backbone's scale. A linear layer on standardised features is still
    a linear probe: it is the same family of functions of the raw features."""
    mean = feats["train"].mean(0)
    std = feats["train"].std(0)
    std = torch.where(std > 1e-6, std, torch.ones_like(std))
    return {split: (f - mean) / std for split, f in feats.items()}


def split_metrics(logits: torch.Tensor, y: torch.Tensor) -> tuple[float, float, np.ndarray]:
    """(BCE loss, accuracy, probabilities) of one split."""
    y = y.to(logits.device).float()
    loss = nn.functional.binary_cross_entropy_with_logits(logits, y).item()
    accuracy = ((logits > 0).float() == y).float().mean().item()
    return loss, accuracy, torch.sigmoid(logits).cpu().numpy()


def prob_metrics(prob: np.ndarray, y: torch.Tensor) -> tuple[float, float]:
    target = y.numpy().astype(float)
    clipped = np.clip(prob, 1e-7, 1 - 1e-7)
    loss = float(-np.mean(target * np.log(clipped) + (1 - target) * np.log(1 - clipped)))
    return loss, float(np.mean((prob > 0.5) == (target == 1)))


# ------------------------------------------------------------------------ fit
def fit(cfg: ImageTrainConfig, data: ImageSplits, session: kit.RunSession) -> kit.Fitted:
    device = resolve_device(cfg.system.device)
    seed_everything(cfg.system.seed)
    generator = torch.Generator().manual_seed(cfg.system.seed)
    mode = cfg.model.mode
    prep = Batches(device, cfg.system.amp)
    notes: list[str] = []
    weights = None
    if mode in PRETRAINED:
        try:
            weights = get_weights(cfg, data, device, notes.append, lambda: session.stop_requested)
        except PretrainingStopped:
            return kit.Fitted("stopped", "stopped by request while pretraining the backbone", None, {})
        except BenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. out of memory while self-pretraining
            raise BenchError(f"could not prepare pretrained weights: {type(exc).__name__}: {exc}") from None
        notes.append(f"weights: {weights.label}")
    extra: dict = {"weights": weights.describe() if weights else None, "predictions": {}}

    classic = mode in images_classic.MODES
    steps = 0 if classic else math.ceil(len(data.y["train"]) / cfg.optim.batch_size)
    session.start(1 if classic else cfg.optim.epochs, steps, device, "; ".join(notes))
    if not classic:
        return _fit_torch(cfg, data, weights, device, prep, generator, extra, session)
    epoch_start = time.perf_counter()
    probs, note = images_classic.fit_classic(cfg, data, lambda: features_of(cfg, data, weights, device, prep),
                                             lambda: session.stop_requested)
    if probs is None:
        return kit.Fitted("stopped", note, None, extra)
    metrics = {s: prob_metrics(probs[s], data.y[s]) + (probs[s],) for s in SPLITS}
    finite = record_epoch(session, extra, data, 1, [], time.perf_counter() - epoch_start, metrics)
    return kit.Fitted("ok" if finite else "diverged", note, None, extra)


def record_epoch(session: kit.RunSession, extra: dict, data: ImageSplits, epoch: int, step_losses: list[float],
                 seconds: float, metrics: dict) -> bool:
    """Record one epoch's split metrics and keep the test predictions; False on divergence."""
    flat = {}
    for split, (loss, accuracy, _prob) in metrics.items():
        flat[f"{split}_loss"], flat[f"{split}_accuracy"] = loss, accuracy
    prob = metrics["test"][2]
    extra["predictions"]["test"] = {
        "file": data.files["test"],
        "label": data.y["test"].tolist(),
        "prob": [None if not math.isfinite(p) else round(float(p), 6) for p in prob],
        "positive_class": data.class_names[1],
    }
    return session.epoch_end(epoch, flat, step_losses, seconds)


def _fit_torch(cfg, data, weights, device, prep, generator, extra, session: kit.RunSession) -> kit.Fitted:
    mode = cfg.model.mode
    if mode == "linear_probe":
        feats = features_of(cfg, data, weights, device, prep)
        inputs = standardise_features(feats)
        # seed again: whether this run pretrained weights or computed features (both draw random
        # numbers) depends on the cache, and must not change the head's initial weights
        seed_everything(cfg.system.seed)
        model = nn.Linear(feats["train"].shape[1], 1).to(device)
        forward = lambda batch: model(batch).flatten()  # noqa: E731
        to_input = lambda x: x.to(device)  # noqa: E731
        use_autocast = False
    else:
        seed_everything(cfg.system.seed)  # as above: independent of what the caches made this run do
        model = binary_resnet18()
        if mode == "finetune":
            load_backbone(model, weights)
        model = model.to(device)
        if prep.cuda_amp:
            model = model.to(memory_format=torch.channels_last)
        inputs = {s: data.x[s].to(device) for s in SPLITS}  # uint8, resident on the device
        forward = lambda batch: model(batch).flatten()  # noqa: E731
        to_input = prep
        use_autocast = True
    optimizer = kit.adam(model.parameters(), lr=cfg.optim.lr)
    y_train = data.y["train"].to(device).float()
    n_train = len(y_train)

    # a run cut short resumes after its last whole epoch (engine.checkpoint)
    first = session.resume_from(model=model, optimizer=optimizer, batches=generator)

    def evaluate_all() -> dict:
        out = {}
        for split in SPLITS:
            if mode == "linear_probe":
                with torch.no_grad():
                    logits = model(inputs[split]).flatten()
            else:
                logits = logits_of(model, inputs[split], prep)
            out[split] = split_metrics(logits, data.y[split])
        return out

    for epoch in range(first + 1, cfg.optim.epochs + 1):
        epoch_start = time.perf_counter()
        batches = torch.randperm(n_train, generator=generator).to(device).split(cfg.optim.batch_size)
        step_losses = torch.empty(len(batches), device=device)
        stopped = False
        model.train()
        for step, idx in enumerate(batches):
            with prep.autocast() if use_autocast else torch.autocast("cpu", enabled=False):
                logits = forward(to_input(inputs["train"][idx]))
            loss = nn.functional.binary_cross_entropy_with_logits(logits.float(), y_train[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step_losses[step] = loss.detach()
            if session.tick(epoch, step, len(batches)):
                step_losses, stopped = step_losses[: step + 1], True
                break
        metrics = evaluate_all()
        finite = record_epoch(session, extra, data, epoch, step_losses.tolist(), time.perf_counter() - epoch_start,
                              metrics)
        if stopped:
            return kit.Fitted("stopped", f"stopped by request in epoch {epoch}", None, extra)
        if not finite:
            return kit.Fitted("diverged", f"loss became NaN or infinite in epoch {epoch}", None, extra)
    return kit.Fitted("ok", "", None, extra)
