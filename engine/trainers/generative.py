"""Lab 6 (STUDY Part C.6): a convolutional VAE and a DCGAN on the same images.

One kind, two runs (``model.arch`` = ``vae`` or ``gan``), Adam with
``optim.beta1`` (DCGAN's 0.5) for every network; the VAE's learning rate is
``optim.lr`` (1e-3), the GAN's ``optim.gan_lr`` (DCGAN's 2e-4), so that a
grid over ``model.arch`` alone trains each at its usual rate (the VAE at
2e-4 was still noisy after the quick preset's 15 epochs). Images are uint8
on the device and scaled to [-1, 1] per batch; the last partial batch of an
epoch is dropped (BatchNorm needs two images).

VAE: loss per image = squared error summed over pixels (a Gaussian decoder
of variance 1/2, up to a constant) + ``beta`` x KL(q(z|x) || N(0, I)) in
nats. Streamed per epoch: ``train_recon`` / ``test_recon`` (the squared error
per pixel value, on the [-1, 1] scale; test images are decoded from their
posterior mean) and ``train_kl`` / ``test_kl`` (nats per image). Samples are
the decoder's mean at z ~ N(0, I).

GAN: the discriminator's loss is BCE(D(x), 1) + BCE(D(G(z)), 0) (2 ln 2 =
1.39 when it cannot tell, 0 when it wins outright); the generator's is the
non-saturating BCE(D(G(z)), 1). Streamed per epoch (means over the epoch's
steps): ``d_loss``, ``g_loss``, ``d_real`` = D(x), ``d_fake`` = D(G(z)).

Both, every epoch, on ``EVAL_SAMPLES`` samples from fixed noise (eval mode):
* ``frechet``: the Fréchet distance between Gaussians fitted to the samples
  and to the test images in the space of the first ``PCA_COMPONENTS``
  principal components of the training images' pixels, fitted on at most
  ``PCA_IMAGES`` of them (an FID-like score with pixel PCA for the
  Inception features; lower is closer; it is the primary metric because it
  is defined for both models);
* ``diversity``: the samples' mean pairwise pixel distance / the test
  images' (about 1 for a generator as varied as the data; near 0 on mode
  collapse);
* ``sharpness``: the samples' mean |Laplacian| of the grey image / the test
  images' (below 1 = blurrier than the data).

Pictures (kept as uint8 arrays in the returned model; the kind's
``save_artifacts`` writes them): an 8 x 8 sample grid from fixed noise every
``system.figures_every`` epochs and at the last, latent interpolations, and
for the VAE reconstructions of test images. ``fit`` writes no file.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch.nn import functional as F

from engine import kit
from engine.data.generative import GenImages
from engine.errors import BenchError
from engine.models.generative import ConvVAE, Discriminator, GenModelConfig, Generator, kl_per_image
from engine.system import resolve_device, seed_everything

EVAL_SAMPLES = 500
PCA_COMPONENTS = 20
PCA_IMAGES = 5000  # the PCA is fitted on the first (at most) this many training images
DIVERSITY_IMAGES = 200
SAMPLE_MEASURES = ("frechet", "diversity", "sharpness")  # of the samples, per epoch; NaN when they are not finite
GRID_SIDE = 8
INTERP_STEPS = 10


# --------------------------------------------------------------------- config
@dataclass(frozen=True)
class GenDataConfig:
    dataset: Literal["gen"] = field(default="gen", metadata={"help": "dataset name"})
    path: str = field(default="", metadata={
        "help": "a folder of .jpg/.png images (searched recursively); empty = embedded stand-in faces"})
    size: int = field(default=32, metadata={"help": "images are centre-cropped and resized to size x size (px)"})
    images: int = field(default=1500, metadata={"help": "how many faces the stand-in draws (a folder: all its images)"})
    test_fraction: float = field(default=0.1, metadata={"help": "fraction of the images held out as the test split"})
    seed: int = field(default=42, metadata={"help": "draws the stand-in faces and picks the test split"})


@dataclass(frozen=True)
class GenOptimConfig(kit.OptimConfig):
    lr: float = field(default=1e-3, metadata={"help": "Adam learning rate of the VAE"})
    gan_lr: float = field(default=2e-4, metadata={
        "help": "Adam learning rate of the GAN's generator and discriminator (DCGAN: 2e-4)"})
    beta1: float = field(default=0.5, metadata={"help": "Adam's beta1, every network (DCGAN uses 0.5)"})
    batch_size: int = field(default=32, metadata={"help": "images per step"})
    epochs: int = field(default=15, metadata={"help": "passes over the training split"})


@dataclass(frozen=True)
class GenSystemConfig(kit.SystemConfig):
    figures_every: int = field(default=5, metadata={
        "help": "epochs between two sample grids (the last epoch always gets one)"})


@dataclass(frozen=True)
class GenConfig:
    data: GenDataConfig = field(default_factory=GenDataConfig)
    model: GenModelConfig = field(default_factory=GenModelConfig)
    optim: GenOptimConfig = field(default_factory=GenOptimConfig)
    system: GenSystemConfig = field(default_factory=GenSystemConfig)


def check_config(cfg: GenConfig) -> None:
    """Refuse configurations that cannot train, before any work starts."""
    kit.check_common(cfg)
    d, m, o = cfg.data, cfg.model, cfg.optim
    if not 16 <= d.size <= 256:
        raise BenchError(f"data.size must be between 16 and 256 pixels (got {d.size})")
    if d.images < 4:
        raise BenchError(f"data.images must be at least 4 (got {d.images})")
    if not 0 < d.test_fraction < 1:
        raise BenchError(f"data.test_fraction must be between 0 and 1, exclusive (got {d.test_fraction})")
    if m.latent < 1:
        raise BenchError(f"model.latent must be at least 1 (got {m.latent})")
    if m.width < 1:
        raise BenchError(f"model.width must be at least 1 (got {m.width})")
    if not (m.beta >= 0 and math.isfinite(m.beta)):
        raise BenchError(f"model.beta must be a finite number >= 0 (got {m.beta})")
    if not (o.gan_lr > 0 and math.isfinite(o.gan_lr)):
        raise BenchError(f"optim.gan_lr must be a positive finite number (got {o.gan_lr})")
    if not 0 <= o.beta1 < 1:
        raise BenchError(f"optim.beta1 must be in [0, 1) (got {o.beta1})")
    if o.batch_size < 2:
        raise BenchError("the networks have BatchNorm: optim.batch_size must be at least 2")
    if cfg.system.figures_every < 1:
        raise BenchError(f"system.figures_every must be at least 1 (got {cfg.system.figures_every})")


# ----------------------------------------------------------------- measures
def to_float(x_uint8: torch.Tensor) -> torch.Tensor:
    return x_uint8.float() / 127.5 - 1.0


class Reference:
    """What samples are compared with: a pixel PCA fitted on the training
    images, and the test images' Gaussian, diversity and sharpness."""

    def __init__(self, train: np.ndarray, test: np.ndarray, seed: int):
        from sklearn.decomposition import PCA

        flat = train[:PCA_IMAGES].reshape(min(len(train), PCA_IMAGES), -1)
        k = max(1, min(PCA_COMPONENTS, len(flat) - 1, flat.shape[1]))
        self.pca = PCA(n_components=k, random_state=seed).fit(flat)
        self.mu, self.cov = self.gaussian(test)
        self.diversity = mean_pairwise_distance(test[:DIVERSITY_IMAGES])
        self.sharpness = sharpness(test)
        self.components = k

    def gaussian(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        z = self.pca.transform(x.reshape(len(x), -1)).astype(np.float64)
        return z.mean(0), np.atleast_2d(np.cov(z, rowvar=False)) if len(z) > 1 else np.zeros((z.shape[1],) * 2)

    def measure(self, samples: np.ndarray) -> dict[str, float]:
        """``SAMPLE_MEASURES`` of finite samples."""
        mu, cov = self.gaussian(samples)
        return {"frechet": frechet_distance(mu, cov, self.mu, self.cov),
                "diversity": mean_pairwise_distance(samples[:DIVERSITY_IMAGES]) / max(self.diversity, 1e-12),
                "sharpness": sharpness(samples) / max(self.sharpness, 1e-12)}


def frechet_distance(mu1: np.ndarray, cov1: np.ndarray, mu2: np.ndarray, cov2: np.ndarray) -> float:
    """||mu1 - mu2||² + Tr(cov1 + cov2 - 2 (cov1 cov2)^½) of two Gaussians."""
    import warnings

    from scipy import linalg

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a nearly singular product: handled below
        root = linalg.sqrtm(cov1 @ cov2)
        if not np.isfinite(root).all():  # nudge both covariances
            eps = np.eye(len(cov1)) * 1e-6
            root = linalg.sqrtm((cov1 + eps) @ (cov2 + eps))
    root = np.real(root)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * np.trace(root))


