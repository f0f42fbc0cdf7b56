"""Stacked training: runs that share a model shape and a batch schedule
train together and are written out as ordinary runs with the numbers they
get alone."""

from __future__ import annotations

import json
import math
import threading

import pytest
import torch
from click.testing import CliRunner

from benchtui.cli import cli
from engine.config import apply_overrides
from engine.events import Recorder, RunEnd, RunStart
from engine.kinds import get_kind
from engine.trainers.mlp_stacked import stack_key

MLP = get_kind("mlp")


def members(small_cfg, *overrides):
    return [apply_overrides(small_cfg, o) for o in overrides]


def test_a_member_gets_exactly_the_numbers_it_gets_alone(small_cfg, blobs):
    cfgs = members(small_cfg, {"optim.lr": 0.05, "system.seed": 1}, {"optim.lr": 0.01, "system.seed": 2},
                   {"optim.lr": 0.001, "system.seed": 3, "optim.weight_decay": 0.01})
    together = MLP.train_stack(cfgs, blobs, [[] for _ in cfgs])
    for cfg, stacked in zip(cfgs, together):
        alone = MLP.train(cfg, blobs)
        assert stacked.status == alone.status == "ok"
        for key in ("train_loss", "val_loss", "val_accuracy", "test_accuracy", "step_loss"):
            assert stacked.history[key] == alone.history[key], key
        state_a, state_s = alone.model.state_dict(), stacked.model.state_dict()
        assert all((state_a[k] == state_s[k]).all() for k in state_a)
    # they did train: different seeds and rates give different curves, all well above chance (1/3)
    assert together[0].history["val_loss"] != together[1].history["val_loss"]
    assert min(r.history["val_accuracy"][-1] for r in together[:2]) > 0.9


@pytest.mark.parametrize("shape", [
    {"model.width": 8, "model.sine_features": True, "optim.batch_size": 256},
    {"model.width": 4, "model.depth": 8, "model.residual": True, "optim.batch_size": 128, "system.record_grads": True},
    {"model.width": 16, "model.depth": 3, "optim.batch_size": 32, "optim.weight_decay": 0.01},
    {"model.batchnorm": True, "model.depth": 4, "optim.batch_size": 64, "system.record_grads": True},
], ids=["sine-width8", "residual-width4-grads", "weight-decay", "batchnorm-grads"])
@pytest.mark.parametrize("threads", [1, 2])
def test_every_shape_gets_the_same_bits_alone_and_stacked(small_cfg, blob_factory, shape, threads):
    """A member's numbers do not depend on its stack, bit for bit, with one
    thread or two: the flat Adam's rows are padded so that no element takes
    a vector loop's scalar tail, and so is exp2's input; each member's
    BatchNorm feature is a channel of torch's batch_norm kernels. (Residual stacks
    with BatchNorm train by autograd through one fused batch_norm, not
    exact: see the README.)"""
    data = blob_factory(n_train=3000, seed=4)
    cfgs = members(small_cfg, *({**shape, "optim.epochs": 3, "system.threads": threads, "system.seed": seed,
                                 "optim.lr": lr} for seed, lr in ((1, 0.01), (2, 0.003), (3, 0.03))))
    together = MLP.train_stack(cfgs, data, [[] for _ in cfgs])
    for cfg, stacked in zip(cfgs, together):
        alone = MLP.train(cfg, data)
        for key in ("train_loss", "val_loss", "step_loss") + (("grad_sq_norm",) if "system.record_grads" in shape else ()):
            assert stacked.history[key] == alone.history[key], key
        state_a, state_s = alone.model.state_dict(), stacked.model.state_dict()
        assert all(torch.equal(state_a[k], state_s[k]) for k in state_a)


