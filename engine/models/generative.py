"""A convolutional VAE and a DCGAN for square RGB images in [-1, 1] (STUDY
Part C.6).

Both halve (encoder, discriminator) or double (decoder, generator) the
resolution with 4x4 stride-2 convolutions, ``stages(size)`` times, so a 32 px
image goes down to 4 x 4 and a 64 px one too. Channels: ``width`` at the
full resolution, doubled per stage, at most ``8 * width``. A size that is
not 4 x a power of two (say 48 or 33) is generated at the next size the
stages reach (``base * 2**stages``) and resized bilinearly to ``size``.

* ``ConvVAE``: encoder conv -> BatchNorm -> LeakyReLU stages, then two
  linear heads for the posterior's mean and log-variance; decoder: a linear
  layer to the smallest grid, transposed-conv -> BatchNorm -> ReLU stages,
  a last transposed conv to 3 channels and ``tanh``.
* ``Generator`` (DCGAN): z as a 1x1 map, a transposed conv to the smallest
  grid, transposed-conv -> BatchNorm -> ReLU stages, ``tanh``.
* ``Discriminator`` (DCGAN): conv -> LeakyReLU(0.2) (no BatchNorm on the
  first stage), conv -> BatchNorm -> LeakyReLU stages, a linear layer to one
  logit. Weights start as DCGAN's: N(0, 0.02), BatchNorm scale N(1, 0.02).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F


@dataclass(frozen=True)
class GenModelConfig:
    arch: Literal["vae", "gan"] = field(default="vae", metadata={"help": "vae (convolutional VAE) or gan (DCGAN)"})
    latent: int = field(default=32, metadata={"help": "size of the latent vector z"})
    width: int = field(default=32, metadata={
        "help": "channels of the first conv stage (doubled per stage, at most 8x)"})
    beta: float = field(default=1.0, metadata={"help": "VAE: weight of the KL term (1 = the ELBO)"})


def stages(size: int) -> int:
    """How many stride-2 stages take ``size`` down to about 4 pixels."""
    return max(1, int(math.floor(math.log2(size / 4))))


def base_size(size: int) -> int:
    """The smallest grid of the decoder / generator (it reaches ``>= size``)."""
    return math.ceil(size / 2 ** stages(size))


def channels(width: int, size: int) -> list[int]:
    """Channels per stage from the full resolution down."""
    return [width * min(2 ** i, 8) for i in range(stages(size))]


def _down(width: int, size: int, first_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = 3
    for i, c in enumerate(channels(width, size)):
        layers.append(nn.Conv2d(c_in, c, 4, 2, 1, bias=not (first_norm or i > 0)))
        if first_norm or i > 0:
            layers.append(nn.BatchNorm2d(c))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        c_in = c
    return nn.Sequential(*layers)


def _up(width: int, size: int) -> nn.Sequential:
    """From the smallest grid (channels()[-1]) to 3 channels at base * 2**stages, tanh."""
    cs = channels(width, size)[::-1]  # coarse -> fine
    layers: list[nn.Module] = []
    for c_in, c_out in zip(cs, cs[1:]):
        layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
    layers += [nn.ConvTranspose2d(cs[-1], 3, 4, 2, 1), nn.Tanh()]
    return nn.Sequential(*layers)


def _fit_size(x: torch.Tensor, size: int) -> torch.Tensor:
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False)


def _flat_dim(net: nn.Module, size: int) -> int:
    with torch.no_grad():
        was = net.training
        net.eval()
        out = net(torch.zeros(1, 3, size, size))
        net.train(was)
    return int(out.numel())


def dcgan_init(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# The three networks keep their convolutions' weights and take their images channels-last (flatten still reads
# them in (channels, height, width) order): oneDNN's kernels and BatchNorm are faster there on the CPU; a GAN step
# at 32 px 46 -> 39 ms, a VAE step 24 -> 21 ms. Same arithmetic, other roundings.


class ConvVAE(nn.Module):
    def __init__(self, size: int, latent: int, width: int):
        super().__init__()
        self.size, self.latent = size, latent
        self.encoder = _down(width, size, first_norm=True)
        flat = _flat_dim(self.encoder, size)
        self.mu = nn.Linear(flat, latent)
        self.logvar = nn.Linear(flat, latent)
        self.top, self.base = channels(width, size)[-1], base_size(size)
        self.project = nn.Sequential(nn.Linear(latent, self.top * self.base**2), nn.ReLU(True))
        self.up = _up(width, size)
        self.to(memory_format=torch.channels_last)  # channels-last: see above ConvVAE

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x.contiguous(memory_format=torch.channels_last)).flatten(1)
        return self.mu(h), self.logvar(h).clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        h = self.project(z).view(-1, self.top, self.base, self.base)
        return _fit_size(self.up(h), self.size)

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None):
        """(reconstruction, mu, logvar); ``noise`` is the reparameterisation's N(0, I) draw."""
        mu, logvar = self.encode(x)
        eps = torch.randn_like(mu) if noise is None else noise
        z = mu + eps * torch.exp(0.5 * logvar)
        return self.decode(z), mu, logvar


def kl_per_image(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) in nats, one value per image."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1)


class Generator(nn.Module):
    def __init__(self, size: int, latent: int, width: int):
        super().__init__()
        self.size, self.latent = size, latent
        top, base = channels(width, size)[-1], base_size(size)
        self.stem = nn.Sequential(nn.ConvTranspose2d(latent, top, base, 1, 0, bias=False), nn.BatchNorm2d(top),
                                  nn.ReLU(True))
        self.up = _up(width, size)
        self.apply(dcgan_init)
        self.to(memory_format=torch.channels_last)  # channels-last: see above ConvVAE

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return _fit_size(self.up(self.stem(z[:, :, None, None])), self.size)


class Discriminator(nn.Module):
    def __init__(self, size: int, width: int):
        super().__init__()
        self.features = _down(width, size, first_norm=False)
        self.head = nn.Linear(_flat_dim(self.features, size), 1)
        self.apply(dcgan_init)
        self.to(memory_format=torch.channels_last)  # channels-last: see above ConvVAE

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """One logit per image (real = 1)."""
        return self.head(self.features(x.contiguous(memory_format=torch.channels_last)).flatten(1)).squeeze(1)