def mean_pairwise_distance(x: np.ndarray) -> float:
    """Mean Euclidean distance between two different images of ``x`` (pixels in [-1, 1])."""
    flat = torch.from_numpy(np.ascontiguousarray(x.reshape(len(x), -1), dtype=np.float32))
    if len(flat) < 2:
        return 0.0
    d = torch.cdist(flat[None].double(), flat[None].double())[0]
    n = len(flat)
    return float(d.sum() / (n * (n - 1)))


def sharpness(x: np.ndarray) -> float:
    """Mean |4-neighbour Laplacian| of the grey images (pixels in [-1, 1])."""
    g = np.asarray(x, dtype=np.float64).mean(1)
    lap = 4 * g[:, 1:-1, 1:-1] - g[:, :-2, 1:-1] - g[:, 2:, 1:-1] - g[:, 1:-1, :-2] - g[:, 1:-1, 2:]
    return float(np.abs(lap).mean())


def grid(images: np.ndarray | torch.Tensor, cols: int, pad: int = 2) -> np.ndarray:
    """(n, 3, s, s) images in [-1, 1] (NaN = an empty cell) -> one uint8 (H, W, 3) picture, white gaps."""
    x = images.detach().cpu().float().numpy() if isinstance(images, torch.Tensor) else np.asarray(images, np.float32)
    n, _, s, _ = x.shape
    rows = math.ceil(n / cols)
    out = np.full((rows * (s + pad) + pad, cols * (s + pad) + pad, 3), 255, np.uint8)
    cells = np.nan_to_num((x + 1) * 127.5, nan=235.0).clip(0, 255).round().astype(np.uint8).transpose(0, 2, 3, 1)
    for i, cell in enumerate(cells):
        r, c = divmod(i, cols)
        out[pad + r * (s + pad): pad + r * (s + pad) + s, pad + c * (s + pad): pad + c * (s + pad) + s] = cell
    return out


