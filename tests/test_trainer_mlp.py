"""The MLP trainer and model on a tiny synthetic problem (3 blobs, 300 rows):
learning, determinism, divergence, stopping, events, gradient records and the
model's layer layout."""

from __future__ import annotations

import json
import math
import threading

import numpy as np
import pytest
import torch
from torch import nn

from engine.config import apply_overrides, to_dict
from engine.errors import BenchError
from engine.events import Callback, EpochEnd, Recorder, RunEnd, RunStart, StepEnd
from engine.models.mlp import MLP, MLPConfig, SineFeatures, Standardize
from engine.system import seed_everything
from engine.kinds import get_kind
from engine.trainers.mlp import build_model, check_config, make_batches

fit = get_kind("mlp").train  # the kit runs the trainer: RunStart, epochs, RunEnd always

TIMING_KEYS = ("wall_time", "epoch_time")


def numbers(history: dict) -> dict:
    return {k: v for k, v in history.items() if k not in TIMING_KEYS}


def run(cfg, data, stop=None, callbacks=()):
    rec = Recorder()
    result = fit(cfg, data, callbacks=[rec, *callbacks], stop=stop, run_id="t1")
    return result, rec


# ------------------------------------------------------------------ learning
def test_loss_falls_and_accuracy_beats_chance(small_cfg, blobs):
    result, _ = run(small_cfg, blobs)
    h = result.history
    assert result.status == "ok" and result.message == ""
    assert h["epoch"] == [0, 1, 2, 3, 4, 5]
    assert h["iterations_per_epoch"] == math.ceil(300 / 32)
    assert len(h["step_loss"]) == 5 * h["iterations_per_epoch"]
    for key in ("train_loss", "val_loss", "test_loss", "train_accuracy", "val_accuracy", "test_accuracy"):
        assert len(h[key]) == 6, key
    # untrained: about chance (ln 3 = 1.10); trained: far below
    assert 0.5 < h["train_loss"][0] < 2.5
    assert h["train_loss"][-1] < 0.3 * h["train_loss"][0]
    assert h["val_loss"][-1] < h["val_loss"][0]
    assert h["val_accuracy"][-1] > 0.9  # chance is 1/3
    assert h["test_accuracy"][-1] > 0.9
    assert all(math.isfinite(v) for v in h["step_loss"])
    assert "grad_sq_norm" not in h
    assert h["wall_time"] > 0 and len(h["epoch_time"]) == 6 and h["epoch_time"][0] == 0.0


def test_standardize_uses_train_statistics(small_cfg, blobs):
    result, _ = run(small_cfg, blobs)
    features = result.model.features
    assert isinstance(features, Standardize)
    x = torch.as_tensor(blobs.x["train"])
    torch.testing.assert_close(features.mean, x.mean(0))
    torch.testing.assert_close(features.std, x.std(0))


def test_same_seed_gives_identical_numbers(small_cfg, blobs, blob_factory):
    first, _ = run(small_cfg, blobs)
    second, _ = run(small_cfg, blob_factory())
    assert numbers(first.history) == numbers(second.history)
    for (name, a), (_, b) in zip(first.model.state_dict().items(), second.model.state_dict().items()):
        assert torch.equal(a, b), name


def test_different_seed_gives_different_numbers(small_cfg, blobs):
    first, _ = run(small_cfg, blobs)
    other, _ = run(apply_overrides(small_cfg, {"system.seed": "124"}), blobs)
    assert first.history["train_loss"][0] != other.history["train_loss"][0]  # different init
    assert first.history["step_loss"] != other.history["step_loss"]
    assert other.status == "ok"


# ---------------------------------------------------------------- divergence
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_loss_ends_as_diverged_with_history_kept(small_cfg, blobs, bad):
    blobs.x["train"][7, 1] = bad  # one poisoned training point
    cfg = apply_overrides(small_cfg, {"model.standardize": "false"})
    result, rec = run(cfg, blobs)
    h = result.history
    assert result.status == "diverged"
    assert result.message == "loss became NaN or infinite in epoch 1"
    assert h["epoch"] == [0, 1]  # epoch 0 kept, training stopped after epoch 1
    assert len(h["train_loss"]) == 2 and len(h["val_loss"]) == 2
    assert len(h["step_loss"]) == h["iterations_per_epoch"]
    assert any(not math.isfinite(v) for v in h["step_loss"])
    ends = rec.of(RunEnd)
    assert len(ends) == 1 and ends[0].status == "diverged"
    assert len(rec.of(EpochEnd)) == 2


