"""Every Part C.6 claim, judged on hand-made run records (no training), for
every verdict it can give."""

from __future__ import annotations

import pytest

from engine.studies import NOT_MEASURED, NOT_REPRODUCED, REPRODUCED, STUDIES, studies
from engine.studies import part_c_lab6
from engine.studies.part_c_lab6 import (discriminator_not_winning, gan_diverse, vae_beats_mean_image, vae_blurrier,
                                        vae_kl_alive)


def vae_run(recon: float = 0.034, baseline: float = 0.227, kl: float = 42.0, sharp: float = 0.6,
            status: str = "ok") -> dict:
    return {"status": status, "name": "arch=vae", "config": {"model": {"arch": "vae", "beta": 1.0}},
            "history": {"epoch": [1, 2, 3]}, "generative": {"mean_image_recon": baseline},
            "final": {"frechet": 137.0, "diversity": 0.59, "sharpness": sharp, "test_recon": recon, "test_kl": kl,
                      "d_loss": None, "g_loss": None}}


def gan_run(d_loss: float = 0.34, diversity: float = 1.08, sharp: float = 1.6, status: str = "ok") -> dict:
    d_losses = [0.6, 0.9] + [d_loss + e for e in (-0.02, 0.04, -0.02, 0.01, -0.01)]  # the last 5 average d_loss
    return {"status": status, "name": "arch=gan", "config": {"model": {"arch": "gan", "beta": 1.0}},
            "history": {"epoch": list(range(1, 8)), "d_loss": d_losses}, "generative": {"mean_image_recon": 0.227},
            "final": {"frechet": 41.0, "diversity": diversity, "sharpness": sharp, "test_recon": None,
                      "test_kl": None, "d_loss": d_loss, "g_loss": 2.8, "d_real": 0.86, "d_fake": 0.14}}


def gen(*runs: dict) -> dict:
    return {"generative": list(runs)}


BOTH = gen(vae_run(), gan_run())


@pytest.mark.parametrize(("claim", "records", "verdict"), [
    (vae_beats_mean_image, BOTH, REPRODUCED),
    (vae_beats_mean_image, gen(vae_run(recon=0.3)), NOT_REPRODUCED),
    (vae_beats_mean_image, gen(gan_run()), NOT_MEASURED),
    (vae_beats_mean_image, gen(vae_run(status="failed")), NOT_MEASURED),
    (vae_kl_alive, BOTH, REPRODUCED),
    (vae_kl_alive, gen(vae_run(kl=0.01)), NOT_REPRODUCED),
    (vae_kl_alive, gen(vae_run(kl=float("inf"))), NOT_REPRODUCED),
    (vae_kl_alive, {}, NOT_MEASURED),
    (discriminator_not_winning, BOTH, REPRODUCED),
    (discriminator_not_winning, gen(gan_run(d_loss=0.02)), NOT_REPRODUCED),
    (discriminator_not_winning, gen(vae_run()), NOT_MEASURED),
    (gan_diverse, BOTH, REPRODUCED),
    (gan_diverse, gen(gan_run(diversity=0.1)), NOT_REPRODUCED),
    (gan_diverse, gen(vae_run()), NOT_MEASURED),
    (vae_blurrier, BOTH, REPRODUCED),
    (vae_blurrier, gen(vae_run(sharp=1.2), gan_run(sharp=0.9)), NOT_REPRODUCED),
    (vae_blurrier, gen(gan_run()), NOT_MEASURED),
    # a GAN that diverged in its last epoch: its sample measures are NaN, not an older epoch's values
    (gan_diverse, gen(gan_run(diversity=float("nan"), sharp=float("nan"), status="diverged")), NOT_REPRODUCED),
    (vae_blurrier, gen(vae_run(), gan_run(diversity=float("nan"), sharp=float("nan"), status="diverged")),
     NOT_MEASURED),
])
def test_lab6_claims(claim, records, verdict):
    outcome = claim(records)
    assert outcome.verdict == verdict, outcome.measured
    assert claim.section == "C.6"


def test_the_measured_text_quotes_the_numbers():
    assert "VAE 0.0340, mean image 0.2270 (after 3 epochs)" in vae_beats_mean_image(BOTH).measured
    measured = discriminator_not_winning(BOTH).measured
    assert "loss 0.340 on average over the last 5 epochs" in measured and "D(x) 0.86, D(G(z)) 0.14" in measured
    spiky = gan_run(d_loss=0.2)
    spiky["history"]["d_loss"][-1] = 0.05  # one low final epoch does not decide it
    assert spiky["final"]["d_loss"] == 0.2 and discriminator_not_winning(gen(spiky)).verdict == REPRODUCED
    assert "VAE 0.60, GAN 1.60" in vae_blurrier(BOTH).measured


def test_lab6_is_registered_after_part_c_and_chosen_by_its_experiment():
    assert STUDIES.index("engine.studies.part_c_lab6") > STUDIES.index("engine.studies.part_c")
    assert studies({"generative": []}) == [part_c_lab6]
    assert part_c_lab6.EXPERIMENTS == ["generative"]
    assert part_c_lab6.TITLE == "Part C — lab 6: VAE and GAN" and part_c_lab6.LABEL == "Part C"


def test_a_diverged_gan_is_said_to_have_no_finite_samples():
    diverged = gen(vae_run(), gan_run(diversity=float("nan"), sharp=float("nan"), status="diverged"))
    assert "samples were not finite in its last epoch (diverged, after 7 epochs)" in gan_diverse(diverged).measured
    assert "the GAN's samples were not finite" in vae_blurrier(diverged).measured
