"""Kind ``generative``: a convolutional VAE and a DCGAN on a folder of face
images (STUDY Part C.6), or on cartoon faces the bench draws itself.

One kind, two runs: ``model.arch`` = ``vae`` or ``gan``. The primary metric
is one both models fill: the Fréchet distance between their samples and the
test images in a pixel-PCA space (lower is better). The VAE's
reconstruction and KL and the GAN's discriminator and generator losses are
metrics only one arch fills; the other shows "—" for them.
"""

from __future__ import annotations

from pathlib import Path

from engine.data.generative import load_images
from engine.figures import generic_figures
from engine.figures import generative as figures
from engine.kinds import FigureKind, Kind, Metric, Preview, register
from engine.trainers import generative as trainer

METRICS = (
    Metric("frechet", "Fréchet distance of samples to test images (pixel PCA)", "Fréchet", "lower", fmt=".1f"),
    Metric("diversity", "sample diversity (mean pairwise distance / real images')", "diversity", "higher"),
    Metric("sharpness", "sample sharpness (mean absolute Laplacian / real images')", "sharpness", "higher"),
    Metric("train_recon", "train reconstruction error (VAE)", "train recon", "lower", "MSE per pixel", ".4f"),
    Metric("test_recon", "test reconstruction error (VAE)", "test recon", "lower", "MSE per pixel", ".4f"),
    Metric("train_kl", "train KL divergence (VAE)", "train KL", "lower", "nats per image", ".2f"),
    Metric("test_kl", "test KL divergence (VAE)", "test KL", "lower", "nats per image", ".2f"),
    Metric("d_loss", "discriminator loss (GAN)", "D loss", "lower", fmt=".3f"),
    Metric("g_loss", "generator loss (GAN)", "G loss", "lower", fmt=".3f"),
    Metric("d_real", "D(x) on real images (GAN)", "D(x)", "higher"),
    Metric("d_fake", "D(G(z)) on generated images (GAN)", "D(G(z))", "higher"),
)


def load(cfg: trainer.GenConfig, data_root: Path):
    d = cfg.data
    return load_images(d.path, d.size, d.images, d.test_fraction, d.seed,
                       cache_dir=Path(data_root) / "cache" / "generative")


def describe(data) -> dict:
    return {"name": "gen", "source": data.source, "sizes": data.sizes(), "image_size": data.size,
            "standin": data.standin, "skipped_files": data.skipped,
            "root": str(data.root) if data.root else None}


def preview(data) -> Preview:
    from engine.trainers.generative import grid

    sizes = ", ".join(f"{k} {v}" for k, v in data.sizes().items())
    text = f"{data.source}\nsplits: {sizes}; {data.size}x{data.size} RGB in [-1, 1]"
    if data.skipped:
        text += f"; {len(data.skipped)} unreadable file(s) skipped: " + ", ".join(s["file"] for s in data.skipped[:3])
    return Preview(text, image=grid(data.as_float("train")[:32], 8))


def save(result, run_dir: Path, record: dict, data) -> list[str]:
    record.update(result.extra)
    return figures.write_pictures(result.model, run_dir) if result.model is not None else []


KIND = register(Kind(
    name="generative",
    title="VAE and GAN on face images, Part C.6",
    description="STUDY Part C.6: a convolutional VAE and a DCGAN; sample grids and latent interpolations",
    config_type=trainer.GenConfig,
    fit=trainer.fit,
    check_config=trainer.check_config,
    datasets={"gen": "any folder of .jpg/.jpeg/.png images, searched recursively (e.g. cartoon faces)"},
    load_data=load,
    data_key=lambda cfg: ("gen", cfg.data.path, cfg.data.size, cfg.data.images, cfg.data.test_fraction,
                          cfg.data.seed),
    describe_data=describe,
    preview=preview,
    metrics=METRICS,
    primary="frechet",
    shown=("frechet", "diversity", "test_recon", "test_kl", "d_loss", "g_loss"),
    step_loss_label="training loss per step (VAE: squared error + β·KL per image; GAN: discriminator BCE)",
    figures={
        **generic_figures(),
        "overview": FigureKind(figures.overview, frozenset({"file"}),
                               help="each model's loss curves, final samples and interpolation, side by side"),
        "table": FigureKind(figures.table, frozenset({"file"}), help="final measures of every run (final_table.md)"),
    },
    default_figures=({"kind": "overview"}, {"kind": "curves", "metrics": ["frechet"]}, {"kind": "table"}),
    save_artifacts=save,
))
