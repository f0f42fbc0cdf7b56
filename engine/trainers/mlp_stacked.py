"""Train several MLP runs of one sweep together, as one stacked model.

Runs that share a model shape and a batch schedule (same data, depth, width,
features, batch size, epochs) but differ in seed, learning rate or weight
decay are stacked: every Linear layer becomes one (members, in, out) tensor
and a step is a handful of batched matmuls (``torch.baddbmm``) instead of
one small model per run. Each member keeps everything it would have had
alone: its initial weights (built from its own seed exactly as ``fit``
builds them), its own batch order (its own seeded permutation each epoch),
its own learning rate and weight decay (``StackedAdam``: torch's fused
Adam kernel on flat rows, then each member's learning rate), its own events
and run record. A member whose loss
becomes NaN is recorded as diverged at that epoch and the others go on.

Every kind of MLP stacks: BatchNorm (statistics per member), residual
blocks and gradient recording (||grad||^2 per member and layer) included; a
run alone is a stack of one, so a run's numbers do not depend on its stack.
An MLP without residual blocks (BatchNorm or not: all of STUDY Part A but
the residual variants) trains by ``Stack.train_step``, its forward and
backward written out: 1.3 to 1.8 times faster than autograd at these sizes,
and with BatchNorm computed per member and feature (channels of torch's own
batch_norm kernels), so a member's bits are the same alone and stacked,
BatchNorm included. Residual
shapes train by autograd through ``Stack.__call__``. The cross-entropy is
torch's fused log-softmax along the classes (vectorised along the rows, so
a member's numbers do not depend on its stack), and ``exp2`` never sees a
member's elements in a vector loop's scalar tail (``_per_member``).
"""

from __future__ import annotations

import math
import time
from typing import Hashable

import torch
from torch import nn

from engine import kit
from engine.data.mlp import CitySplits
from engine.errors import BenchError
from engine.system import resolve_device, seed_everything
from engine.trainers.mlp import SPLIT_KEYS, MLPTrainConfig, build_model, make_batches
from engine.models.mlp import Standardize

BETAS, EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, as the runs trained alone use
LOG2E = 1 / math.log(2)
ALIGN = 64  # floats: a multiple of every x86 vector loop's step (2 x 16 with AVX-512)


def fit(cfg: MLPTrainConfig, data: CitySplits, session: kit.RunSession) -> kit.Fitted:
    """The ``mlp`` kind's fit: a run alone is a stack of one, so its numbers
    are the same whether it trained alone or with others."""
    return fit_stack([cfg], data, [session])[0]


def stack_key(cfg: MLPTrainConfig) -> Hashable:
    """Runs with the same key can train together (what may differ: seed,
    learning rate, weight decay)."""
    m, o, s = cfg.model, cfg.optim, cfg.system
    return (cfg.data, m, o.batch_size, o.epochs, s.device, s.threads, s.record_grads)


