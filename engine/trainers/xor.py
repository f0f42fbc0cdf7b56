"""Lab 3 (STUDY Part C.3): an XOR network with hand-written backpropagation.

2 inputs + bias -> 2 sigmoid hidden units (+ bias) -> 1 sigmoid output,
trained on the four XOR points by plain full-batch gradient descent on the
mean squared error  L = mean_p (out_p - target_p)^2  (no 1/2 factor).

Weights are a dict of numpy arrays:
  ``hidden``: (..., 3, 2)  row 0 is the bias, rows 1-2 the inputs x1, x2;
  ``output``: (..., 3)     entry 0 is the bias, entries 1-2 the hidden units.
The leading ``...`` axes are optional: every function here broadcasts over
them, so many nets (seeds x learning rates) train at once as one array
computation; that is what makes ``solve_rate`` and ``sweep`` fast.

Initialisation, all nine weights drawn from ``numpy.random.default_rng(seed)``
(hidden first, then output, so a seed means the same net everywhere):
  * ``uniform``: U(-1, 1);
  * ``normal``: N(0, 0.5^2) clipped to [-1, 1] (std 0.5 puts about 95 % of
    draws inside [-1, 1] already; clipping keeps the range the course names).

A net has *solved* XOR when all four outputs are on the right side of 0.5.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Literal

import numpy as np

from engine import kit
from engine.errors import BenchError

INPUTS = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
TARGETS = np.array([0.0, 1.0, 1.0, 0.0])
INITS = ("uniform", "normal")
NORMAL_STD = 0.5


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def init_weights(init: str = "uniform", seed: int = 0) -> dict[str, np.ndarray]:
    """One net's weights (see the module docstring for the distributions)."""
    rng = np.random.default_rng(seed)
    if init == "uniform":
        flat = rng.uniform(-1.0, 1.0, 9)
    elif init == "normal":
        flat = np.clip(rng.normal(0.0, NORMAL_STD, 9), -1.0, 1.0)
    else:
        raise ValueError(f"unknown init {init!r} (choose from {', '.join(INITS)})")
    return {"hidden": flat[:6].reshape(3, 2), "output": flat[6:]}


def _with_bias(a: np.ndarray) -> np.ndarray:
    """(..., p, j) -> (..., p, j + 1) with a leading column of ones."""
    return np.concatenate([np.ones(a.shape[:-1] + (1,)), a], axis=-1)