def test_divergence_with_standardize_on(small_cfg, blobs):
    blobs.x["train"][0, 0] = np.nan  # poisons the train mean: every input becomes NaN
    result, _ = run(small_cfg, blobs)
    assert result.status == "diverged"
    assert result.history["epoch"] == [0, 1]
    assert all(math.isnan(v) for v in result.history["step_loss"])


# ------------------------------------------------------------- config checks
def test_batchnorm_with_batch_size_1_is_refused_before_training(small_cfg, blobs):
    cfg = apply_overrides(small_cfg, {"model.batchnorm": True, "optim.batch_size": 1})
    with pytest.raises(BenchError) as info:
        check_config(cfg)
    msg = str(info.value)
    assert "BatchNorm" in msg and "batch_size 1" in msg
    assert "model.batchnorm=false" in msg and "optim.batch_size" in msg
    rec = Recorder()  # trained anyway, the run fails at once and listeners still see it end
    result = fit(cfg, blobs, callbacks=[rec])
    assert result.status == "failed" and result.message == msg
    assert [type(e).__name__ for e in rec.events] == ["RunStart", "RunEnd"]
    assert rec.events[-1].status == "failed"


def test_batch_size_1_without_batchnorm_is_allowed(small_cfg):
    check_config(apply_overrides(small_cfg, {"optim.batch_size": 1}))  # no error


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ({"optim.batch_size": 0}, "optim.batch_size must be at least 1 (got 0)"),
        ({"optim.epochs": 0}, "optim.epochs must be at least 1 (got 0)"),
        ({"optim.lr": 0.0}, "optim.lr must be a positive finite number (got 0.0)"),
        ({"optim.lr": "nan"}, "optim.lr must be a positive finite number (got nan)"),
        ({"model.depth": 0}, "model.depth and model.width must be at least 1 (got 0, 16)"),
        ({"model.width": 0}, "model.depth and model.width must be at least 1 (got 2, 0)"),
    ],
)
def test_configs_that_cannot_train_are_refused(small_cfg, blobs, overrides, expected):
    with pytest.raises(BenchError) as info:
        check_config(apply_overrides(small_cfg, overrides))
    assert str(info.value) == expected


# Regression (bug found by this test, fixed): make_batches's merge line
#     batches[-2] = torch.cat([batches[-2], batches.pop()])
# evaluates the right side first; pop() shortens the list, so the target
# batches[-2] is then the batch *before* the one merged (engine/trainers/mlp.py,
# make_batches). With two batches (here 299 + 1) it raises IndexError out of
# fit(); with more, the first of the last two batches is overwritten: its
# examples are never trained on and the other batch's are trained twice.
def test_batchnorm_merges_a_trailing_singleton_batch(small_cfg, blobs):
    # 300 rows in batches of 299 leave a batch of one: BatchNorm cannot train
    # on it, so it is merged into the previous batch (1 step, not 2).
    base = apply_overrides(small_cfg, {"optim.batch_size": 299, "optim.epochs": 2})
    plain, _ = run(base, blobs)
    assert plain.history["iterations_per_epoch"] == 2
    bn, _ = run(apply_overrides(base, {"model.batchnorm": True}), blobs)
    assert bn.status == "ok", bn.message
    assert bn.history["iterations_per_epoch"] == 1
    assert len(bn.history["step_loss"]) == 2


def test_make_batches_is_a_seeded_partition():
    batches = make_batches(10, 4, torch.Generator().manual_seed(5), torch.device("cpu"), merge_singleton=False)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(torch.cat(batches).tolist()) == list(range(10))
    again = make_batches(10, 4, torch.Generator().manual_seed(5), torch.device("cpu"), merge_singleton=False)
    assert [b.tolist() for b in again] == [b.tolist() for b in batches]
    # no singleton: merging changes nothing
    kept = make_batches(10, 4, torch.Generator().manual_seed(5), torch.device("cpu"), merge_singleton=True)
    assert [b.tolist() for b in kept] == [b.tolist() for b in batches]