class StackedNorm:
    """BatchNorm1d for every member at once: batch statistics per member in
    training, running statistics (momentum 0.1, unbiased variance, as torch)
    in evaluation."""

    def __init__(self, norms: list[nn.BatchNorm1d], device: torch.device):
        def stack(name: str) -> torch.Tensor:
            return torch.stack([getattr(n, name).detach()[None] for n in norms]).to(device)

        self.weight, self.bias = stack("weight").requires_grad_(), stack("bias").requires_grad_()
        self.running_mean, self.running_var = stack("running_mean"), stack("running_var")
        self.eps, self.momentum, self.batches = norms[0].eps, norms[0].momentum, 0
        # weight, bias, running mean and variance as (members x features,) views: the channels of Stack.train_step's
        # (1, members x features, rows) activations, for torch's own batch_norm kernels (a channel's numbers do not
        # depend on the others: a member's bits are the same alone and stacked)
        self.flat = tuple(t.detach().view(-1) for t in (self.weight, self.bias, self.running_mean, self.running_var))

    def __call__(self, h: torch.Tensor, training: bool) -> torch.Tensor:
        """Autograd's path (residual stacks; ``Stack.train_step`` normalises
        the others itself). (members, rows, features) -> the same, normalised
        per member and feature: one fused ``batch_norm`` over a (rows, members x features)
        copy of ``h``, whose channels are the members' features; the
        running statistics are updated in place, as torch's BatchNorm1d
        does. Not bit-exact between a member alone and stacked: the layer
        bias before it gets its (in exact arithmetic zero) gradient from a
        transposed view, summed in an order that depends on the stack; an
        exact layout cost 50 % more per layer (see the README)."""
        members, rows, features = h.shape
        out = nn.functional.batch_norm(h.transpose(0, 1).reshape(rows, members * features),
                                       self.running_mean.view(-1), self.running_var.view(-1),
                                       self.weight.view(-1), self.bias.view(-1), training, self.momentum, self.eps)
        if training:
            self.batches += 1
        return out.view(rows, members, features).transpose(0, 1)

    def write_back(self, k: int, norm: nn.BatchNorm1d) -> None:
        for name in ("weight", "bias", "running_mean", "running_var"):
            getattr(norm, name).copy_(getattr(self, name)[k, 0])
        norm.num_batches_tracked.fill_(self.batches)


