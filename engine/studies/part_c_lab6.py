"""STUDY Part C, lab 6: a VAE and a GAN on face images, answered from the
`generative` runs' records.

The course reports pictures, not numbers; the claims below are the usual
expectations of the two models, each made measurable: the VAE learns
something (it reconstructs held-out faces better than their mean image does)
without collapsing its posterior; the GAN neither lets its discriminator win
outright nor collapses onto a few samples; the VAE's samples are blurrier
than the GAN's. The measures are computed by the trainer and stored in the
run records (``final`` and ``generative``); thresholds are stated in the
claims.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from engine.studies import NOT_MEASURED, Outcome, Report, Records, claim, judge, status_note, usable

LABEL = "Part C"
TITLE = f"{LABEL} — lab 6: VAE and GAN"
EXPERIMENTS = ["generative"]

KL_FLOOR = 0.1  # nats per image: below it, the posterior has collapsed onto the prior
D_LOSS_FLOOR = 0.1  # the discriminator's BCE(real) + BCE(fake): 0 = it wins outright, 2 ln 2 = it cannot tell
LAST_EPOCHS = 5  # the discriminator's loss swings from epoch to epoch: judged on its mean over these
DIVERSITY_FLOOR = 0.5  # samples' mean pairwise distance / real images': near 0 = mode collapse


def gen_runs(records: Records) -> dict[str, dict]:
    """The `generative` runs by arch (vae, gan); the first of each."""
    runs: dict[str, dict] = {}
    for r in usable(records, "generative"):
        runs.setdefault(r["config"]["model"]["arch"], r)
    return runs


def final(run: dict | None, key: str) -> float | None:
    value = None if run is None else (run.get("final") or {}).get(key)
    return value if isinstance(value, (int, float)) else None


def epochs_note(run: dict) -> str:
    epochs = (run.get("history") or {}).get("epoch") or []
    return f"after {epochs[-1]} epochs" if epochs else "after no epoch"


@claim("C.6", "the VAE reconstructs held-out faces better than their mean image does "
              "(test reconstruction error below that of predicting the mean training image)")
def vae_beats_mean_image(records: Records) -> Outcome:
    run = gen_runs(records).get("vae")
    recon = final(run, "test_recon")
    baseline = None if run is None else (run.get("generative") or {}).get("mean_image_recon")
    if recon is None or not isinstance(baseline, (int, float)):
        return judge(None, None)
    return judge(f"test squared error per pixel: VAE {recon:.4f}, mean image {baseline:.4f} ({epochs_note(run)})",
                 recon < baseline)


@claim("C.6", f"the VAE's posterior does not collapse: its test KL term is finite and above {KL_FLOOR} nats "
              "per image")
def vae_kl_alive(records: Records) -> Outcome:
    run = gen_runs(records).get("vae")
    kl = final(run, "test_kl")
    if kl is None:
        return judge(None, None)
    beta = run["config"]["model"].get("beta")
    return judge(f"test KL {kl:.2f} nats per image (β = {beta:g})", math.isfinite(kl) and kl > KL_FLOOR)


@claim("C.6", f"the GAN's discriminator does not win outright: its loss over the last {LAST_EPOCHS} epochs "
              f"averages above {D_LOSS_FLOOR} (0 = it always wins, 2 ln 2 = 1.39 = it cannot tell)")
def discriminator_not_winning(records: Records) -> Outcome:
    run = gen_runs(records).get("gan")
    losses = [v for v in ((run or {}).get("history") or {}).get("d_loss") or [] if isinstance(v, (int, float))]
    if not losses:
        return judge(None, None)
    last = losses[-LAST_EPOCHS:]
    mean = sum(last) / len(last)
    d_real, d_fake = final(run, "d_real"), final(run, "d_fake")
    extra = f"; final D(x) {d_real:.2f}, D(G(z)) {d_fake:.2f}" if d_real is not None and d_fake is not None else ""
    return judge(f"discriminator loss {mean:.3f} on average over the last {len(last)} epochs (from "
                 f"{min(last):.3f} to {max(last):.3f}){extra} ({epochs_note(run)})",
                 math.isfinite(mean) and mean > D_LOSS_FLOOR)


def not_finite_note(run: dict) -> str:
    """Why a run's final sample measures are NaN: its last samples were not finite."""
    return f"samples were not finite in its last epoch ({run.get('status', '?')}, {epochs_note(run)})"


@claim("C.6", f"the GAN's samples do not collapse: their mean pairwise pixel distance is at least "
              f"{DIVERSITY_FLOOR:g} of the real test images'")
def gan_diverse(records: Records) -> Outcome:
    run = gen_runs(records).get("gan")
    diversity = final(run, "diversity")
    if diversity is None:
        return judge(None, None)
    if not math.isfinite(diversity):  # a diverged GAN's NaN samples are no diverse samples (never an older epoch's)
        return judge(f"no sample diversity: the GAN's {not_finite_note(run)}", False)
    return judge(f"sample diversity {diversity:.2f} of the real images'", diversity >= DIVERSITY_FLOOR)