# Regression (bug found by this test, fixed): same make_batches merge bug as above, checked directly.
@pytest.mark.parametrize("n, batch_size, sizes", [(9, 4, [4, 5]), (13, 4, [4, 4, 5]), (5, 4, [5])])
def test_make_batches_merges_a_singleton_into_the_previous_batch(n, batch_size, sizes):
    plain = make_batches(n, batch_size, torch.Generator().manual_seed(5), torch.device("cpu"), merge_singleton=False)
    merged = make_batches(n, batch_size, torch.Generator().manual_seed(5), torch.device("cpu"), merge_singleton=True)
    assert [len(b) for b in merged] == sizes
    assert sorted(torch.cat(merged).tolist()) == list(range(n))  # every example exactly once
    assert [b.tolist() for b in merged[:-1]] == [b.tolist() for b in plain[:-2]]
    assert merged[-1].tolist() == plain[-2].tolist() + plain[-1].tolist()


# ------------------------------------------------------------------ stopping
def test_stop_set_before_fit_stops_after_one_step(small_cfg, blobs):
    stop = threading.Event()
    stop.set()
    result, rec = run(small_cfg, blobs, stop=stop)
    assert result.status == "stopped"
    assert result.message == "stopped by request in epoch 1"
    assert result.history["epoch"] == [0, 1]
    assert len(result.history["step_loss"]) == 1
    ends = rec.of(RunEnd)
    assert len(ends) == 1 and ends[0].status == "stopped"
    assert rec.events[-1] is ends[0]


class StopAfter(Callback):
    def __init__(self, stop: threading.Event, epoch: int):
        self.stop, self.epoch, self.run_ends = stop, epoch, 0

    def on_epoch_end(self, event: EpochEnd) -> None:
        if event.epoch == self.epoch:
            self.stop.set()

    def on_run_end(self, event: RunEnd) -> None:
        self.run_ends += 1


def test_stop_set_from_a_callback(small_cfg, blobs):
    stop = threading.Event()
    stopper = StopAfter(stop, epoch=2)
    result, rec = run(small_cfg, blobs, stop=stop, callbacks=[stopper])
    h = result.history
    assert result.status == "stopped"
    assert result.message == "stopped by request in epoch 3"
    assert h["epoch"] == [0, 1, 2, 3]
    assert len(h["step_loss"]) == 2 * h["iterations_per_epoch"] + 1  # epoch 3 ran one step
    assert stopper.run_ends == 1
    assert len(rec.of(RunEnd)) == 1
    assert [e.epoch for e in rec.of(EpochEnd)] == [0, 1, 2, 3]


# -------------------------------------------------------------------- events
def test_events_order_and_content(small_cfg, blobs):
    result, rec = run(small_cfg, blobs)
    events = [e for e in rec.events if not isinstance(e, StepEnd)]  # StepEnd is time-based
    start, end = events[0], events[-1]
    assert isinstance(start, RunStart) and isinstance(end, RunEnd)
    assert len(rec.of(RunStart)) == 1 and len(rec.of(RunEnd)) == 1
    assert start.run_id == "t1" and start.epochs == 5 and start.device == "cpu"
    assert start.steps_per_epoch == result.history["iterations_per_epoch"]
    assert json.loads(start.config_json) == to_dict(small_cfg)
    assert end.status == "ok" and end.message == "" and end.wall_time == result.history["wall_time"]

    epochs = rec.of(EpochEnd)
    assert len(epochs) == small_cfg.optim.epochs + 1
    assert [e.epoch for e in epochs] == list(range(6))
    assert epochs[0].step_losses == ()  # the untrained evaluation
    steps = result.history["iterations_per_epoch"]
    for e in epochs:
        assert e.run_id == "t1"
        assert e.grad_sq_norm is None
        assert e.metric("val_loss") == result.history["val_loss"][e.epoch]
        assert e.metric("train_accuracy") == result.history["train_accuracy"][e.epoch]
        assert [name for name, _ in e.metrics] == [
            "train_loss", "train_accuracy", "val_loss", "val_accuracy", "test_loss", "test_accuracy",
        ]
        if e.epoch:
            assert list(e.step_losses) == result.history["step_loss"][(e.epoch - 1) * steps : e.epoch * steps]
    for s in rec.of(StepEnd):
        assert 1 <= s.epoch <= 5 and 1 <= s.step <= s.steps_per_epoch == steps


