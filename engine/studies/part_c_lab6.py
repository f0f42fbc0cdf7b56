"""STUDY Part C, lab 6: a VAE and a GAN on face images, answered from the
`generative` runs' records.

The course reports pictures, not numbers; the claims below are the usual
expectations of the two models, each made measurable: the VAE learns
something (it reconstructs held-out faces better than their mean image does)
without collapsing its posterior; the GAN neither lets its discriminator win
outright nor collapses onto a few samples; the VAE's samples are blurrier
than the GAN's. The measures are computed by the trainer and stored in the
run records (``final`` and ``generative``); thresholds are stated in the
claims. All five are the bench's checks (source ``bench``), each a t interval
of per-seed values (one seed: inconclusive). None passes on a generator that
learned nothing: samples must first be images, their Fréchet distance at
least halfway from that of uniform noise or of the mean image repeated (the
trainer records both, and real images') to real images'.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from engine.studies import (BENCH, Outcome, Report, Records, claim, measure, not_measured, over_seeds, per_seed,
                            status_note, usable)

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


RECON_GAIN = 0.1  # "learns": the VAE's test error at least 10 % below the mean image's
QUALITY_SHARE = 0.5  # samples count as images when their Fréchet distance is at least halfway from noise's to real's
DIVERSITY_BAND = (DIVERSITY_FLOOR, 1.5)  # of the real images' diversity: collapse below, noise-like spread above


def measure_seeds(text: str, est, margin: float, side: str, **kw) -> Outcome:
    """``measure`` of a per-seed value; one seed has no interval over seeds, and the text says so."""
    if est is not None and est.n == 1:
        text += "; one seed: no interval over seeds, so inconclusive (report.toml runs 3 seeds)"
    return measure(text, est, margin, side, **kw)


def values(records: Records, arch: str, fn) -> list[float]:
    """``fn(run)`` on each seed's first run of ``arch`` (None and non-finite values left out)."""
    out = per_seed(records, lambda r: (lambda run: None if run is None else fn(run))(gen_runs(r).get(arch)))
    return [v for v in out.values() if isinstance(v, (int, float)) and math.isfinite(v)]


def reference(run: dict, which: str, key: str) -> float | None:
    value = ((run.get("generative") or {}).get(which) or {}).get(key)
    return value if isinstance(value, (int, float)) and math.isfinite(value) else None


TRIVIAL = ("noise", "mean")  # generators that learned nothing: uniform noise, the mean training image repeated


def quality_gain(run: dict) -> float | None:
    """Where the samples' Fréchet distance lies from the closer trivial generator's (0) to real images' (1)."""
    f, real = final(run, "frechet"), reference(run, "real", "frechet")
    trivial = [reference(run, which, "frechet") for which in TRIVIAL]
    if f is None or real is None or None in trivial or not math.isfinite(f):
        return None
    floor = min(trivial)
    return None if floor <= real else (floor - f) / (floor - real)


def poor_quality(records: Records, *archs: str) -> str | None:
    """Why some model's samples are no images (no better than noise by the Fréchet bar), or None."""
    for arch in archs:
        gains = values(records, arch, quality_gain)
        if not gains:  # not_measured first (``no_reference``): here only a run whose samples are NaN
            return f"the {arch.upper()}'s samples have no Fréchet distance to judge"
        mean = sum(gains) / len(gains)
        if mean < QUALITY_SHARE:
            return (f"the {arch.upper()}'s samples are no images: their Fréchet distance is only {mean:.0%} of the "
                    "way from that of uniform noise or of the mean image repeated (the closer) to real images' "
                    f"(bar {QUALITY_SHARE:.0%})")
    return None


def no_reference(records: Records, *archs: str) -> str | None:
    """Why the samples' quality cannot be judged (runs that keep no noise / real references), or None."""
    for arch in archs:
        runs = [r for r in usable(records, "generative") if r["config"]["model"]["arch"] == arch]
        if runs and not any(all(reference(r, which, "frechet") is not None for which in (*TRIVIAL, "real"))
                            for r in runs):
            return (f"the {arch.upper()}'s runs keep no Fréchet distance of noise, of the mean image and of real "
                    "images to judge its samples' quality against (runs from before they were recorded: rerun them)")
    return None


def vae_untrained(records: Records) -> str | None:
    gains = values(records, "vae", recon_gain)
    if gains and sum(gains) / len(gains) < RECON_GAIN:
        return (f"nothing learned: the VAE's test error is only {sum(gains) / len(gains):.0%} below the mean "
                f"image's (bar {RECON_GAIN:.0%})")
    return None


def recon_gain(run: dict) -> float | None:
    recon, baseline = final(run, "test_recon"), (run.get("generative") or {}).get("mean_image_recon")
    if recon is None or not isinstance(baseline, (int, float)) or baseline <= 0:
        return None
    return 1.0 - recon / baseline


@claim("C.6", f"the VAE reconstructs held-out faces better than their mean image does (test reconstruction "
              f"error at least {RECON_GAIN:.0%} below that of predicting the mean training image)", source=BENCH,
       experiments=("generative",))
def vae_beats_mean_image(records: Records) -> Outcome:
    run = gen_runs(records).get("vae")
    est = over_seeds(values(records, "vae", recon_gain))
    if run is None or est is None:
        return not_measured()
    return measure_seeds(f"test squared error per pixel (first seed): VAE {final(run, 'test_recon'):.4f}, mean image "
                   f"{(run.get('generative') or {}).get('mean_image_recon', float('nan')):.4f} "
                   f"({epochs_note(run)}); effect = 1 − VAE / mean image", est, RECON_GAIN, ">")


