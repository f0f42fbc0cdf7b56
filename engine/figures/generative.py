"""Figures of kind ``generative`` (STUDY Part C.6): the per-run pictures
(sample grids, interpolations, reconstructions) as PNGs, and the experiment's
overview: each model's loss curves over its final samples and interpolations,
side by side."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from engine.figures import save, status_note
from engine.io import atomic_path

MIN_SIDE = 384  # small grids are enlarged (nearest neighbour) to at least this many pixels


def write_png(picture: np.ndarray, path: Path) -> str:
    """A uint8 (H, W, 3) picture as a PNG, enlarged by a whole factor when small."""
    from PIL import Image

    scale = max(1, -(-MIN_SIDE // max(picture.shape[:2])))
    img = Image.fromarray(picture)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    with atomic_path(path) as tmp:
        img.save(tmp, format="PNG")
    return path.name


def sample_file(epoch: int) -> str:
    return f"samples_epoch_{epoch:03d}.png"


def write_pictures(pictures: Any, run_dir: Path) -> list[str]:
    """Every picture a run kept: ``samples_epoch_005.png`` …, ``interpolation.png``,
    ``reconstructions.png`` (VAE)."""
    written = [write_png(g, run_dir / sample_file(epoch)) for epoch, g in sorted(pictures.samples.items())]
    if pictures.interpolation is not None:
        written.append(write_png(pictures.interpolation, run_dir / "interpolation.png"))
    if pictures.reconstructions is not None:
        written.append(write_png(pictures.reconstructions, run_dir / "reconstructions.png"))
    return written


# ------------------------------------------------------------- figure kinds
def arch_of(record: dict) -> str:
    return record["config"]["model"]["arch"]


CURVES = {
    "vae": [("train_recon", "train reconstruction (MSE/pixel)", "-", "left"),
            ("test_recon", "test reconstruction (MSE/pixel)", "--", "left"),
            ("train_kl", "train KL (nats/image)", "-", "right"),
            ("test_kl", "test KL (nats/image)", "--", "right")],
    "gan": [("d_loss", "discriminator loss", "-", "left"), ("g_loss", "generator loss", "--", "left"),
            ("d_real", "D(x)", "-", "right"), ("d_fake", "D(G(z))", "--", "right")],
}
AXES = {"vae": ("reconstruction error (MSE per pixel, [-1, 1] scale)", "KL (nats per image)"),
        "gan": ("BCE loss", "discriminator output (probability 'real')")}


def _curves(ax, record: dict) -> None:
    arch = arch_of(record)
    h = record.get("history") or {}
    epochs = h.get("epoch") or []
    right = ax.twinx()
    lines = []
    for index, (name, label, style, side) in enumerate(CURVES.get(arch, [])):
        values = h.get(name) or []
        if values:
            target = ax if side == "left" else right
            lines += target.plot(epochs[: len(values)], values, style, color=f"C{index}", label=label)
    left_label, right_label = AXES.get(arch, ("", ""))
    ax.set_xlabel("epoch")
    ax.set_ylabel(left_label)
    right.set_ylabel(right_label)
    if arch == "gan":
        right.set_ylim(0, 1)
        ax.axhline(2 * np.log(2), color="grey", lw=0.8, ls=":")
    ax.grid(alpha=0.3)
    if lines:
        ax.legend(lines, [line.get_label() for line in lines], fontsize=7, loc="upper right")
    final = record.get("final") or {}
    frechet = final.get("frechet")
    ax.set_title(f"{arch.upper()}{status_note(record)}" + (f" — Fréchet (pixel PCA) {frechet:.1f}"
                                                          if frechet is not None else ""), fontsize=10)


def _picture(ax, path: Path | None, title: str) -> None:
    ax.axis("off")
    if path is not None and path.is_file():
        from PIL import Image

        with Image.open(path) as img:
            ax.imshow(np.asarray(img.convert("RGB")), interpolation="nearest")
        ax.set_title(textwrap.fill(title, 70), fontsize=9)
    else:
        ax.text(0.5, 0.5, f"({title}: none)", ha="center", va="center", transform=ax.transAxes)


def last_samples(record: dict) -> Path | None:
    files = sorted(f for f in record.get("artifacts") or [] if f.startswith("samples_epoch_"))
    return Path(record["_dir"]) / files[-1] if files and record.get("_dir") else None


def overview(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """One column per run (VAE first): loss curves, final sample grid, interpolation."""
    from matplotlib.figure import Figure

    runs = sorted(records, key=lambda r: (arch_of(r) != "vae", r.get("name", "")))
    fig = Figure(figsize=(6.2 * len(runs), 13.5))
    axes = fig.subplots(3, len(runs), squeeze=False, gridspec_kw={"height_ratios": [1, 1.5, 1.0]})
    for col, record in enumerate(runs):
        _curves(axes[0][col], record)
        samples = last_samples(record)
        epoch = samples.stem.rsplit("_", 1)[-1].lstrip("0") if samples else "?"
        _picture(axes[1][col], samples, f"{arch_of(record).upper()}: samples from fixed noise, epoch {epoch}")
        interp = Path(record["_dir"]) / "interpolation.png" if record.get("_dir") else None
        what = ("rows 1-3: between two test images' encodings (framed by the images); rows 4-6: between two "
                "random z" if arch_of(record) == "vae" else "between two random z, one row per pair")
        _picture(axes[2][col], interp, f"{arch_of(record).upper()} interpolation: {what}")
    source = ((runs[0].get("data") or {}).get("source") or "") if runs else ""
    fig.suptitle(f"{title}\n{source[:140]}", fontsize=11)
    fig.tight_layout()
    return [save(fig, out / spec.get("file", "overview.png"))]


def table(records: list[dict], out: Path, spec: dict, title: str, ctx: Any) -> list[str]:
    """final_table.md: per run, the final shared measures and each model's own losses."""
    from engine.io import write_text

    def cell(value) -> str:
        return "—" if value is None else f"{value:.3f}"

    lines = [f"# {title}", "", "| run | Fréchet (pixel PCA) | diversity / real | sharpness / real | test recon "
             "(MSE/pixel) | mean-image recon | test KL (nats) | D loss | G loss | D(x) | D(G(z)) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        f, g = r.get("final") or {}, r.get("generative") or {}
        lines.append(f"| {r.get('name')}{status_note(r)} | " + " | ".join(cell(v) for v in (
            f.get("frechet"), f.get("diversity"), f.get("sharpness"), f.get("test_recon"),
            g.get("mean_image_recon") if arch_of(r) == "vae" else None,
            f.get("test_kl"), f.get("d_loss"), f.get("g_loss"), f.get("d_real"), f.get("d_fake"))) + " |")
    write_text(out / spec.get("file", "final_table.md"), "\n".join(lines) + "\n")
    return [spec.get("file", "final_table.md")]