def test_a_member_that_diverges_is_diverged_and_the_others_go_on(small_cfg, blobs):
    cfgs = members(small_cfg, {"optim.lr": 1e38}, {"optim.lr": 0.01})
    recorders = [Recorder(), Recorder()]
    bad, good = MLP.train_stack(cfgs, blobs, [[r] for r in recorders])
    assert bad.status == "diverged" and "NaN or infinite" in bad.message
    assert good.status == "ok" and len(good.history["epoch"]) == small_cfg.optim.epochs + 1
    assert len(bad.history["epoch"]) < len(good.history["epoch"])
    assert good.history["val_accuracy"][-1] > 0.9 and all(math.isfinite(v) for v in good.history["step_loss"])
    for rec, status in zip(recorders, ("diverged", "ok")):
        assert [type(e) for e in (rec.events[0], rec.events[-1])] == [RunStart, RunEnd]
        assert rec.events[-1].status == status


def test_a_stop_stops_every_member(small_cfg, blobs):
    stop = threading.Event()
    stop.set()
    results = MLP.train_stack(members(small_cfg, {"system.seed": 1}, {"system.seed": 2}), blobs, [[], []], stop)
    assert [r.status for r in results] == ["stopped", "stopped"]


def test_runs_stack_when_only_seed_rate_or_decay_differ(small_cfg):
    assert stack_key(small_cfg) == stack_key(apply_overrides(small_cfg, {"optim.lr": 0.5, "system.seed": 9,
                                                                         "optim.weight_decay": 0.1}))
    for other in ({"model.width": 4}, {"model.batchnorm": True}, {"optim.batch_size": 8}, {"optim.epochs": 2}):
        assert stack_key(small_cfg) != stack_key(apply_overrides(small_cfg, other))


def test_batchnorm_residual_and_gradient_records_stack_too(small_cfg, blobs):
    base = {"model.batchnorm": True, "model.residual": True, "model.depth": 6, "model.width": 8,
            "system.record_grads": True}
    cfgs = members(small_cfg, {**base, "system.seed": 1}, {**base, "system.seed": 2, "optim.lr": 0.003})
    together = MLP.train_stack(cfgs, blobs, [[], []])
    for cfg, stacked in zip(cfgs, together):
        alone = MLP.train(cfg, blobs)
        assert stacked.history["val_loss"] == alone.history["val_loss"]
        assert stacked.history["grad_sq_norm"] == alone.history["grad_sq_norm"]
        assert len(stacked.history["grad_sq_norm"][0]) == 7  # depth + 1 Linear layers
        state_a, state_s = alone.model.state_dict(), stacked.model.state_dict()
        assert all((state_a[k] == state_s[k]).all() for k in state_a)  # BatchNorm running statistics included
    assert together[0].history["val_accuracy"][-1] > 0.9