# ---------------------------------------------------------- gradient records
def test_record_grads_shape_is_epochs_by_linear_layers(small_cfg, blobs):
    cfg = apply_overrides(small_cfg, {"system.record_grads": "true", "model.depth": "3", "optim.epochs": "4"})
    result, rec = run(cfg, blobs)
    grads = np.array(result.history["grad_sq_norm"])
    assert grads.shape == (4, 3 + 1)
    assert np.all(np.isfinite(grads)) and np.all(grads > 0)
    epochs = rec.of(EpochEnd)
    assert epochs[0].grad_sq_norm is None
    assert [list(e.grad_sq_norm) for e in epochs[1:]] == result.history["grad_sq_norm"]


def first_step_grad_sq_norms(cfg, data) -> list[float]:
    """||grad||^2 per Linear layer after the first training step, recomputed
    the way fit does it (same seeds, same first batch)."""
    seed_everything(cfg.system.seed)
    gen = torch.Generator().manual_seed(cfg.system.seed)
    model = build_model(cfg, data)
    x = torch.as_tensor(data.x["train"])
    y = torch.as_tensor(data.y["train"])
    model.features.fit(x)
    idx = make_batches(len(x), cfg.optim.batch_size, gen, torch.device("cpu"), cfg.model.batchnorm)[0]
    nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
    return [(l.weight.grad.pow(2).sum() + l.bias.grad.pow(2).sum()).item() for l in model.linear_layers()]


# Regression (bug found by this test, fixed): grad_sq_norm is documented as the mean over the epoch's
# steps, but a run stopped mid-epoch divides the sum by the number of batches
# planned, not the steps taken (engine/trainers/mlp.py, `grad_acc /
# len(batches)`): stopped after 1 of 10 steps, the record is 10x too small.
def test_grad_record_of_a_stopped_epoch_is_the_mean_over_steps_taken(small_cfg, blobs):
    cfg = apply_overrides(small_cfg, {"system.record_grads": True, "optim.batch_size": 30})
    stop = threading.Event()
    stop.set()
    result, _ = run(cfg, blobs, stop=stop)
    assert result.history["iterations_per_epoch"] == 10
    assert len(result.history["step_loss"]) == 1
    expected = first_step_grad_sq_norms(cfg, blobs)
    np.testing.assert_allclose(result.history["grad_sq_norm"][0], expected, rtol=1e-4)


# --------------------------------------------------------------------- model
@pytest.mark.parametrize("depth", [1, 6])
def test_depth_counts_hidden_layers(depth):
    model = MLP(MLPConfig(depth=depth, width=16), n_inputs=2, n_classes=28)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == depth + 1
    assert model.linear_layers() == linears
    assert linears[0].in_features == 2 and linears[-1].out_features == 28
    assert all(l.out_features == 16 for l in linears[:-1])


def test_batchnorm_sits_between_linear_and_relu():
    torch.manual_seed(0)
    model = MLP(MLPConfig(depth=3, width=8, batchnorm=True, standardize=False), n_inputs=2, n_classes=3)
    model.train()
    for layer in model.hidden:
        assert isinstance(layer.norm, nn.BatchNorm1d) and layer.norm.num_features == 8
        assert [name for name, _ in layer.named_children()] == ["linear", "norm"]
    seen = {}
    layer = model.hidden[1]
    layer.linear.register_forward_hook(lambda m, i, o: seen.__setitem__("linear_out", o.detach()))
    layer.norm.register_forward_hook(lambda m, i, o: seen.update(norm_in=i[0].detach(), norm_out=o.detach()))
    layer.register_forward_hook(lambda m, i, o: seen.__setitem__("layer_out", o.detach()))
    model(torch.randn(64, 2))
    assert torch.equal(seen["norm_in"], seen["linear_out"])  # BN takes the pre-activation
    assert (seen["norm_out"] < 0).any()  # normalised values of both signs ...
    torch.testing.assert_close(seen["layer_out"], torch.relu(seen["norm_out"]))  # ... then ReLU
    # normalised per unit over the batch (train mode): mean 0, variance 1
    torch.testing.assert_close(seen["norm_out"].mean(0), torch.zeros(8), atol=1e-5, rtol=0)


def test_no_batchnorm_means_identity():
    model = MLP(MLPConfig(depth=2, batchnorm=False), n_inputs=2, n_classes=3)
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())