def lerp_rows(z0: torch.Tensor, z1: torch.Tensor, steps: int = INTERP_STEPS) -> torch.Tensor:
    """(pairs * steps, latent): for each pair, ``steps`` points from z0 to z1."""
    t = torch.linspace(0, 1, steps, device=z0.device)[None, :, None]
    return ((1 - t) * z0[:, None] + t * z1[:, None]).reshape(-1, z0.shape[1])


# ------------------------------------------------------------------------ fit
@dataclass
class Pictures:
    """What ``save_artifacts`` writes: uint8 (H, W, 3) pictures (picklable)."""

    samples: dict[int, np.ndarray] = field(default_factory=dict)  # epoch -> 8 x 8 sample grid
    interpolation: np.ndarray | None = None
    reconstructions: np.ndarray | None = None
    arch: str = ""
    size: int = 0

    def state_dict(self) -> dict:
        """The sample grids so far, for a checkpoint (engine.checkpoint)."""
        return {"samples": {epoch: torch.from_numpy(image) for epoch, image in self.samples.items()}}

    def load_state_dict(self, state: dict) -> None:
        self.samples = {int(epoch): image.numpy() for epoch, image in state["samples"].items()}


class VAEModel:
    """The VAE's networks, one optimiser step, its epoch metrics and pictures."""

    stats = ("train_recon", "train_kl")  # per-step values averaged over the epoch

    def __init__(self, cfg: GenConfig, size: int, device: torch.device):
        self.vae = ConvVAE(size, cfg.model.latent, cfg.model.width).to(device)
        self.nets = {"vae": self.vae}
        self.opt = kit.adam(self.vae.parameters(), lr=cfg.optim.lr, betas=(cfg.optim.beta1, 0.999))
        self.optimizers = {"vae_adam": self.opt}
        self.beta, self.pixels = cfg.model.beta, 3 * size**2

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z)

    def step(self, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the step's loss, its stats) as device tensors: reconstruction + beta x KL per image."""
        recon, mu, logvar = self.vae(xb)
        rec = ((recon - xb) ** 2).flatten(1).sum(1)
        kl = kl_per_image(mu, logvar)
        loss = (rec + self.beta * kl).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return loss.detach(), torch.stack([rec.mean() / self.pixels, kl.mean()]).detach()

    @torch.no_grad()
    def evaluate(self, x_test: torch.Tensor) -> dict[str, float]:
        """Test reconstruction error (decoded from the posterior mean) and KL."""
        self.vae.eval()
        rec, kl = [], []
        for chunk in x_test.split(256):
            xb = to_float(chunk)
            mu, logvar = self.vae.encode(xb)
            rec.append(((self.vae.decode(mu) - xb) ** 2).flatten(1).mean(1))
            kl.append(kl_per_image(mu, logvar))
        self.vae.train()
        return {"test_recon": torch.cat(rec).mean().item(), "test_kl": torch.cat(kl).mean().item()}

    @torch.no_grad()
    def final_pictures(self, pictures: Pictures, x_test: torch.Tensor, noise_rng: torch.Generator, generate) -> None:
        """Interpolation: 3 rows between the encodings (posterior means) of two
        test images, each framed by the two real images; 3 rows between two
        random z (empty end cells). Reconstructions: 8 test images over their
        decodings (posterior mean), twice."""
        device, latent = x_test.device, self.vae.latent
        self.vae.eval()
        pick = torch.randperm(len(x_test), generator=noise_rng)
        pairs = pick[:6].to(device) if len(x_test) >= 6 else torch.arange(6, device=device) % len(x_test)
        a, b = to_float(x_test[pairs[:3]]), to_float(x_test[pairs[3:6]])
        mu_a, mu_b = self.vae.encode(a)[0], self.vae.encode(b)[0]
        encoded = generate(lerp_rows(mu_a, mu_b)).view(3, INTERP_STEPS, *a.shape[1:])
        ends = torch.randn(2, 3, latent, generator=noise_rng).to(device)
        random = generate(lerp_rows(ends[0], ends[1])).view(3, INTERP_STEPS, *a.shape[1:])
        blank = torch.full_like(a[:1], float("nan"))
        rows = [torch.cat([a[i:i + 1], encoded[i], b[i:i + 1]]) for i in range(3)]
        rows += [torch.cat([blank, random[i], blank]) for i in range(3)]
        pictures.interpolation = grid(torch.cat(rows), INTERP_STEPS + 2)
        idx = (pick[6:6 + 16] if len(x_test) >= 22 else torch.arange(16) % len(x_test)).to(device)
        originals = to_float(x_test[idx])
        self.vae.eval()
        recon = self.vae.decode(self.vae.encode(originals)[0])
        self.vae.train()
        pictures.reconstructions = grid(torch.cat([originals[:8], recon[:8], originals[8:], recon[8:]]), 8)


class GANModel:
    """The DCGAN's networks, one step (discriminator, then generator), its pictures."""

    stats = ("d_loss", "g_loss", "d_real", "d_fake")

    def __init__(self, cfg: GenConfig, size: int, device: torch.device):
        m, o = cfg.model, cfg.optim
        self.gen, self.disc = Generator(size, m.latent, m.width).to(device), Discriminator(size, m.width).to(device)
        self.nets = {"generator": self.gen, "discriminator": self.disc}
        adam = dict(lr=o.gan_lr, betas=(o.beta1, 0.999))
        self.opt_g, self.opt_d = kit.adam(self.gen.parameters(), **adam), \
            kit.adam(self.disc.parameters(), **adam)
        self.optimizers = {"generator_adam": self.opt_g, "discriminator_adam": self.opt_d}
        self.latent = m.latent

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.gen(z)

    def step(self, xb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the discriminator's loss, [D loss, G loss, D(x), D(G(z))]) as device tensors."""
        z = torch.randn(len(xb), self.latent, device=xb.device)
        fake = self.gen(z)
        real_logit, fake_logit = self.disc(xb), self.disc(fake.detach())
        d_loss = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                  + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
        self.opt_d.zero_grad(set_to_none=True)
        d_loss.backward()
        self.opt_d.step()
        g_logit = self.disc(fake)  # the non-saturating generator loss: make D call the fakes real
        g_loss = F.binary_cross_entropy_with_logits(g_logit, torch.ones_like(g_logit))
        self.opt_g.zero_grad(set_to_none=True)
        g_loss.backward()
        self.opt_g.step()
        stats = torch.stack([d_loss, g_loss, torch.sigmoid(real_logit).mean(), torch.sigmoid(fake_logit).mean()])
        return d_loss.detach(), stats.detach()

    def evaluate(self, x_test: torch.Tensor) -> dict[str, float]:
        return {}

    @torch.no_grad()
    def final_pictures(self, pictures: Pictures, x_test: torch.Tensor, noise_rng: torch.Generator, generate) -> None:
        """Interpolation: 6 rows, each between two random z."""
        ends = torch.randn(2, 6, self.latent, generator=noise_rng).to(x_test.device)
        pictures.interpolation = grid(generate(lerp_rows(ends[0], ends[1])), INTERP_STEPS)


def fit(cfg: GenConfig, data: GenImages, session: kit.RunSession) -> kit.Fitted:
    # --- set up: device, seeds, data on the device, batches
    device = resolve_device(cfg.system.device)
    seed_everything(cfg.system.seed)
    order_rng = torch.Generator().manual_seed(cfg.system.seed)
    noise_rng = torch.Generator().manual_seed(cfg.system.seed + 1)  # fixed noise: same for every epoch
    m, o = cfg.model, cfg.optim
    x_train = torch.from_numpy(data.x["train"]).to(device)
    x_test = torch.from_numpy(data.x["test"]).to(device)
    n = len(x_train)
    if n < 2:
        raise BenchError(f"gen: the training split holds {n} image(s); at least 2 are needed")
    batch = min(o.batch_size, n)
    steps = n // batch  # the last partial batch is dropped
    notes = [data.source]
    if data.skipped:
        listed = ", ".join(s["file"] for s in data.skipped[:5]) + (" …" if len(data.skipped) > 5 else "")
        notes.append(f"{len(data.skipped)} unreadable file(s) skipped: {listed}")
    session.start(o.epochs, steps, device, "; ".join(notes))

    # --- what samples are measured against, and the fixed noise they come from
    train_float, test_float = data.as_float("train"), data.as_float("test")
    reference = Reference(train_float, test_float, cfg.system.seed)
    fixed_z = torch.randn(GRID_SIDE**2, m.latent, generator=noise_rng).to(device)
    eval_z = torch.randn(EVAL_SAMPLES, m.latent, generator=noise_rng).to(device)
    extra = {"generative": {
        "arch": m.arch, "size": data.size, "eval_samples": EVAL_SAMPLES, "pca_components": reference.components,
        "real_diversity": reference.diversity, "real_sharpness": reference.sharpness,
        "mean_image_recon": float(((test_float - train_float.mean(0, keepdims=True)) ** 2).mean()),
        # the sample measures of references a generator must be told apart from: uniform noise in [-1, 1] and
        # the mean training image repeated (two generators that learned nothing) and real training images
        "noise": reference.measure(np.random.default_rng(cfg.system.seed).uniform(
            -1.0, 1.0, (EVAL_SAMPLES, *test_float.shape[1:])).astype(test_float.dtype)),
        "mean": reference.measure(np.repeat(train_float.mean(0, keepdims=True), EVAL_SAMPLES, axis=0)),
        "real": reference.measure(train_float[:EVAL_SAMPLES]),
        "steps_per_epoch": steps, "batch_size": batch,
    }}
    del train_float, test_float

    # --- the model
    model = VAEModel(cfg, data.size, device) if m.arch == "vae" else GANModel(cfg, data.size, device)
    extra["generative"]["parameters"] = {k: sum(p.numel() for p in v.parameters()) for k, v in model.nets.items()}
    pictures = Pictures(arch=m.arch, size=data.size)

    @torch.no_grad()
    def generate(z: torch.Tensor) -> torch.Tensor:
        """Images from latent points, in eval mode (BatchNorm's running statistics)."""
        for net in model.nets.values():
            net.eval()
        out = torch.cat([model.decode(chunk) for chunk in z.split(256)])
        for net in model.nets.values():
            net.train()
        return out

    status, message = "ok", ""
    # a run cut short resumes after its last whole epoch (engine.checkpoint)
    first = session.resume_from(**model.nets, **model.optimizers, order=order_rng, noise=noise_rng,
                                pictures=pictures)
    for epoch in range(first + 1, o.epochs + 1):
        # --- forward / backward / step, per batch; per-step values stay on the device
        started = time.perf_counter()
        perm = torch.randperm(n, generator=order_rng)[: steps * batch].to(device).view(steps, batch)
        step_losses = torch.zeros(steps, device=device)
        sums = torch.zeros(len(model.stats), device=device)
        done = 0
        for step in range(steps):
            step_losses[step], stats = model.step(to_float(x_train[perm[step]]))
            sums += stats
            done = step + 1
            if session.tick(epoch, step, steps):
                status, message = "stopped", f"stopped by request in epoch {epoch}"
                break

        # --- evaluate: the model's own metrics, then its samples against the test images
        metrics = dict(zip(model.stats, (sums / max(done, 1)).tolist()))
        metrics.update(model.evaluate(x_test))
        samples = generate(eval_z)
        finite = bool(torch.isfinite(samples).all())
        # not finite: the sample measures are NaN (not left out: every history list stays in line with `epoch`)
        measured = reference.measure(samples.cpu().numpy()) if finite else dict.fromkeys(SAMPLE_MEASURES, math.nan)
        metrics = {**measured, **metrics}
        if finite and (epoch % cfg.system.figures_every == 0 or epoch == o.epochs or status == "stopped"):
            pictures.samples[epoch] = grid(generate(fixed_z), GRID_SIDE)

        # --- log, then the stop and divergence checks
        finite = session.epoch_end(epoch, metrics, step_losses[:done].tolist(), time.perf_counter() - started,
                                   finite=finite)
        if not finite:
            status, message = "diverged", f"loss or samples became NaN or infinite in epoch {epoch}"
            break
        if status == "stopped":
            break

    # --- the final pictures (kept in memory: the kind's save_artifacts writes them)
    if status != "diverged":
        model.final_pictures(pictures, x_test, noise_rng, generate)
    extra["generative"]["sample_epochs"] = sorted(pictures.samples)
    return kit.Fitted(status, message, pictures, extra)
