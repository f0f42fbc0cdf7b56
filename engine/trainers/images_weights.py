"""Which pretrained weights an image run uses, resolved in this order and
recorded everywhere:
1. a file the user names (``model.weights=PATH``), loaded with
   ``weights_only=True``;
2. torchvision's ImageNet weights: from its cache with ``auto`` (the
   default, which never downloads), or also by download with ``imagenet``;
3. where neither can be had, a backbone the bench pretrains itself once on a
   pretext task (rotation prediction over crops of photos that installed
   packages ship), cached under ``data/cache/weights/`` and labelled
   "self-pretrained, not ImageNet". Random weights are never called
   pretrained.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torchvision.models import ResNet18_Weights, resnet18

from engine import kit
from engine.errors import BenchError
from engine.io import atomic_path, locked
from engine.models.images import ResNetConfig, ResolvedWeights, backbone_state, normaliser

SELF_LABEL = "self-pretrained, not ImageNet (rotation prediction on offline photos)"


class PretrainingStopped(Exception):
    """A stop request arrived while the backbone was being pretrained (nothing is cached)."""


def resolve_weights(cfg: ResNetConfig, image_size: int, cache_dir: Path, device: torch.device,
                    log=lambda line: None, stopped=lambda: False) -> ResolvedWeights:
    choice = cfg.weights
    if choice not in ("auto", "imagenet", "self"):
        path = Path(choice)
        if not path.is_file():
            raise BenchError(f"model.weights: no file {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # noqa: BLE001
            raise BenchError(f"model.weights: {path} is not a loadable state dict ({type(exc).__name__})") from None
        if not isinstance(state, dict):
            raise BenchError(f"model.weights: {path} does not hold a state dict")
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
        return ResolvedWeights("file", f"file {path.name} (sha256 {digest})", f"file:{digest}", backbone_state(state))
    if choice in ("auto", "imagenet"):
        # auto never downloads (runs stay offline); imagenet may, where the network allows
        cached = imagenet_cache_file()
        if choice == "imagenet" or cached.is_file():
            try:
                state = ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False, check_hash=True)
                return ResolvedWeights("imagenet", "ImageNet (torchvision IMAGENET1K_V1)", "imagenet1k_v1",
                                       backbone_state(state))
            except Exception as exc:  # noqa: BLE001 - no cache and no network
                if choice == "imagenet":
                    raise BenchError(f"model.weights=imagenet: torchvision's ImageNet weights cannot be had "
                                     f"({type(exc).__name__}); use auto, self or a file") from None
                reason = f"{cached} unreadable ({type(exc).__name__})"
        else:
            reason = f"not in torchvision's cache ({cached}); auto does not download"
        log(f"WARNING: ImageNet weights unavailable: {reason}. Using {SELF_LABEL}")
    return self_pretrained(cfg, image_size, cache_dir, device, log, stopped)


def imagenet_cache_file() -> Path:
    url = ResNet18_Weights.IMAGENET1K_V1.url
    return Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]


def self_pretrained(cfg: ResNetConfig, image_size: int, cache_dir: Path, device: torch.device,
                    log=lambda line: None, stopped=lambda: False) -> ResolvedWeights:
    key = f"self-rot-v2-{image_size}-{cfg.pretext_images}-{cfg.pretext_epochs}"
    path = Path(cache_dir) / f"resnet18-{key}.pt"
    # one process pretrains; the others (workers of one replay, a second replay) wait and load its file
    with locked(path.with_name(path.name + ".lock")):
        if not path.is_file():
            log(f"pretraining ResNet18 on rotation prediction ({cfg.pretext_images} images, "
                f"{cfg.pretext_epochs} epochs, {image_size}px); cached in {path}")
            state = _pretrain_rotation(cfg, image_size, device, stopped)
            with atomic_path(path) as tmp:
                torch.save(state, tmp)
    state = torch.load(path, map_location="cpu", weights_only=True)
    return ResolvedWeights("self-pretrained", SELF_LABEL, key, backbone_state(state))


def _pretrain_rotation(cfg: ResNetConfig, image_size: int, device: torch.device, stopped=lambda: False) -> dict:
    """Train ResNet18 to tell which of 0/90/180/270 degrees an image was
    rotated by, on random crops of the shipped photos (a seed apart from the
    stand-in's); ``PretrainingStopped`` when ``stopped()`` turns true (it is
    asked after every batch: about a minute of work on one core)."""
    from engine.data.images_standin import random_crop, source_photos

    rng = np.random.default_rng(1234)
    photos = source_photos()
    crops = np.stack([
        np.asarray(random_crop(photos[int(rng.integers(len(photos)))], rng, image_size)).transpose(2, 0, 1)
        for _ in range(cfg.pretext_images)
    ])
    x = torch.from_numpy(crops)
    torch.manual_seed(1234)
    model = resnet18(weights=None, num_classes=4).to(device)
    optimizer = kit.adam(model.parameters(), lr=1e-3)
    mean, std = normaliser(device)
    generator = torch.Generator().manual_seed(1234)
    model.train()
    for _ in range(cfg.pretext_epochs):
        for idx in torch.randperm(len(x), generator=generator).split(64):
            if stopped():
                raise PretrainingStopped()
            rotations = torch.randint(0, 4, (len(idx),), generator=generator)
            batch = torch.stack([torch.rot90(img, int(k), dims=(1, 2)) for img, k in zip(x[idx], rotations)])
            batch = (batch.to(device).float() / 255 - mean) / std
            loss = nn.functional.cross_entropy(model(batch), rotations.to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}
