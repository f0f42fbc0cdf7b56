"""Lab 3: the XOR net, its hand-written backpropagation and the seed sweep."""

from __future__ import annotations

import io

import numpy as np
import pytest

from engine.figures.xor import xor_loss_curves, xor_surface
from engine.trainers import xor

# hidden 1 = OR, hidden 2 = AND, output = OR and not AND: solves XOR by hand
HAND_SOLVED = {
    "hidden": np.array([[-10.0, -30.0], [20.0, 20.0], [20.0, 20.0]]),
    "output": np.array([-10.0, 20.0, -20.0]),
}


def numeric_gradients(weights, eps=1e-6):
    out = {}
    for name, value in weights.items():
        grad = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            plus = {k: v.copy() for k, v in weights.items()}
            minus = {k: v.copy() for k, v in weights.items()}
            plus[name][index] += eps
            minus[name][index] -= eps
            grad[index] = (xor.loss(plus) - xor.loss(minus)) / (2 * eps)
        out[name] = grad
    return out


@pytest.mark.parametrize("init", xor.INITS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gradients_match_central_finite_differences(init, seed):
    weights = xor.init_weights(init, seed)
    # also a point away from the initial box, where the sigmoids are not near-linear
    far = {k: 3 * v for k, v in weights.items()}
    for point in (weights, far):
        analytic, numeric = xor.gradients(point), numeric_gradients(point)
        for name in point:
            assert analytic[name].shape == point[name].shape
            assert np.max(np.abs(numeric[name])) > 1e-5  # the check is not trivially 0 == 0
            np.testing.assert_allclose(analytic[name], numeric[name], rtol=1e-5, atol=1e-9)


def test_gradients_broadcast_over_a_stack_of_nets():
    stack = xor.stacked_init("uniform", range(4))
    grads = xor.gradients(stack)
    for s in range(4):
        one = xor.gradients({k: v[s] for k, v in stack.items()})
        for name in one:
            np.testing.assert_allclose(grads[name][s], one[name], rtol=1e-12)


def test_a_hand_solved_net():
    outputs = xor.forward(HAND_SOLVED)
    assert np.all(np.abs(outputs - xor.TARGETS) < 1e-3)
    assert xor.solved(outputs)
    assert not xor.solved(np.array([0.1, 0.9, 0.4, 0.2]))  # one output on the wrong side
    grid = xor.surface(HAND_SOLVED, 5)
    assert grid.shape == (5, 5)
    # row = x2, column = x1: the corners are the four XOR points
    assert grid[0, 0] == pytest.approx(outputs[0]) and grid[4, 0] == pytest.approx(outputs[1])
    assert grid[0, 4] == pytest.approx(outputs[2]) and grid[4, 4] == pytest.approx(outputs[3])


def test_training_solves_and_is_reproducible():
    seen = []
    result = xor.train(lr=0.8, init="uniform", epochs=3000, seed=0, on_epoch=lambda e, m: seen.append((e, m["loss"])))
    assert result["solved"] is True
    assert np.all((result["outputs"] > 0.5) == (xor.TARGETS > 0.5))
    loss = result["loss"]
    assert loss.shape == (3000,) and loss[-1] < 0.1 * loss[0]
    assert [e for e, _ in seen] == list(range(1, 3001)) and seen[0][1] == loss[0]
    assert result["final_loss"] == pytest.approx(float(xor.loss(result["weights"])))
    again = xor.train(lr=0.8, init="uniform", epochs=3000, seed=0)
    assert np.array_equal(again["loss"], loss) and np.array_equal(again["outputs"], result["outputs"])
    assert not np.array_equal(xor.train(0.8, "uniform", 50, seed=1)["loss"], loss[:50])


def test_init_ranges():
    uniform = xor.stacked_init("uniform", range(300))
    normal = xor.stacked_init("normal", range(300))
    for weights in (uniform, normal):
        for value in weights.values():
            assert np.all(np.abs(value) <= 1.0)
    flat = np.concatenate([v.ravel() for v in normal.values()])
    assert np.mean(np.abs(flat) == 1.0) > 0.01  # the clipped tails of N(0, 0.5^2)
    assert np.std(flat) == pytest.approx(0.47, abs=0.03)
    with pytest.raises(ValueError, match="unknown init 'zeros'"):
        xor.init_weights("zeros")


def test_sweep_matches_single_runs_and_ranks_learning_rates():
    seeds = range(60)
    results = xor.sweep([0.1, 0.8], ["uniform"], seeds, epochs=3000)
    slow, good = results[(0.1, "uniform")], results[(0.8, "uniform")]
    # measured at 3000 epochs: lr 0.1 solves almost none, lr 0.8 about 3 in 4
    assert slow["solve_rate"] < 0.2 < 0.6 < good["solve_rate"]
    assert good["mean_loss"].shape == (3000,) and good["mean_loss"][-1] < slow["mean_loss"][-1]
    for seed in (0, 7, 33):
        single = xor.train(0.8, "uniform", 3000, seed)
        assert single["solved"] == bool(good["solved"][seed])
        assert single["final_loss"] == pytest.approx(good["final_loss"][seed], rel=1e-9)
    assert xor.solve_rate(0.8, "uniform", seeds, 3000) == good["solve_rate"]


def test_figures_render():
    curves = xor.sweep([0.5, 0.8], ["uniform", "normal"], range(5), epochs=200)
    fig = xor_loss_curves(
        {f"lr {lr}": curves[(lr, "uniform")]["mean_loss"] for lr in (0.5, 0.8)},
        {init: curves[(0.8, init)]["mean_loss"] for init in ("uniform", "normal")},
    )
    surface = xor_surface(xor.surface(HAND_SOLVED, 30))
    assert fig.axes[0].get_legend() is not None and surface.axes[0].get_xlabel() == "input x1"
    for figure in (fig, surface):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        assert buffer.getvalue().startswith(b"\x89PNG")