@claim("C.6", f"the VAE's posterior does not collapse: its test KL term is above {KL_FLOOR} nats per image",
       source=BENCH, experiments=("generative",))
def vae_kl_alive(records: Records) -> Outcome:
    run = gen_runs(records).get("vae")
    est = over_seeds(values(records, "vae", lambda r: final(r, "test_kl")))
    if run is None or est is None:
        return not_measured()
    beta = run["config"]["model"].get("beta")
    return measure_seeds(f"test KL in nats per image (β = {beta:g}); effect = KL", est, KL_FLOOR, ">", digits=2,
                   unmet=vae_untrained(records))


def mean_d_loss(run: dict) -> float | None:
    losses = [v for v in (run.get("history") or {}).get("d_loss") or [] if isinstance(v, (int, float))]
    return sum(losses[-LAST_EPOCHS:]) / len(losses[-LAST_EPOCHS:]) if losses else None


@claim("C.6", f"the GAN's discriminator does not win outright: its loss over the last {LAST_EPOCHS} epochs "
              f"averages above {D_LOSS_FLOOR} (0 = it always wins, 2 ln 2 = 1.39 = it cannot tell)", source=BENCH,
       experiments=("generative",))
def discriminator_not_winning(records: Records) -> Outcome:
    run = gen_runs(records).get("gan")
    est = over_seeds(values(records, "gan", mean_d_loss))
    if run is None or est is None:
        return not_measured()
    if (why := no_reference(records, "gan")):
        return not_measured(why)
    d_real, d_fake = final(run, "d_real"), final(run, "d_fake")
    extra = f"; first seed's final D(x) {d_real:.2f}, D(G(z)) {d_fake:.2f}" if d_real is not None and \
        d_fake is not None else ""
    # an untrained GAN's discriminator cannot tell either: the samples must also be images
    return measure_seeds(f"discriminator loss, mean of the last {LAST_EPOCHS} epochs{extra} ({epochs_note(run)})", est,
                   D_LOSS_FLOOR, ">", unmet=poor_quality(records, "gan"))


def not_finite_note(run: dict) -> str:
    """Why a run's final sample measures are NaN: its last samples were not finite."""
    return f"samples were not finite in its last epoch ({run.get('status', '?')}, {epochs_note(run)})"


@claim("C.6", f"the GAN's samples do not collapse: their mean pairwise pixel distance is at least "
              f"{DIVERSITY_FLOOR:g} of the real test images' and at most {DIVERSITY_BAND[1]:g} (beyond it: scatter, "
              "not variety), and the samples are images (the Fréchet bar: uniform noise spreads only 1.2 times as "
              "much as the stand-in faces)", source=BENCH, experiments=("generative",))
def gan_diverse(records: Records) -> Outcome:
    run = gen_runs(records).get("gan")
    diversity = final(run, "diversity")
    if run is None or diversity is None:
        return not_measured()
    if not math.isfinite(diversity):  # a diverged GAN's NaN samples are no diverse samples (never an older epoch's)
        return measure(f"no sample diversity: the GAN's {not_finite_note(run)}", over_seeds([0.0]), DIVERSITY_FLOOR,
                       ">", unmet="its samples are not finite")
    if (why := no_reference(records, "gan")):
        return not_measured(why)
    est = over_seeds(values(records, "gan", lambda r: final(r, "diversity")))
    unmet = poor_quality(records, "gan")
    if unmet is None and est is not None and est.effect > DIVERSITY_BAND[1]:
        unmet = (f"the samples spread {est.effect:.2f} times as much as real images: noise, not diversity "
                 f"(band {DIVERSITY_BAND[0]:g}–{DIVERSITY_BAND[1]:g})")
    return measure_seeds("sample diversity relative to the real images'", est, DIVERSITY_FLOOR, ">", digits=2,
                   unmet=unmet)


@claim("C.6", "the VAE's samples are blurrier than the GAN's (lower mean absolute Laplacian, relative to real "
              "images)", source=BENCH, experiments=("generative",))
def vae_blurrier(records: Records) -> Outcome:
    runs = gen_runs(records)
    vae, gan = final(runs.get("vae"), "sharpness"), final(runs.get("gan"), "sharpness")
    if vae is None or gan is None:
        return not_measured()
    broken = [arch for arch, value in (("vae", vae), ("gan", gan)) if not math.isfinite(value)]
    if broken:  # nothing to compare: not measured, and the text says why
        return not_measured("; ".join(f"the {arch.upper()}'s {not_finite_note(runs[arch])}" for arch in broken)
                            + ": no sharpness to compare")

    if (why := no_reference(records, "vae", "gan")):
        return not_measured(why)

    def gap(r: Records) -> float | None:
        g = gen_runs(r)
        a, b = final(g.get("gan"), "sharpness"), final(g.get("vae"), "sharpness")
        return None if a is None or b is None or not (math.isfinite(a) and math.isfinite(b)) else a - b

    est = over_seeds([v for v in per_seed(records, gap).values() if v is not None],
                     "t interval of the per-seed differences")
    # noise is "sharp": both models' samples must be images first
    return measure_seeds(f"sharpness relative to real images (first seed): VAE {vae:.2f}, GAN {gan:.2f}; "
                   "effect = GAN − VAE", est, 0.0, ">", digits=2, unmet=poor_quality(records, "vae", "gan"))


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
