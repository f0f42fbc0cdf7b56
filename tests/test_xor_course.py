"""Lab 3 as the course ran it (kind ``xor_course``): every net trained until it
solves XOR or a cap, iterations counted per net; many nets in one array,
each with exactly the numbers it gets alone; the replay, run.json and figures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from benchtui.cli import cli
from engine.errors import BenchError
from engine.figures.xor_course import iterations_figure, nets_by_setting, summary
from engine.kinds import get_kind
from engine.trainers import xor, xor_course
from engine.trainers.xor_course import XorCourseConfig, XorCourseModel, XorCourseOptim, initial_weights, until_solved

# hidden 1 = OR, hidden 2 = AND, output = OR and not AND: solves XOR from the start
HAND_SOLVED = {"hidden": np.array([[[-10.0, -30.0], [20.0, 20.0], [20.0, 20.0]]]),
               "output": np.array([[-10.0, 20.0, -20.0]])}


def mixed_stack() -> tuple[dict[str, np.ndarray], np.ndarray]:
    """12 nets of two inits, two seeds and three learning rates in one stack."""
    blocks = [initial_weights("uniform", 42, 4), initial_weights("normal", 7, 4), initial_weights("uniform", 43, 4)]
    weights = {name: np.concatenate([b[name] for b in blocks]) for name in ("hidden", "output")}
    return weights, np.repeat([0.8, 0.3, 0.6], 4)


def test_gradient_and_loss_are_the_xor_kinds():
    weights = initial_weights("normal", 3, 6)
    far = {k: 3 * v for k, v in weights.items()}  # away from the initial box too
    for point in (weights, far):
        _, loss, grad = xor_course.forward_backward(xor_course.to_columns(point))
        grad = xor_course.from_columns(grad)
        expected = xor.gradients(point)
        assert np.max(np.abs(expected["hidden"])) > 1e-4  # not trivially 0 == 0
        for name in ("hidden", "output"):
            np.testing.assert_allclose(grad[name], expected[name], rtol=1e-10, atol=1e-15)
        np.testing.assert_allclose(loss, xor.loss(point), rtol=1e-12)


def test_net_i_is_drawn_from_the_seed_and_its_index():
    one = initial_weights("uniform", 42, 3)
    for i in range(3):
        alone = xor.init_weights("uniform", [42, i])
        np.testing.assert_array_equal(one["hidden"][i], alone["hidden"])
    # another replay seed gives other nets, not the same nets shifted by one
    other = initial_weights("uniform", 43, 3)
    assert not any(np.array_equal(other["hidden"][i], one["hidden"][j]) for i in range(3) for j in range(3))


def test_every_net_in_a_stack_gets_exactly_its_numbers_alone():
    weights, lrs = mixed_stack()
    stacked = until_solved(weights, lrs, 6000)
    final = stacked.weights()
    assert 0 < stacked.solved.sum() < len(lrs) or stacked.solved.all()
    assert len(set(stacked.iterations[stacked.solved].tolist())) > 3  # the nets solve at different iterations
    for i in range(len(lrs)):
        alone = until_solved({name: value[i:i + 1] for name, value in weights.items()}, lrs[i], 6000)
        assert alone.iterations[0] == stacked.iterations[i]
        assert alone.loss[0] == stacked.loss[i]
        for name in ("hidden", "output"):
            np.testing.assert_array_equal(alone.weights()[name][0], final[name][i])


def test_iterations_are_the_steps_until_all_four_outputs_are_right():
    weights, lrs = mixed_stack()
    state = until_solved(weights, lrs, 6000)
    checked = 0
    for i in np.flatnonzero(state.solved)[:4]:
        k, one = int(state.iterations[i]), {name: value[i] for name, value in weights.items()}
        before, _ = xor.descend(one, lrs[i], k - 1, record_loss=False)
        after, _ = xor.descend(one, lrs[i], k, record_loss=False)
        assert not xor.solved(xor.forward(before)) and xor.solved(xor.forward(after))
        checked += 1
    assert checked == 4
    # a net that solves from the start took 0 iterations and never moves
    hand = until_solved(HAND_SOLVED, 0.8, 100)
    assert hand.iterations.tolist() == [0] and hand.done == 0
    np.testing.assert_array_equal(hand.weights()["output"], HAND_SOLVED["output"])


def test_a_net_stuck_at_the_cap_is_unsolved_and_counted_at_the_cap():
    weights = initial_weights("uniform", 42, 40)
    state = until_solved(weights, 0.8, 3000)
    stuck = ~state.solved
    assert stuck.any() and state.done == 3000
    assert np.all(state.counted(3000)[stuck] == 3000) and np.all(state.counted(3000)[~stuck] < 3000)
    # an unsolved net trained to the cap; a solved one stopped where it solved
    assert np.all(state.loss[stuck] > 0.1) and np.all(state.loss[~stuck] < 0.25)


def test_fit_alone_and_fit_stacked_give_the_same_record_per_run():
    kind = get_kind("xor_course")
    cfgs = [XorCourseConfig(model=XorCourseModel(init=init, nets=6), optim=XorCourseOptim(lr=lr, max_iterations=4000,
                                                                                          log_every=500))
            for init, lr in (("uniform", 0.8), ("normal", 0.3))]
    data = kind.load_data(cfgs[0], Path("."))
    together = kind.train_stack(cfgs, data, [[], []])
    for cfg, stacked in zip(cfgs, together):
        alone = kind.train(cfg, data)
        assert stacked.status == alone.status == "ok"
        assert stacked.extra["xor_course"]["nets"] == alone.extra["xor_course"]["nets"]
        assert stacked.extra["stack"]["size"] == 2 and "stack" not in alone.extra
        nets = alone.extra["xor_course"]["nets"]
        assert [n["seed"] for n in nets] == [[42, i] for i in range(6)]
        assert all(n["init"] == cfg.model.init and n["lr"] == cfg.optim.lr for n in nets)
        assert alone.history["solve_rate"][-1] == np.mean([n["solved"] for n in nets])
        assert alone.history["median_iterations"][-1] == np.median([n["iterations"] for n in nets])
        assert all(b <= a for a, b in zip(alone.history["median_iterations"], alone.history["median_iterations"][1:]))


@pytest.mark.parametrize(("key", "value", "message"), [
    ("nets", 0, "model.nets must be at least 1 (got 0)"),
    ("max_iterations", 0, "optim.max_iterations must be at least 1 (got 0)"),
    ("log_every", 0, "optim.log_every must be at least 1 (got 0)"),
])
def test_bad_config_is_one_clear_line(key, value, message):
    cfg = XorCourseConfig(model=XorCourseModel(nets=value)) if key == "nets" else \
        XorCourseConfig(optim=XorCourseOptim(**{key: value}))
    with pytest.raises(BenchError, match=re.escape(message)):
        xor_course.check_config(cfg)


TINY = """
name = "tinyxor"
title = "tiny xor"

