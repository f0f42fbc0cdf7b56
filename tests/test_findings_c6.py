"""Every Part C.6 claim, judged on hand-made run records (no training): the reproduced case (3 seeds), an
untrained model (a generator of zeros or of pure noise, a VAE no better than the mean image), the claim
reversed and missing runs."""

from __future__ import annotations

import pytest

from engine.studies import (BENCH, INCONCLUSIVE, NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, STUDIES, studies)
from engine.studies import part_c_lab6
from engine.studies.part_c_lab6 import (discriminator_not_winning, gan_diverse, vae_beats_mean_image, vae_blurrier,
                                        vae_kl_alive)

SEEDS = (42, 43, 44)
# the sample measures of uniform noise and of real training images, as the trainer records them
# (measured on quick.toml's stand-in faces: noise 688 / 1.24 / 7.39, mean image 620 / 0 / 0.17, real 16.6 / 0.99 /
# 1.03; the VAE after 15 epochs: 137 / 0.59 / 0.60)
REFERENCES = {"noise": {"frechet": 688.0, "diversity": 1.24, "sharpness": 7.39},
              "mean": {"frechet": 620.0, "diversity": 0.0, "sharpness": 0.17},
              "real": {"frechet": 16.6, "diversity": 0.99, "sharpness": 1.03}}
NOISE = dict(frechet=688.0, diversity=1.24, sharp=7.39)  # a generator of pure noise: inside the diversity band
ZEROS = dict(frechet=620.0, diversity=0.0, sharp=0.17)  # a generator of the mean image only


def vae_run(recon: float = 0.034, baseline: float = 0.227, kl: float = 42.0, sharp: float = 0.6,
            frechet: float = 137.0, diversity: float = 0.59, status: str = "ok", seed: int = 42) -> dict:
    wobble = (seed - 42) * 0.01  # seeds differ a little
    return {"status": status, "name": "arch=vae", "seed": seed, "config": {"model": {"arch": "vae", "beta": 1.0}},
            "history": {"epoch": [1, 2, 3]}, "generative": {"mean_image_recon": baseline, **REFERENCES},
            "final": {"frechet": frechet, "diversity": diversity, "sharpness": sharp + wobble,
                      "test_recon": recon * (1 + wobble), "test_kl": kl + wobble, "d_loss": None, "g_loss": None}}


def gan_run(d_loss: float = 0.34, diversity: float = 1.08, sharp: float = 1.6, frechet: float = 41.0,
            status: str = "ok", seed: int = 42) -> dict:
    wobble = (seed - 42) * 0.01
    d_losses = [0.6, 0.9] + [d_loss + wobble + e for e in (-0.02, 0.04, -0.02, 0.01, -0.01)]  # last 5 average d_loss
    return {"status": status, "name": "arch=gan", "seed": seed, "config": {"model": {"arch": "gan", "beta": 1.0}},
            "history": {"epoch": list(range(1, 8)), "d_loss": d_losses},
            "generative": {"mean_image_recon": 0.227, **REFERENCES},
            "final": {"frechet": frechet, "diversity": diversity + wobble, "sharpness": sharp + wobble,
                      "test_recon": None, "test_kl": None, "d_loss": d_loss, "g_loss": 2.8, "d_real": 0.86,
                      "d_fake": 0.14}}


def gen(vae: dict | None = None, gan: dict | None = None, seeds=SEEDS) -> dict:
    runs = []
    for seed in seeds:
        if vae is not None:
            runs.append(vae_run(seed=seed, **vae))
        if gan is not None:
            runs.append(gan_run(seed=seed, **gan))
    return {"generative": runs}