def test_replay_trains_a_sweep_stacked_and_writes_ordinary_runs(tmp_path):
    from tests.test_cli import write_cities

    data = write_cities(tmp_path / "cities")
    preset = tmp_path / "tiny.toml"
    preset.write_text('name = "tiny"\n[defaults]\n"optim.epochs" = 2\n"model.depth" = 2\n"model.width" = 8\n'
                      '"system.device" = "cpu"\n[[experiment]]\nname = "lr"\n'
                      'grid = { "optim.lr" = [0.01, 0.001], "system.seed" = [1, 2] }\n'
                      'runs = [{ "model.batchnorm" = true }]\n')
    args = ["replay", str(preset), "--no-ui", "--runs-dir", str(tmp_path / "runs"), "--data", f"cities={data}"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "trained stacked with 4 runs" in result.output
    runs = sorted((tmp_path / "runs/tiny/lr").glob("*/run.json"))
    assert len(runs) == 5
    records = {p.parent.name: json.loads(p.read_text()) for p in runs}
    assert records["batchnorm=true"].get("stack") is None  # trained alone
    stacked = [r for name, r in records.items() if name != "batchnorm=true"]
    assert all(r["stack"]["size"] == 4 and r["status"] == "ok" and r["complete"] for r in stacked)
    # the same replay without stacking gives the same numbers
    alone = CliRunner().invoke(cli, [*args[:4], str(tmp_path / "alone"), *args[5:], "--no-stack"])
    assert alone.exit_code == 0 and "trained stacked" not in alone.output
    for name, record in records.items():
        other = json.loads((tmp_path / f"alone/tiny/lr/{name}/run.json").read_text())
        assert other["final"]["val_accuracy"] == record["final"]["val_accuracy"], name


def _plain_metrics(model, data, split):
    """What the module alone says on a split: mean cross-entropy and argmax accuracy."""
    import torch

    model.eval()
    with torch.no_grad():
        logits = model(torch.as_tensor(data.x[split]))
        y = torch.as_tensor(data.y[split])
        return torch.nn.functional.cross_entropy(logits, y).item(), (logits.argmax(1) == y).float().mean().item()


def test_stacked_evaluation_is_the_modules_own_on_every_row(small_cfg, blobs, monkeypatch):
    from engine.trainers import mlp_stacked

    monkeypatch.setattr(mlp_stacked, "EVAL_ROWS", 7)  # many chunks, the last one short
    monkeypatch.setattr(mlp_stacked, "EVAL_BYTES", 4 * 7 * 16 * 2)  # members evaluated two at a time
    shapes = ({}, {"model.batchnorm": True}, {"model.batchnorm": True, "model.residual": True, "model.depth": 4},
              {"model.sine_features": True, "model.sine_scales": (0.5, 1.0)},
              {"model.residual": True, "model.width": 2, "model.standardize": False})  # residual first block
    for shape in shapes:
        cfgs = members(small_cfg, *({**shape, "optim.epochs": 2, "system.seed": s} for s in (1, 2, 3)))
        for result in MLP.train_stack(cfgs, blobs, [[] for _ in cfgs]):
            for split, key in (("train", "train"), ("validation", "val"), ("test", "test")):
                loss, accuracy = _plain_metrics(result.model, blobs, split)
                assert math.isclose(result.history[f"{key}_loss"][-1], loss, rel_tol=1e-5), (shape, split)
                assert result.history[f"{key}_accuracy"][-1] == accuracy, (shape, split)


def test_a_tie_for_the_largest_logit_counts_as_argmax_does():
    import torch

    from engine.trainers.mlp_stacked import _loss_and_hits

    per_row = torch.tensor([[3.0, 3.0, 1.0], [3.0, 3.0, 1.0], [1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    target = torch.tensor([0, 1, 2, 0])  # a tie won by the target, a tie lost to an earlier class, a hit, a miss
    logits = per_row.T[None].contiguous()  # (members, classes, rows)
    loss, hits = _loss_and_hits(logits.clone(), target)
    assert hits[0].tolist() == (per_row.argmax(1) == target).tolist() == [True, False, True, False]
    assert torch.allclose(loss[0], torch.nn.functional.cross_entropy(per_row, target, reduction="none"))


@pytest.mark.parametrize("shape", [{}, {"model.sine_features": True, "model.width": 8}, {"model.batchnorm": True}],
                         ids=["default", "sine-width8", "batchnorm"])
def test_the_written_out_step_computes_autograds_gradients(small_cfg, blobs, shape):
    """A stack without residual blocks trains by ``Stack.train_step``
    (forward and backward written out); its losses and gradients are
    autograd's through the stack's own forward, up to rounding, for every
    member."""
    from engine.trainers.mlp import build_model
    from engine.trainers.mlp_stacked import Stack, StackedAdam

    cfgs = members(small_cfg, *({**shape, "system.seed": s, "optim.lr": lr} for s, lr in ((1, 0.01), (2, 0.1), (3, 1.0))))
    models = [build_model(cfg, blobs) for cfg in cfgs]
    x = torch.as_tensor(blobs.x["train"])
    for model in models:
        if hasattr(model.features, "fit"):
            model.features.fit(x)
    stack = Stack(models, torch.device("cpu"))
    optimizer = StackedAdam(stack.params, torch.tensor([0.01, 0.1, 1.0]), torch.zeros(3))
    rows = torch.stack([torch.randperm(len(x), generator=torch.Generator().manual_seed(k))[:37] for k in range(3)])
    features = models[0].features(x).detach()[rows]  # (members, 37, inputs): an odd batch
    target = torch.as_tensor(blobs.y["train"])[rows]

    logits = stack(features, training=True)
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1),
                                             reduction="none").view(3, -1).mean(1)
    loss.sum().backward()
    expected = [p.grad.clone() for p in stack.params]
    layers = len(stack.weights)
    written = optimizer.grads[:layers] + [g[:, 0] for g in optimizer.grads[layers:]]
    with torch.no_grad():
        got = stack.train_step(features, target[:, None], written)
    assert torch.allclose(got, loss.detach(), rtol=1e-5, atol=1e-6)
    assert len(expected) == len(optimizer.grads)
    for want, have in zip(expected, optimizer.grads):
        assert torch.allclose(want, have, rtol=1e-4, atol=1e-6)
    assert all(want.abs().max() > 1e-4 for want in expected[:layers])  # the weights' gradients are not all rounding
    # and it can fail: another batch's gradients are not these
    with torch.no_grad():
        stack.train_step(features.flip(1), target[:, None], written)
    assert not all(torch.allclose(want, have, rtol=1e-4, atol=1e-6) for want, have in zip(expected, optimizer.grads))


def test_the_written_out_batchnorm_keeps_torchs_running_statistics(small_cfg, blobs):
    """``Stack.train_step`` updates BatchNorm's running mean and (unbiased)
    variance as torch's BatchNorm1d does (momentum 0.1), batch after batch."""
    from engine.trainers.mlp import build_model
    from engine.trainers.mlp_stacked import Stack, StackedAdam

    cfgs = members(small_cfg, *({"model.batchnorm": True, "system.seed": s} for s in (1, 2)))
    x = torch.as_tensor(blobs.x["train"])
    models = [build_model(cfg, blobs) for cfg in cfgs]
    for model in models:
        model.features.fit(x)
    by_torch, written = Stack(models, torch.device("cpu")), Stack(models, torch.device("cpu"))
    optimizer = StackedAdam(written.params, torch.tensor([0.01, 0.01]), torch.zeros(2))
    layers = len(written.weights)
    grads = optimizer.grads[:layers] + [g[:, 0] for g in optimizer.grads[layers:]]
    target = torch.as_tensor(blobs.y["train"])
    for size in (7, 2, 31):
        rows = torch.stack([torch.randperm(len(x), generator=torch.Generator().manual_seed(k + size))[:size]
                            for k in range(2)])
        features = models[0].features(x).detach()[rows]
        with torch.no_grad():
            by_torch(features, training=True)  # torch's fused batch_norm updates its running statistics
            written.train_step(features, target[rows][:, None], grads)
    for mine, theirs in zip((n for _, _, n in written.blocks), (n for _, _, n in by_torch.blocks)):
        assert mine.batches == theirs.batches == 3
        assert torch.allclose(mine.running_mean, theirs.running_mean, atol=1e-6)
        assert torch.allclose(mine.running_var, theirs.running_var, rtol=1e-5, atol=1e-6)
        assert not torch.allclose(mine.running_var, torch.ones_like(mine.running_var))  # they did move


def test_freed_memory_is_kept_unless_the_user_set_glibcs_thresholds(monkeypatch):
    import platform

    from engine.allocator import keep_freed_memory

    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "1000")
    assert keep_freed_memory() is False
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_")
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert keep_freed_memory() is True


@pytest.mark.parametrize("order", ["import engine\nimport torch", "import torch\nimport engine",
                                   "import engine, importlib.util\nimportlib.util.find_spec('torch')\nimport torch\n"
                                   "import importlib.resources\nassert importlib.resources.files('torch').is_dir()"])
def test_denormals_are_flushed_in_every_thread_torch_computes_on(order):
    """Whichever is imported first, a denormal input counts as zero in both
    of torch's threads (a tensor big enough to be split between them); the
    check fails where only the importing thread flushes."""
    import platform
    import subprocess
    import sys

    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip("FTZ/DAZ is an x86 mode")
    code = (f"{order}\ntorch.set_num_threads(2)\n"
            "print(int((torch.full((1 << 20,), 1e-40) * 1.0).count_nonzero()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split()[-1] == "0"
    unflushed = subprocess.run([sys.executable, "-c", "import torch\ntorch.set_num_threads(2)\n"
                                "print(int((torch.full((1 << 20,), 1e-40) * 1.0).count_nonzero()))"],
                               capture_output=True, text=True, check=True).stdout
    assert unflushed.split()[-1] == str(1 << 20)  # without the engine, denormals stay: the check can fail


@pytest.mark.parametrize("batchnorm", [False, True])
def test_evaluation_of_a_split_torch_splits_between_threads_is_the_same_alone_and_stacked(small_cfg, blobs, batchnorm):
    """50,000 rows at two threads: a sum over one member's whole row would be
    split between the threads alone and not stacked (1 ulp apart on the
    cities, 3 of these 8 members); the evaluator sums each chunk first."""
    from engine.system import seed_everything
    from engine.trainers.mlp import build_model
    from engine.trainers.mlp_stacked import Evaluator, Stack

    models = []
    for seed in range(1, 9):
        seed_everything(seed)
        models.append(build_model(apply_overrides(small_cfg, {"system.seed": seed, "model.batchnorm": batchnorm,
                                                              "model.depth": 3}), blobs).eval())
    for model in models:
        with torch.no_grad():  # losses that spread over a wide range: sums in two orders then rarely agree
            for layer in model.linear_layers():
                layer.weight.mul_(4)
        for norm in (b.norm for b in model.hidden if isinstance(b.norm, torch.nn.BatchNorm1d)):
            norm.running_mean.uniform_(-1, 1), norm.running_var.uniform_(0.5, 2)  # statistics that are not the identity
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(50_000, blobs.x["train"].shape[1], generator=generator) * 3
    y = torch.randint(0, int(blobs.y["train"].max()) + 1, (50_000,), generator=generator)
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with torch.no_grad():
            features = models[0].features(x).contiguous()
        stacked = Evaluator(Stack(models, torch.device("cpu")))(features, y)
        for k in range(len(models)):
            alone = Evaluator(Stack(models[k:k + 1], torch.device("cpu")))(features, y)
            assert torch.equal(stacked[0][k:k + 1], alone[0]) and torch.equal(stacked[1][k:k + 1], alone[1])
            with torch.no_grad():
                logits = models[k](x)
            assert math.isclose(alone[0].item(), torch.nn.functional.cross_entropy(logits, y).item(), rel_tol=1e-5)
            assert alone[1].item() == (logits.argmax(1) == y).float().mean().item()
    finally:
        torch.set_num_threads(before)


def test_the_stacked_adam_is_torchs_adam_for_every_member():
    """Each member's rows follow torch.optim.Adam with its own learning rate
    and weight decay (L2 added to the gradient), step after step, up to
    rounding; and it can fail: another learning rate is not this one."""
    from engine.trainers.mlp_stacked import StackedAdam

    torch.manual_seed(0)
    lrs, wds = torch.tensor([0.01, 0.1]), torch.tensor([0.0, 0.05])
    params = [torch.randn(2, 3, 4), torch.randn(2, 1, 4)]
    grads = [[torch.randn_like(p) for p in params] for _ in range(3)]
    optimizer = StackedAdam(params, lrs, wds)
    for step in grads:
        torch._foreach_copy_(optimizer.grads, step)
        optimizer.step(written=True)
    for k in range(2):
        torch.manual_seed(0)
        start = [torch.randn(2, 3, 4)[k], torch.randn(2, 1, 4)[k]]
        theirs = [torch.nn.Parameter(t.clone()) for t in start]
        reference = torch.optim.Adam(theirs, lr=float(lrs[k]), weight_decay=float(wds[k]))
        for step in grads:
            for p, g in zip(theirs, step):
                p.grad = g[k].clone()
            reference.step()
        for mine, ref in zip(params, theirs):
            assert torch.allclose(mine[k], ref.detach(), rtol=1e-5, atol=1e-6)
        moved = [torch.nn.Parameter(t.clone()) for t in start]
        other = torch.optim.Adam(moved, lr=float(lrs[k]) * 2, weight_decay=float(wds[k]))
        for step in grads:
            for p, g in zip(moved, step):
                p.grad = g[k].clone()
            other.step()
        assert not torch.allclose(params[0][k], moved[0].detach(), rtol=1e-5, atol=1e-6)