def test_sine_features_input_width():
    scales = (0.5, 1.0, 2.0)
    model = MLP(MLPConfig(depth=2, width=8, sine_features=True, sine_scales=scales), n_inputs=2, n_classes=3)
    assert isinstance(model.features, SineFeatures)
    assert model.hidden[0].linear.in_features == 2 * len(scales)
    x = torch.tensor([[10.0, 50.0], [-3.0, 40.0]])
    feats = model.features(x)
    assert feats.shape == (2, 6)
    # feature order: for each input coordinate, every scale
    expected = torch.sin(torch.tensor([[5.0, 10.0, 20.0, 25.0, 50.0, 100.0], [-1.5, -3.0, -6.0, 20.0, 40.0, 80.0]]))
    torch.testing.assert_close(feats, expected)
    assert model(x).shape == (2, 3)


def test_default_sine_scales_give_width_20():
    model = MLP(MLPConfig(sine_features=True), n_inputs=2, n_classes=5)
    assert model.hidden[0].linear.in_features == 20


def test_sine_features_train(small_cfg, blobs):
    cfg = apply_overrides(small_cfg, {"model.sine_features": True, "model.sine_scales": "0.05,0.1"})
    result, _ = run(cfg, blobs)
    assert result.status == "ok"
    assert result.model.hidden[0].linear.in_features == 4
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]


def test_residual_is_a_pre_activation_block_around_square_layers_only():
    model = MLP(MLPConfig(depth=3, width=8, residual=True), n_inputs=2, n_classes=3)
    assert [layer.residual for layer in model.hidden] == [False, True, True]
    layer = model.hidden[1]
    assert layer.scale == pytest.approx(1 / math.sqrt(2))  # 1/sqrt(number of residual blocks)
    assert torch.equal(layer.linear.bias, torch.zeros(8))  # no constant drift at init
    x = torch.randn(5, 8)
    torch.testing.assert_close(layer(x), x + layer.scale * layer.linear(torch.relu(x)))
    # the branch can subtract: negative outputs are possible (x + relu(Wx) could only grow)
    assert (layer(x) - x < 0).any()
    # the first layer (2 -> 8) is a plain Linear -> ReLU
    first = model.hidden[0]
    torch.testing.assert_close(first(torch.ones(3, 2)), torch.relu(first.linear(torch.ones(3, 2))))


def test_residual_with_batchnorm_normalises_the_block_input():
    model = MLP(MLPConfig(depth=3, width=8, residual=True, batchnorm=True), n_inputs=2, n_classes=3)
    layer = model.hidden[1]
    layer.eval()
    x = torch.randn(5, 8)
    torch.testing.assert_close(layer(x), x + layer.scale * layer.linear(torch.relu(layer.norm(x))))


def test_residual_at_depth_100_stays_bounded_and_trains(small_cfg, blobs):
    """STUDY A.2.6: 100 hidden layers of width 4 with residual connections
    train; activations do not blow up, gradients reach the first layer."""
    torch.manual_seed(0)
    model = MLP(MLPConfig(depth=100, width=4, residual=True), n_inputs=2, n_classes=3)
    x = torch.as_tensor(blobs.x["train"])
    model.features.fit(x)
    with torch.no_grad():
        stream = model.hidden(model.features(x))
    assert stream.abs().max() < 100  # x + relu(Wx) a hundred times reached ~1e8 here
    cfg = apply_overrides(small_cfg, {"model.depth": 100, "model.width": 4, "model.residual": True,
                                      "optim.lr": 0.003, "optim.epochs": 5, "system.record_grads": True})
    result, _ = run(cfg, blobs)
    h = result.history
    assert result.status == "ok"
    assert all(math.isfinite(v) for v in h["train_loss"] + h["val_loss"])
    assert h["train_loss"][-1] < 0.5 * h["train_loss"][0]
    assert h["val_accuracy"][-1] > 0.9  # 3 classes: chance is 1/3
    grads = np.array(h["grad_sq_norm"])
    assert np.all(np.isfinite(grads)) and np.all(grads > 0)
    # the first layers are not starved: within 10^3 of the last hidden layer
    assert grads[:, 1].min() > 1e-3 * grads[:, 99].max()
    assert grads[:, 0].min() > 1e-3 * grads[:, 99].max()


def test_invalid_model_size_is_refused_by_the_model():
    with pytest.raises(ValueError):
        MLP(MLPConfig(depth=0), n_inputs=2, n_classes=3)