@claim("C.6", "the VAE's samples are blurrier than the GAN's (lower mean absolute Laplacian, relative to real "
              "images)")
def vae_blurrier(records: Records) -> Outcome:
    runs = gen_runs(records)
    vae, gan = final(runs.get("vae"), "sharpness"), final(runs.get("gan"), "sharpness")
    if vae is None or gan is None:
        return judge(None, None)
    broken = [arch for arch, value in (("vae", vae), ("gan", gan)) if not math.isfinite(value)]
    if broken:  # nothing to compare: not measured, and the text says why
        return Outcome("; ".join(f"the {arch.upper()}'s {not_finite_note(runs[arch])}" for arch in broken)
                       + ": no sharpness to compare", NOT_MEASURED)
    return judge(f"sharpness relative to real images: VAE {vae:.2f}, GAN {gan:.2f}", vae < gan)


CLAIMS = (vae_beats_mean_image, vae_kl_alive, discriminator_not_winning, gan_diverse, vae_blurrier)


def picture(s: Report, run: dict, name: str, caption: str) -> str | None:
    """A Markdown image of a PNG in the run's folder, relative to the report, when it exists."""
    if name not in (run.get("artifacts") or []):
        return None
    folder = Path(run["_dir"]) if run.get("_dir") else s.out / "generative" / run["name"]
    if not (folder / name).is_file():
        return None
    return f"![{caption}]({Path(os.path.relpath(folder / name, s.out)).as_posix()})"


def section_generative(s: Report) -> str:
    parts = ["## C.6 VAE and GAN (experiment `generative`)", ""]
    runs = s.records.get("generative", [])
    if not runs:
        s.check_quietly(*CLAIMS)
        return "\n".join(parts + ["Not measured: the `generative` experiment has no runs."])
    sources = sorted({(r.get("data") or {}).get("source", "") for r in runs})
    first = runs[0]
    d, m, o = first["config"]["data"], first["config"]["model"], first["config"]["optim"]
    sizes = (first.get("data") or {}).get("sizes") or {}
    parts += ["Data: " + "; ".join(sources) + f". {sizes.get('train', '?')} training and {sizes.get('test', '?')} "
              f"test images of {d['size']}x{d['size']} pixels, RGB in [-1, 1].", "",
              f"Both models have latent size {m['latent']}, convolution width {m['width']} and train for "
              f"{o['epochs']} epochs with Adam (VAE lr {o['lr']:g}, GAN lr {o.get('gan_lr', o['lr']):g}, β1 "
              f"{o['beta1']:g}, batches of {o['batch_size']}). "
              "The VAE minimises the squared error summed over pixels plus β·KL (β = "
              f"{m['beta']:g}); the GAN is a DCGAN with the non-saturating generator loss. Both models' samples "
              "are compared with the test images by three measures: a Fréchet distance between Gaussians fitted "
              "in the space of the training images' first principal components of the pixels (an FID with "
              "pixel PCA instead of Inception features; lower is closer), the mean pairwise distance of the "
              "samples relative to the real images' (diversity), and their mean absolute Laplacian relative to the "
              "real images' (sharpness: below 1 is blurrier than the data; above 1 has more fine detail than the "
              "data, which for flat cartoon faces is mostly noise).", ""]
    table = s.out / "generative" / "final_table.md"
    if table.is_file():
        parts += [line for line in table.read_text(encoding="utf-8").splitlines() if line.startswith("|")] + [""]
    failed = [r for r in runs if r.get("status") != "ok"]
    if failed:
        parts += ["Runs that did not end ok: " + "; ".join(f"{r['name']}{status_note(r)}" for r in failed) + ".", ""]
    parts += [s.check(c) for c in CLAIMS]
    for arch, run in sorted(gen_runs(s.records).items(), key=lambda kv: kv[0] != "vae"):
        samples = sorted(f for f in run.get("artifacts") or [] if f.startswith("samples_epoch_"))
        name = arch.upper()
        shown = [picture(s, run, samples[-1], f"{name} samples at epoch {int(samples[-1][-7:-4])}")
                 if samples else None,
                 picture(s, run, "interpolation.png", f"{name} latent interpolation"),
                 picture(s, run, "reconstructions.png", f"{name} reconstructions (rows 1 and 3: test images; "
                                                        "rows 2 and 4: their reconstructions)")]
        earlier = [f"[epoch {int(f[-7:-4])}]({Path(os.path.relpath(Path(run['_dir']) / f, s.out)).as_posix()})"
                   for f in samples[:-1] if run.get("_dir")]
        parts += ["", f"### {name} (run `{run['name']}`)", ""]
        if arch == "vae":
            parts += ["Interpolation rows 1-3 go between the encodings (posterior means) of two test images, "
                      "shown at both ends; rows 4-6 between two random points of the latent space.", ""]
        parts += [line for p in shown if p for line in (p, "")]
        if earlier:
            parts += ["Earlier sample grids (same fixed noise): " + ", ".join(earlier) + "."]
    parts += ["", s.figure_links("generative")]
    return "\n".join(parts)


SECTIONS = [section_generative]