def _forward_parts(weights: dict[str, np.ndarray], x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(inputs with bias (p, 3), hidden with bias (..., p, 3), outputs (..., p))."""
    xb = _with_bias(np.asarray(x, np.float64))
    hidden = sigmoid(np.einsum("pi,...ij->...pj", xb, weights["hidden"]))
    hb = _with_bias(hidden)
    out = sigmoid(np.einsum("...pj,...j->...p", hb, weights["output"]))
    return xb, hb, out


def forward(weights: dict[str, np.ndarray], x: np.ndarray = INPUTS) -> np.ndarray:
    """Outputs (..., p) for the points ``x`` (p, 2); by default the four XOR points."""
    return _forward_parts(weights, x)[2]


def loss(weights: dict[str, np.ndarray]) -> np.ndarray | float:
    """Mean squared error over the four XOR points (one value per net)."""
    return np.mean((forward(weights) - TARGETS) ** 2, axis=-1)


def gradients(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """dL/dW by hand-written backpropagation, same shapes as ``weights``."""
    xb, hb, out = _forward_parts(weights, INPUTS)
    n = len(TARGETS)
    # output unit: dL/dout = 2 (out - t) / n; sigmoid' = out (1 - out)
    delta_out = 2.0 * (out - TARGETS) / n * out * (1.0 - out)  # (..., p)
    grad_output = np.einsum("...pj,...p->...j", hb, delta_out)
    # hidden units: back through the output weights (not the bias), then sigmoid'
    hidden = hb[..., 1:]
    delta_hidden = delta_out[..., None] * weights["output"][..., None, 1:] * hidden * (1.0 - hidden)  # (..., p, 2)
    grad_hidden = np.einsum("pi,...pj->...ij", xb, delta_hidden)
    return {"hidden": grad_hidden, "output": grad_output}


def solved(outputs: np.ndarray) -> np.ndarray | bool:
    """True where all four outputs are on the right side of 0.5."""
    return np.all((outputs > 0.5) == (TARGETS > 0.5), axis=-1)


def descend(
    weights: dict[str, np.ndarray],
    lr: float | np.ndarray,
    epochs: int,
    record_loss: bool = True,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
    """Full-batch gradient descent for ``epochs`` steps on (a stack of) nets.
    ``lr`` is a number or one per net (shape ``...``). Returns the final
    weights and, if ``record_loss``, the loss before each step, shape
    (epochs, ...)."""
    w = {name: np.array(value, np.float64) for name, value in weights.items()}
    lr = np.asarray(lr, np.float64)
    losses = np.empty((epochs,) + np.shape(loss(w))) if record_loss or on_epoch else None
    for epoch in range(epochs):
        if losses is not None:
            losses[epoch] = loss(w)
        grads = gradients(w)
        w["hidden"] -= lr[..., None, None] * grads["hidden"]
        w["output"] -= lr[..., None] * grads["output"]
        if on_epoch is not None:
            on_epoch(epoch + 1, {"loss": float(np.mean(losses[epoch]))})
    return w, losses


def train(
    lr: float = 0.8,
    init: str = "uniform",
    epochs: int = 5000,
    seed: int = 0,
    on_epoch: Callable[[int, dict], None] | None = None,
) -> dict:
    """Train one net. ``on_epoch(epoch, {"loss": ...})`` after each step
    (epoch from 1; the loss is that of the weights before the step).
    Returns ``{"loss": (epochs,), "outputs": (4,), "solved": bool,
    "weights": dict, "final_loss": float}``."""
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    weights, losses = descend(init_weights(init, seed), lr, epochs, on_epoch=on_epoch)
    outputs = forward(weights)
    return {
        "loss": losses,
        "outputs": outputs,
        "solved": bool(solved(outputs)),
        "weights": weights,
        "final_loss": float(loss(weights)),
    }


def stacked_init(init: str, seeds: Iterable[int]) -> dict[str, np.ndarray]:
    """Weights of one net per seed, stacked along a leading axis."""
    nets = [init_weights(init, s) for s in seeds]
    return {name: np.stack([n[name] for n in nets]) for name in ("hidden", "output")}


def sweep(
    lrs: Iterable[float],
    inits: Iterable[str],
    seeds: Iterable[int],
    epochs: int,
    record_loss: bool = True,
) -> dict[tuple[float, str], dict]:
    """Every (lr, init) over every seed, trained together in one stack.
    Returns (lr, init) -> {"solve_rate", "solved" (per seed), "final_loss"
    (per seed), "mean_loss" (epochs,) averaged over seeds, or None}."""
    lrs, inits, seeds = list(lrs), list(inits), list(seeds)
    per_init = {init: stacked_init(init, seeds) for init in inits}
    # axes: (lr, init, seed)
    weights = {
        name: np.stack([np.stack([per_init[i][name] for i in inits]) for _ in lrs])
        for name in ("hidden", "output")
    }
    lr_grid = np.broadcast_to(np.array(lrs, np.float64)[:, None, None], (len(lrs), len(inits), len(seeds)))
    final, losses = descend(weights, lr_grid, epochs, record_loss=record_loss)
    ok = solved(forward(final))
    final_loss = loss(final)
    out = {}
    for a, lr in enumerate(lrs):
        for b, init in enumerate(inits):
            out[(lr, init)] = {
                "solve_rate": float(np.mean(ok[a, b])),
                "solved": ok[a, b],
                "final_loss": final_loss[a, b],
                "mean_loss": None if losses is None else losses[:, a, b].mean(axis=-1),
            }
    return out


def solve_rate(lr: float, init: str, seeds: Iterable[int], epochs: int) -> float:
    """Share of ``seeds`` whose net solves XOR after ``epochs`` steps."""
    return sweep([lr], [init], seeds, epochs, record_loss=False)[(lr, init)]["solve_rate"]


def surface(weights: dict[str, np.ndarray], n: int = 50) -> np.ndarray:
    """(n, n) outputs of one net over a grid of the unit square: row i is
    x2 = i / (n - 1), column j is x1 = j / (n - 1) (origin at row 0)."""
    axis = np.linspace(0.0, 1.0, n)
    x1, x2 = np.meshgrid(axis, axis)
    points = np.column_stack([x1.ravel(), x2.ravel()])
    return forward(weights, points).reshape(n, n)


# ------------------------------------------------------------ the bench's kind
@dataclass(frozen=True)
class XorData:
    dataset: str = field(default="xor", metadata={"help": "the four XOR points (nothing to load)"})


@dataclass(frozen=True)
class XorModel:
    init: Literal["uniform", "normal"] = field(default="uniform", metadata={
        "help": "uniform: U(-1, 1); normal: N(0, 0.5^2) clipped to [-1, 1]"})
    seeds: int = field(default=50, metadata={"help": "nets trained together, seeds seed .. seed + seeds - 1"})


@dataclass(frozen=True)
class XorOptim:
    lr: float = field(default=0.8, metadata={"help": "gradient descent step"})
    epochs: int = field(default=4000, metadata={"help": "full-batch gradient steps (each sees the 4 points)"})
    log_every: int = field(default=100, metadata={"help": "epochs between two recorded points (progress, history)"})


@dataclass(frozen=True)
class XorConfig:
    data: XorData = field(default_factory=XorData)
    model: XorModel = field(default_factory=XorModel)
    optim: XorOptim = field(default_factory=XorOptim)
    system: kit.SystemConfig = field(default_factory=kit.SystemConfig)


def check_config(cfg: XorConfig) -> None:
    kit.check_common(cfg)
    if cfg.model.seeds < 1:
        raise BenchError(f"model.seeds must be at least 1 (got {cfg.model.seeds})")
    if cfg.optim.log_every < 1:
        raise BenchError(f"optim.log_every must be at least 1 (got {cfg.optim.log_every})")


def fit(cfg: XorConfig, data, session: kit.RunSession) -> kit.Fitted:
    """One (lr, init) setting: ``model.seeds`` nets trained together as one
    array computation; every ``log_every`` epochs the mean loss over nets and
    the share of nets that solve XOR so far are recorded."""
    seeds = list(range(cfg.system.seed, cfg.system.seed + cfg.model.seeds))
    weights = stacked_init(cfg.model.init, seeds)
    epochs, every = cfg.optim.epochs, cfg.optim.log_every
    session.start(epochs, 1, "cpu", note=f"{len(seeds)} nets trained together, numpy")
    done = 0
    while done < epochs:
        # -- descend one block of epochs (the loss is each step's, before the step)
        started = time.perf_counter()
        block = min(every, epochs - done)
        weights, losses = descend(weights, cfg.optim.lr, block)
        done += block
        # -- evaluate and record
        outputs = forward(weights)
        metrics = {"loss": float(np.mean(loss(weights))), "solve_rate": float(np.mean(solved(outputs)))}
        if not session.epoch_end(done, metrics, losses.mean(axis=-1), time.perf_counter() - started):
            return kit.Fitted("diverged", f"loss became NaN by epoch {done}")
        if session.tick(done, 0, 1):
            return kit.Fitted("stopped", f"stopped by request at epoch {done}")
    # -- keep per net: solved, final loss, outputs; and the weights of every net
    ok, final = solved(forward(weights)), loss(weights)
    return kit.Fitted("ok", "", extra={"xor": {
        "seeds": seeds, "solved": [bool(v) for v in ok], "final_loss": [float(v) for v in final],
        "outputs": forward(weights).tolist(),
        "weights": {name: value.tolist() for name, value in weights.items()}}})