BOTH = gen({}, {})
UNTRAINED_VAE = gen({"recon": 0.227, "frechet": 600.0}, {})  # reconstructs no better than the mean image
NOISE_GAN = gen({}, {"d_loss": 1.386, **NOISE})  # a generator of pure noise: D cannot tell either
ZERO_GAN = gen({}, {"d_loss": 1.386, **ZEROS})


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (vae_beats_mean_image, BOTH, REPRODUCED),
    (vae_beats_mean_image, UNTRAINED_VAE, NOT_REPRODUCED),
    (vae_beats_mean_image, gen({"recon": 0.3}), NOT_REPRODUCED),  # reversed
    (vae_beats_mean_image, gen(gan={}), NOT_MEASURED),
    (vae_beats_mean_image, gen({"status": "failed"}), NOT_MEASURED),
    (vae_kl_alive, BOTH, REPRODUCED),
    (vae_kl_alive, UNTRAINED_VAE, NOT_REPRODUCED),  # a live KL means nothing when the VAE learned nothing
    (vae_kl_alive, gen({"kl": 0.01}), NOT_REPRODUCED),  # reversed: collapsed
    (vae_kl_alive, {}, NOT_MEASURED),
    (discriminator_not_winning, BOTH, REPRODUCED),
    (discriminator_not_winning, NOISE_GAN, NOT_REPRODUCED),
    (discriminator_not_winning, ZERO_GAN, NOT_REPRODUCED),
    (discriminator_not_winning, gen(gan={"d_loss": 0.02}), NOT_REPRODUCED),  # reversed: D wins outright
    (discriminator_not_winning, gen({}), NOT_MEASURED),
    (gan_diverse, BOTH, REPRODUCED),
    (gan_diverse, NOISE_GAN, NOT_REPRODUCED),
    (gan_diverse, ZERO_GAN, NOT_REPRODUCED),
    (gan_diverse, gen(gan={"diversity": 0.1}), NOT_REPRODUCED),  # reversed: mode collapse
    (gan_diverse, gen(gan={"diversity": 2.5}), NOT_REPRODUCED),  # scatter beyond the band
    (gan_diverse, gen({}), NOT_MEASURED),
    (vae_blurrier, BOTH, REPRODUCED),
    (vae_blurrier, gen({"sharp": 0.6}, NOISE), NOT_REPRODUCED),  # noise is "sharp": no pass on it
    (vae_blurrier, gen({"sharp": 0.17, "frechet": 620.0, "diversity": 0.0}, {}), NOT_REPRODUCED),  # mean image
    (vae_blurrier, gen({"sharp": 1.2}, {"sharp": 0.9}), NOT_REPRODUCED),  # reversed
    (vae_blurrier, gen(gan={}), NOT_MEASURED),
    # a GAN that diverged in its last epoch: its sample measures are NaN, not an older epoch's values
    (gan_diverse, gen(gan={"diversity": float("nan"), "sharp": float("nan"), "status": "diverged"}),
     NOT_REPRODUCED),
    (vae_blurrier, gen({}, {"diversity": float("nan"), "sharp": float("nan"), "status": "diverged"}), NOT_MEASURED),
])
def test_lab6_claims(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.6"


def test_the_guards_say_why():
    assert "no images" in gan_diverse(NOISE_GAN).measured
    assert "no images" in vae_blurrier(gen({}, NOISE)).measured
    assert "nothing learned" in vae_kl_alive(UNTRAINED_VAE).measured


def test_one_seed_is_inconclusive_and_every_claim_is_the_benchs():
    assert all(c.source == BENCH for c in part_c_lab6.CLAIMS)  # the course reports pictures, not numbers
    one = gen({}, {}, seeds=(42,))
    assert [c(one).verdict for c in part_c_lab6.CLAIMS] == [INCONCLUSIVE] * 5


def test_runs_without_the_noise_and_real_references_are_not_measured():
    old = gen({}, {})
    for r in old["generative"]:
        del r["generative"]["noise"]
    for c in (discriminator_not_winning, gan_diverse, vae_blurrier):
        outcome = c(old)
        assert outcome.verdict == NOT_MEASURED and "rerun" in outcome.measured


def test_the_measured_text_quotes_the_numbers():
    assert "VAE 0.0340, mean image 0.2270 (after 3 epochs)" in vae_beats_mean_image(BOTH).measured
    measured = discriminator_not_winning(BOTH).measured
    assert "mean of the last 5 epochs" in measured and "D(x) 0.86, D(G(z)) 0.14" in measured
    assert "VAE 0.60, GAN 1.60" in vae_blurrier(BOTH).measured


def test_lab6_is_registered_after_part_c_and_chosen_by_its_experiment():
    assert STUDIES.index("engine.studies.part_c_lab6") > STUDIES.index("engine.studies.part_c")
    assert studies({"generative": []}) == [part_c_lab6]
    assert part_c_lab6.EXPERIMENTS == ["generative"]
    assert part_c_lab6.TITLE == "Part C — lab 6: VAE and GAN" and part_c_lab6.LABEL == "Part C"


def test_a_diverged_gan_is_said_to_have_no_finite_samples():
    diverged = gen({}, {"diversity": float("nan"), "sharp": float("nan"), "status": "diverged"}, seeds=(42,))
    assert "samples were not finite in its last epoch (diverged, after 7 epochs)" in gan_diverse(diverged).measured
    assert "the GAN's samples were not finite" in vae_blurrier(diverged).measured