class Stack:
    """The members' layers as stacked tensors (Linear weights (members, in,
    out), biases and BatchNorm parameters (members, 1, features)), and the
    forward pass of ``engine.models.mlp.MLP`` for all of them at once."""

    def __init__(self, models: list[nn.Module], device: torch.device):
        layers = [list(model.linear_layers()) for model in models]
        self.weights = [torch.stack([ls[i].weight.detach().T for ls in layers]).to(device).requires_grad_()
                        for i in range(len(layers[0]))]  # (members, in, out)
        self.biases = [torch.stack([ls[i].bias.detach()[None] for ls in layers]).to(device).requires_grad_()
                       for i in range(len(layers[0]))]  # (members, 1, out)
        hidden = [list(model.hidden) for model in models]
        self.blocks = [(first.residual, first.scale,
                        StackedNorm([h[i].norm for h in hidden], device) if isinstance(first.norm, nn.BatchNorm1d)
                        else None)
                       for i, first in enumerate(hidden[0])]
        with torch.no_grad():  # (members, out, 1) biases and (members, out, in) weights: views, current after every step
            self.transposed = [(b.transpose(1, 2), w.transpose(1, 2)) for w, b in zip(self.weights, self.biases)]

    @property
    def params(self) -> list[torch.Tensor]:
        norms = [p for _, _, norm in self.blocks if norm is not None for p in (norm.weight, norm.bias)]
        return self.weights + self.biases + norms

    def __call__(self, h: torch.Tensor, training: bool = False) -> torch.Tensor:
        """(members, n, features) -> (members, n, classes) logits."""
        for (residual, scale, norm), w, b in zip(self.blocks, self.weights, self.biases):
            if residual:  # x + scale * Linear(ReLU([BatchNorm](x)))
                inner = norm(h, training) if norm is not None else h
                h = h + scale * torch.baddbmm(b, torch.relu(inner), w)
            else:  # ReLU([BatchNorm](Linear(x)))
                h = torch.baddbmm(b, h, w)
                h = torch.relu(norm(h, training) if norm is not None else h)
        return torch.baddbmm(self.biases[-1], h, self.weights[-1])

    @property
    def written_out(self) -> bool:
        """No residual block (BatchNorm or not): the shapes ``train_step`` trains."""
        return not any(residual for residual, _, _ in self.blocks)

    def train_step(self, x: torch.Tensor, target: torch.Tensor, grads: list[torch.Tensor]) -> torch.Tensor:
        """One training step of a stack without residual blocks (BatchNorm
        or not), forward and backward written out (no autograd: at these
        sizes its bookkeeping costs more than the arithmetic); call it under
        ``torch.no_grad()``. x (members, rows, inputs), target (members, 1,
        rows); writes the gradients of each member's mean cross-entropy into
        ``grads`` (views of the optimiser's rows in its parameters' order,
        each (members, ...) without the stacked size-1 dimension) and
        returns the losses (members,).

        Activations are (members, features, rows), as in evaluation: viewed
        as (1, members x features, rows), every member's feature is a
        channel of torch's own batch_norm kernels (forward with the running
        statistics' update, and backward: two calls a layer instead of
        twenty), which compute a channel alone; the softmax's sums over
        classes are vectorised along the rows. So a member's numbers do not
        depend on its stack, BatchNorm included."""
        weights, layers = self.weights, len(self.weights)
        h, inputs, normed = x.transpose(1, 2), [], []
        for i, (b, w) in enumerate(self.transposed):
            inputs.append(h)
            h = torch.baddbmm(b, w, h)  # (members, out, rows)
            if i == layers - 1:
                break
            norm = self.blocks[i][2]
            if norm is not None:  # (1, members x features, rows): every member's feature is a channel of its own
                members, features, rows = h.shape  # rows: at least 2, fit_stack checks the training split once
                flat = h.view(1, members * features, rows)
                out, mean, rstd = torch.ops.aten.native_batch_norm(
                    flat, norm.flat[0], norm.flat[1], norm.flat[2], norm.flat[3], True, norm.momentum, norm.eps)
                normed.append((norm, flat, mean, rstd))  # the running statistics are updated in place, as BatchNorm1d's
                norm.batches += 1
                h = out.view(members, features, rows)
            h.clamp_min_(0)
        rows = h.shape[2]
        log_p = torch._log_softmax(h, 1, False)  # (members, classes, rows): one fused kernel, vectorised along the rows
        loss = log_p.gather(1, target).mean(2)[:, 0].neg_()
        # d mean loss / d logits = (softmax - one-hot) / rows; the softmax as 2^(log_p log2 e): torch's exp takes a
        # slow path below -87 (a confident member's unlikely classes: 60x slower than exp2 there)
        g = _per_member(torch.exp2, log_p.mul_(LOG2E)).div_(rows)
        g.scatter_add_(1, target, g.new_tensor(-1.0 / rows).expand(target.shape))  # a stride-0 one-hot value
        computed = [None] * len(grads)
        n = len(normed)
        for i in range(layers - 1, -1, -1):
            if i < layers - 1:  # g is the gradient of this layer's ReLU output: through the ReLU, [BatchNorm]
                g = torch.ops.aten.threshold_backward(g, inputs[i + 1], 0)
                if self.blocks[i][2] is not None:
                    n -= 1
                    norm, flat, mean, rstd = normed[n]
                    g, d_gamma, d_beta = torch.ops.aten.native_batch_norm_backward(
                        g.view(flat.shape), flat, norm.flat[0], norm.flat[2], norm.flat[3], mean, rstd, True, norm.eps,
                        [True, True, True])
                    members, features, rows = inputs[i + 1].shape
                    computed[2 * layers + 2 * n] = d_gamma.view(members, features)
                    computed[2 * layers + 2 * n + 1] = d_beta.view(members, features)
                    g = g.view(members, features, rows)
            computed[i] = torch.bmm(inputs[i], g.transpose(1, 2))  # (members, in, out)
            computed[layers + i] = g.sum(2)  # (members, out)
            if i:
                g = torch.bmm(weights[i], g)
        torch._foreach_copy_(grads, computed)  # bmm into a view whose members are a row apart loops member by member
        return loss

    def write_back(self, models: list[nn.Module]) -> None:
        """Copy each member's trained parameters into its own module."""
        with torch.no_grad():
            for k, model in enumerate(models):
                for layer, w, b in zip(model.linear_layers(), self.weights, self.biases):
                    layer.weight.copy_(w[k].T)
                    layer.bias.copy_(b[k, 0])
                for block, (_, _, norm) in zip(model.hidden, self.blocks):
                    if norm is not None:
                        norm.write_back(k, block.norm)