[[experiment]]
name = "xor_course"
kind = "xor_course"
title = "C.3 as the course ran it, tiny"
seeds = [42, 43]
set = { "model.nets" = 10, "optim.max_iterations" = 3000, "optim.log_every" = 1000 }
grid = { "model.init" = ["uniform", "normal"], "optim.lr" = [0.3, 0.8] }
figures = [{ kind = "iterations" }, { kind = "iterations_table" }]
"""


@pytest.fixture(scope="module")
def replayed(tmp_path_factory):
    root = tmp_path_factory.mktemp("xorc")
    (root / "tinyxor.toml").write_text(TINY)
    args = ["replay", str(root / "tinyxor.toml"), "--no-ui", "--runs-dir", str(root / "runs")]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    alone = CliRunner().invoke(cli, [*args[:4], str(root / "alone"), "--no-stack"], catch_exceptions=False)
    return result, alone, root


def test_replay_records_every_net_and_draws_the_figures(replayed):
    result, alone, root = replayed
    assert result.exit_code == 0, result.output
    assert "80 nets of 8 runs trained together" in result.output
    out = root / "runs" / "tinyxor" / "xor_course"
    records = [json.loads(p.read_text()) for p in sorted(out.glob("*/run.json"))]
    assert len(records) == 8
    for record in records:
        nets = record["xor_course"]["nets"]
        assert record["status"] == "ok" and record["xor_course"]["cap"] == 3000 and len(nets) == 10
        assert {n["init"] for n in nets} == {record["config"]["model"]["init"]}
        assert all(n["iterations"] == 3000 for n in nets if not n["solved"])
        assert record["final"]["solve_rate"] == np.mean([n["solved"] for n in nets])
    by_setting, cap = nets_by_setting(records)
    assert cap == 3000 and {len(v) for v in by_setting.values()} == {20}  # two seeds' nets pooled
    table = json.loads((out / "iterations.json").read_text())
    fast = next(r for r in table if r["init"] == "uniform" and r["lr"] == 0.8)
    slow = next(r for r in table if r["init"] == "uniform" and r["lr"] == 0.3)
    assert fast["median_iterations"] < slow["median_iterations"]
    assert fast["solve_rate_interval"][0] < fast["solve_rate"] <= fast["solve_rate_interval"][1]
    assert (out / "iterations.png").is_file() and "| uniform | 0.8 | 20 |" in (out / "iterations.md").read_text()
    # trained alone (--no-stack): the same numbers for every net
    assert alone.exit_code == 0 and "runs trained together" not in alone.output
    for record in records:
        other = json.loads((root / "alone/tinyxor/xor_course" / record["name"] / "run.json").read_text())
        assert other["xor_course"]["nets"] == record["xor_course"]["nets"]


def test_summary_counts_the_unsolved_at_the_cap():
    nets = [{"solved": True, "iterations": 100}] * 3 + [{"solved": False, "iterations": 500}] * 2
    s = summary(nets, 500)
    assert (s["nets"], s["solved"], s["median_iterations"]) == (5, 3, 100.0)
    assert summary(nets[2:], 500)["median_iterations"] == 500.0  # 1 solved, 2 unsolved: the median is the cap


def test_the_figure_draws_unsolved_nets_at_the_cap():
    nets = {("uniform", 0.8): [{"solved": True, "iterations": 100 + i} for i in range(5)]
            + [{"solved": False, "iterations": 700}] * 2,
            ("normal", 0.8): [{"solved": True, "iterations": 300}] * 4}
    fig = iterations_figure(nets, 700)
    points = {c.get_label(): c.get_offsets() for ax in fig.axes for c in ax.collections if c.get_label()[0] != "_"}
    assert np.all(points["unsolved net (at the cap)"][:, 1] == 700) and len(points["unsolved net (at the cap)"]) == 2
    assert "2/4 solved" not in [t.get_text() for t in fig.axes[1].texts]
    assert [t.get_text() for t in fig.axes[1].texts] == ["5/7 solved"]


def test_a_run_whose_loss_turns_nan_is_diverged(monkeypatch):
    real = xor_course.forward_backward

    def nan_loss(p):
        out, loss, grad = real(p)
        return out, np.full_like(loss, np.nan), grad

    monkeypatch.setattr(xor_course, "forward_backward", nan_loss)
    kind = get_kind("xor_course")
    cfg = XorCourseConfig(model=XorCourseModel(nets=3), optim=XorCourseOptim(max_iterations=300, log_every=100))
    result = kind.train(cfg, None)
    assert result.status == "diverged" and result.message == "loss became NaN or infinite by iteration 100"
    assert result.history["epoch"][-1] == 300  # its nets went on to the cap (NaN never solves)