class StackedAdam:
    """Adam (L2 weight decay added to the gradient, like torch.optim.Adam)
    with a learning rate and a weight decay per member.

    Its state is flat: every member's gradients, moments and update are one
    row of a (members, columns) tensor, so a step is torch's fused Adam
    kernel on those rows (with a learning rate of 1), the members' learning
    rates and one add per parameter, instead of a dozen ops per parameter
    (8x faster at depth 100). The row is padded to a multiple
    of ``ALIGN`` columns: each op's vectorised loop then covers every
    element (no scalar tail, whose rounding can differ from the vector
    body's fused multiply-add), whatever the number of members, so a member
    gets the same bits alone and stacked. ``m``/``v`` are per-parameter
    views of the flat moments (what a member's checkpoint holds)."""

    def __init__(self, params: list[torch.Tensor], lr: torch.Tensor, weight_decay: torch.Tensor):
        self.params, self.step_count = params, 0
        members = len(lr)
        self.lr = lr.view(members, 1)
        self.decays = bool((weight_decay != 0).any())
        # each parameter's per-member weight decay, shaped to broadcast over it
        self.wd = [weight_decay.view((-1,) + (1,) * (p.dim() - 1)) for p in params]
        sizes = [p[0].numel() for p in params]
        columns = -(-sum(sizes) // ALIGN) * ALIGN

        def flat() -> torch.Tensor:
            return torch.zeros(members, columns, device=lr.device)

        def views(buffer: torch.Tensor) -> list[torch.Tensor]:
            ends = torch.tensor(sizes).cumsum(0).tolist()
            return [buffer[:, end - size:end].view(p.shape) for p, size, end in zip(params, sizes, ends)]

        self.grad, self.moment1, self.moment2, self.update = (flat() for _ in range(4))
        self.steps = torch.zeros((), device=lr.device)  # the fused kernel reads the step count from a tensor
        self.lengths = torch.tensor(sizes + [columns - sum(sizes)], device=lr.device).expand(members, -1).contiguous()
        self.grads, self.updates = views(self.grad), views(self.update)
        self.m, self.v = views(self.moment1), views(self.moment2)

    @torch.no_grad()
    def step(self, sq_norms: bool = False, written: bool = False) -> torch.Tensor | None:
        """One Adam step on the gradients the parameters hold (``written``:
        on those already written into ``grads``, the flat views); with
        ``sq_norms``, returns each parameter's ||grad||^2 per member
        (members, parameters), weight decay not included: one segmented sum
        over the flat gradients."""
        self.step_count += 1
        if not written:
            torch._foreach_copy_(self.grads, [p.grad for p in self.params])
        norms = (torch.segment_reduce(self.grad * self.grad, "sum", lengths=self.lengths, axis=1)[:, :-1]
                 if sq_norms else None)
        if self.decays:
            torch._foreach_add_(self.grads, torch._foreach_mul(self.params, self.wd))
        # torch's fused Adam kernel on the flat rows, with a learning rate of 1 and the update buffer as its
        # "parameter" (zeroed first): update = -m_hat / (sqrt(v_hat) + eps); then each member's learning rate
        self.update.zero_()
        self.steps.fill_(self.step_count)
        torch._fused_adam_([self.update], [self.grad], [self.moment1], [self.moment2], [], [self.steps], lr=1.0,
                           beta1=BETAS[0], beta2=BETAS[1], weight_decay=0.0, eps=EPS, amsgrad=False, maximize=False)
        self.update.mul_(self.lr)
        torch._foreach_add_(self.params, self.updates)
        if not written:
            for p in self.params:
                p.grad = None
        return norms


class Member:
    """One member's slice of the stack and of its optimiser: what its own
    checkpoint holds (``state_dict``/``load_state_dict``, engine.checkpoint)."""

    def __init__(self, stack: Stack, optimizer: StackedAdam, k: int):
        self.stack, self.optimizer, self.k = stack, optimizer, k

    def _norms(self) -> list[StackedNorm]:
        return [norm for _, _, norm in self.stack.blocks if norm is not None]

    def state_dict(self) -> dict:
        k = self.k  # cloned: a view would save the whole stack's storage
        return {"weights": [w[k].detach().clone() for w in self.stack.weights],
                "biases": [b[k].detach().clone() for b in self.stack.biases],
                "norms": [{name: getattr(n, name)[k].detach().clone()
                           for name in ("weight", "bias", "running_mean", "running_var")} for n in self._norms()],
                "norm_batches": [n.batches for n in self._norms()],
                "adam_m": [m[k].clone() for m in self.optimizer.m], "adam_v": [v[k].clone() for v in self.optimizer.v],
                "adam_steps": self.optimizer.step_count}

    @torch.no_grad()
    def load_state_dict(self, state: dict) -> None:
        k = self.k
        for mine, saved in zip(self.stack.weights + self.stack.biases, state["weights"] + state["biases"]):
            mine[k].copy_(saved)
        for norm, saved, batches in zip(self._norms(), state["norms"], state["norm_batches"]):
            for name, value in saved.items():
                getattr(norm, name)[k].copy_(value)
            norm.batches = batches
        for mine, saved in zip(self.optimizer.m + self.optimizer.v, state["adam_m"] + state["adam_v"]):
            mine[k].copy_(saved)
        self.optimizer.step_count = state["adam_steps"]


EVAL_ROWS = 2048  # rows per evaluation chunk: the same for every stack (a member's matmuls see the same shapes)
EVAL_BYTES = 1 << 20  # a group of members' logits for one chunk (members x classes x rows x 4 bytes) stays in L2


class Evaluator:
    """Exact evaluation of every member on every row of a split, stacked.

    Rows go through in chunks of ``EVAL_ROWS`` with the features along the
    rows of each activation (members, features, rows), so every layer is one
    batched matmul whose inputs and outputs stay in cache and no copy of the
    inputs is made per member. In a stack without residual blocks (all of
    Part A but the residual variants) every activation carries a last row
    of ones and every weight its bias as a last column (and a row [0 .. 0
    1] that makes the next row of ones): a layer is one ``bmm``, with no
    pass to broadcast the bias (a fifth of evaluation's time), and the
    first layer, whose input every member shares, is one wide matmul,
    (members x (width + 1), inputs + 1) @ (inputs + 1, rows). Residual
    stacks go through ``_general``: ``baddbmm`` per layer on the input
    broadcast to every member (a stride-0 view).

    A member's numbers do not depend on which other members it is evaluated
    with: members are cut into groups by a size that does not depend on
    their number, and each chunk's losses are summed per member before the
    sums of the chunks are (a sum over a whole split's row would be split
    between torch's threads alone but not stacked). So a run gets the same
    numbers alone and stacked, at one thread or two.
    """

    def __init__(self, stack: Stack):
        self.stack = stack

    @torch.no_grad()
    def __call__(self, features: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per member (mean cross-entropy, accuracy) over a whole split."""
        stack = self.stack
        members, classes, width = len(stack.weights[0]), stack.weights[-1].shape[2], stack.weights[0].shape[2]
        norms = [None if norm is None else
                 (norm.running_mean.transpose(1, 2).contiguous(),
                  torch.sqrt(norm.running_var + norm.eps).transpose(1, 2).contiguous(),
                  norm.weight.detach().transpose(1, 2).contiguous(), norm.bias.detach().transpose(1, 2).contiguous())
                 for _, _, norm in stack.blocks]
        n, chunks = len(y), -(-len(y) // EVAL_ROWS)
        loss_sums = torch.empty(members, chunks, device=features.device)
        hit_counts = torch.empty(members, chunks, device=features.device)
        group = max(1, EVAL_BYTES // (4 * EVAL_ROWS * max(width, classes)))
        parts = [slice(g, g + group) for g in range(0, members, group)]
        if stack.written_out:
            layers = self._augmented(norms)
            group_layers = [[w[part] for w in layers] for part in parts]  # sliced once, not every chunk
            xt = torch.cat([features.T, features.new_ones(1, n)])  # (inputs + 1, rows): a row of ones for the bias
            wide = layers[0].reshape(members * (width + 1), -1)
        else:  # BatchNorm applied per group (the written-out path folds it into the layers instead)
            xt = features.T.contiguous()
            group_norms = [[None if nm is None else [t[part] for t in nm] for nm in norms] for part in parts]
        for c, start in enumerate(range(0, n, EVAL_ROWS)):
            stop = min(n, start + EVAL_ROWS)
            x, target = xt[:, start:stop], y[start:stop]
            if stack.written_out:  # one matmul for every member: (members x (width + 1), inputs + 1) @ (inputs + 1, rows)
                first = torch.mm(wide, x).view(members, width + 1, -1)
            for k, part in enumerate(parts):
                if stack.written_out:
                    logits = self._plain(first[part], group_layers[k])
                else:
                    logits = self._general(x, part, group_norms[k])
                losses, hits = _loss_and_hits(logits, target)
                loss_sums[part, c], hit_counts[part, c] = losses.sum(1), hits.sum(1)
        return loss_sums.sum(1).div_(n), hit_counts.sum(1).div_(n)

    def _augmented(self, norms: list) -> list[torch.Tensor]:
        """Each layer's [[W, b], [0 .. 0, 1]] (members, out + 1, in + 1); the last layer's without the row of ones.
        A BatchNorm after a layer (running statistics: per feature z -> z s + t, s = weight / sqrt(var + eps),
        t = bias - mean s) is folded into it: [[s W, s b + t], [0 .. 0, 1]], so evaluation costs the same with
        BatchNorm as without."""
        layers = []
        for i, (w, b, norm) in enumerate(zip(self.stack.weights, self.stack.biases, norms + [None])):
            members, inputs, out = w.shape
            last = i == len(self.stack.weights) - 1
            a = w.new_zeros(members, out + (0 if last else 1), inputs + 1)
            a[:, :out, :inputs] = w.detach().transpose(1, 2)
            a[:, :out, inputs] = b.detach()[:, 0]
            if norm is not None:  # (members, out, 1) each: running mean, sqrt(running var + eps), weight, bias
                mean, sd, weight, bias = norm
                scale = weight / sd
                a[:, :out].mul_(scale)
                a[:, :out, inputs:].add_(bias - mean * scale)
            if not last:
                a[:, out, inputs] = 1
            layers.append(a)
        return layers

    @staticmethod
    def _plain(h: torch.Tensor, layers: list[torch.Tensor]) -> torch.Tensor:
        """A group's chunk through a stack without residual blocks: h is the
        first layer's output (members, width + 1, rows), its last row ones;
        BatchNorm is folded into the layers (``_augmented``)."""
        for i, w in enumerate(layers):
            if i:
                h = torch.bmm(w, h)
            if i == len(layers) - 1:
                return h  # (members, classes, rows)
            h.clamp_min_(0)  # in place: this chunk's own (or its slice of the first layer)

    def _general(self, x: torch.Tensor, part: slice, norms: list) -> torch.Tensor:
        """A group's chunk through any stack (residual blocks): x (inputs, rows)."""
        stack = self.stack
        h = x.expand(len(stack.weights[0][part]), *x.shape)  # a stride-0 view, no copy
        for i, ((residual, scale, _), nm) in enumerate(zip(stack.blocks, norms)):  # norms: this group's
            w, b = stack.weights[i][part].detach().transpose(1, 2), stack.biases[i][part].detach().transpose(1, 2)
            if residual:
                inner = h if nm is None else (h - nm[0]) / nm[1] * nm[2] + nm[3]
                h = h + scale * torch.baddbmm(b, w, torch.relu(inner))
            else:
                h = torch.baddbmm(b, w, h)
                if nm is not None:
                    h = (h - nm[0]) / nm[1] * nm[2] + nm[3]
                h = h.clamp_min_(0)
        w, b = stack.weights[-1][part].detach().transpose(1, 2), stack.biases[-1][part].detach().transpose(1, 2)
        return torch.baddbmm(b, w, h)


def _per_member(fn, t: torch.Tensor) -> torch.Tensor:
    """An elementwise function whose vector loop and scalar tail may round
    differently (``exp2``) applied to (members, ..., rows) so that
    no member's elements fall in the scalar tail, whatever the number of
    members: rows padded to a multiple of ``ALIGN`` where they are not one.
    Holds for one or two threads (what the tests check); with more, torch
    may split a large tensor's loop at boundaries that depend on its size."""
    rows = t.shape[-1]
    if rows % ALIGN == 0 and t.is_contiguous():
        return fn(t)
    return fn(nn.functional.pad(t, (0, -rows % ALIGN)))[..., :rows]


def _loss_and_hits(logits: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(members, classes, rows) logits -> per row cross-entropy and whether
    argmax (the first largest logit) is the target. The log-softmax is one
    fused kernel along the rows; argmax along a dimension that is not the
    last one is slow on the CPU, so a hit is a strict win of the target's
    log-probability over the largest other one (rounding is monotonic: a
    strict win there is a strict win on the logits), and argmax is only
    needed where the two are equal (a true tie, or two logits that rounding
    made equal)."""
    index = target.expand(len(logits), 1, -1)
    log_p = torch._log_softmax(logits, 1, False)
    picked = log_p.gather(1, index)
    best_other = log_p.scatter_(1, index, -math.inf).amax(1, keepdim=True)  # log_p is not needed any more
    hits = picked > best_other
    tied = picked == best_other  # argmax picks the first of tied logits: the target if it comes first
    if tied.any():
        hits |= tied & (target == logits.argmax(1, keepdim=True))
    return picked[:, 0].neg(), hits[:, 0]


def fit_stack(cfgs: list[MLPTrainConfig], data: CitySplits, sessions: list[kit.RunSession]) -> list[kit.Fitted]:
    first = cfgs[0]
    device = resolve_device(first.system.device)
    x = {SPLIT_KEYS[s]: torch.as_tensor(data.x[s], device=device) for s in data.x}
    y = {SPLIT_KEYS[s]: torch.as_tensor(data.y[s], device=device) for s in data.y}
    n_train = len(x["train"])

    # each member built exactly as it would be alone: its seed, its batch order
    models, generators = [], []
    for cfg in cfgs:
        seed_everything(cfg.system.seed)
        generators.append(torch.Generator().manual_seed(cfg.system.seed))
        model = build_model(cfg, data).to(device)
        if isinstance(model.features, Standardize):
            model.features.fit(x["train"])
        models.append(model)
    with torch.no_grad():  # features have no trained parameters: computed once for every member
        features = {s: models[0].features(x[s]).contiguous() for s in x}  # rows gathered for batches
    stack = Stack(models, device)
    evaluate = Evaluator(stack)
    optimizer = StackedAdam(stack.params, torch.tensor([c.optim.lr for c in cfgs], device=device),
                            torch.tensor([c.optim.weight_decay for c in cfgs], device=device))
    members = len(cfgs)
    merge = first.model.batchnorm  # BatchNorm: a trailing batch of one example joins the one before
    if merge and n_train < 2:  # so every BatchNorm batch, merged, has 2 rows or more (batch_size 1 is refused)
        raise BenchError("BatchNorm cannot train on a batch of one example (its variance is zero): "
                         "the training split needs at least 2 rows")
    steps_per_epoch = len(make_batches(n_train, first.optim.batch_size, torch.Generator().manual_seed(0),
                                       torch.device("cpu"), merge))
    record_grads = first.system.record_grads
    layers = len(stack.weights)  # the optimiser's parameters: every weight, then every bias, then BatchNorm's
    written = stack.written_out  # trained by Stack.train_step; residual shapes by autograd
    step_grads = optimizer.grads[:layers] + [g[:, 0] for g in optimizer.grads[layers:]]
    names = ", ".join(s.run_id.rsplit("/", 1)[-1] for s in sessions)
    note = f"trained stacked with {members} runs: {names}" if members > 1 else ""
    for session in sessions:
        session.start(first.optim.epochs, steps_per_epoch, device, note)
    alive = [True] * members
    together = {"stack": {"size": members, "runs": names}} if members > 1 else {}
    outcome = [kit.Fitted("ok", "", model, dict(together)) for model in models]

    def log_epoch(epoch: int, step_losses: torch.Tensor, seconds: float, grads: torch.Tensor | None) -> None:
        evaluated = {split: evaluate(features[split], y[split]) for split in ("train", "val", "test")}
        losses = step_losses.T.tolist()  # (members, steps)
        for k, session in enumerate(sessions):
            if not alive[k]:
                continue
            metrics = {}
            for split, (loss, accuracy) in evaluated.items():
                metrics[f"{split}_loss"], metrics[f"{split}_accuracy"] = loss[k].item(), accuracy[k].item()
            grad = grads[:, k].tolist() if grads is not None else None
            if not session.epoch_end(epoch, metrics, losses[k], seconds, grad) and epoch > 0:  # 0: untrained
                alive[k] = False
                outcome[k].status, outcome[k].message = "diverged", f"loss became NaN or infinite in epoch {epoch}"

    # runs cut short resume after their last whole epoch (engine.checkpoint), the stack as it was: a member
    # that had diverged keeps its place (its numbers are ignored, the others' depend on the stack's shape)
    starts = [session.resume_from(diverged_too=True, member=Member(stack, optimizer, k), batches=generators[k])
              for k, session in enumerate(sessions)]
    for k, session in enumerate(sessions):
        if session.resumed_diverged:
            alive[k] = False
            outcome[k].status, outcome[k].message = "diverged", f"loss became NaN or infinite in epoch {starts[k]}"
    live = {start for start, ok in zip(starts, alive) if ok}
    if len(live) > 1:
        raise BenchError(f"the runs of a stack resume from different epochs ({sorted(live)}): train them apart")
    start = live.pop() if live else max(starts)
    if start == 0:
        log_epoch(0, torch.empty(0, members), 0.0, None)
    last = first.optim.epochs if any(alive) else start  # every member had diverged: nothing left to train
    for epoch in range(start + 1, last + 1):
        epoch_start = time.perf_counter()
        orders = [make_batches(n_train, first.optim.batch_size, g, device, merge) for g in generators]
        order = torch.stack([torch.cat(batches) for batches in orders])  # (members, n): one permutation each
        ends = torch.tensor([len(b) for b in orders[0]]).cumsum(0).tolist()  # every member: the same batch sizes
        step_losses = []  # (members,) each: stacked once the epoch ends
        grad_acc = torch.zeros(len(stack.weights), members, device=device) if record_grads else None
        stopped = False
        for step in range(steps_per_epoch):
            idx = order[:, (ends[step - 1] if step else 0):ends[step]]  # (members, batch)
            if written:
                rows = idx.reshape(-1)
                with torch.no_grad():
                    loss = stack.train_step(features["train"].index_select(0, rows).view(members, idx.shape[1], -1),
                                            y["train"].index_select(0, rows).view(members, 1, -1), step_grads)
            else:
                logits = stack(features["train"][idx], training=True)
                loss = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                   y["train"][idx].reshape(-1), reduction="none").view(members, -1).mean(1)
                loss.sum().backward()  # members are independent: each gets the gradient of its own loss
            norms = optimizer.step(sq_norms=grad_acc is not None, written=written)
            if grad_acc is not None:  # ||grad||^2 per Linear layer: its weight's and its bias's
                grad_acc += (norms[:, :layers] + norms[:, layers:2 * layers]).T
            step_losses.append(loss.detach())
            ticks = [session.tick(epoch, step, steps_per_epoch) for session in sessions]  # each sees the stop
            if any(ticks):
                stopped = True
                break
        step_losses = torch.stack(step_losses)  # (steps, members)
        grads = grad_acc / len(step_losses) if grad_acc is not None else None
        log_epoch(epoch, step_losses, time.perf_counter() - epoch_start, grads)
        if stopped:
            for k in range(members):
                if alive[k]:
                    outcome[k].status, outcome[k].message = "stopped", f"stopped by request in epoch {epoch}"
            break
        if not any(alive):
            break
    stack.write_back(models)
    return outcome
