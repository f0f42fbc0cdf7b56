"""Lab 3 as the course ran it (STUDY Part C.3): every XOR net trained until
it solves XOR or reaches a stated cap, and the iterations it took counted.

The net, the loss and the initialisations are the ``xor`` kind's
(``engine.trainers.xor``: 2 inputs + bias -> 2 sigmoid hidden units + bias
-> 1 sigmoid output, mean squared error over the four points without a 1/2
factor, full-batch gradient descent; ``uniform`` U(-1, 1) or ``normal``
N(0, 0.5^2) clipped to [-1, 1]). What differs is the protocol:

* one *iteration* is one full-batch gradient step; a net's *iterations to
  solve* is the number of steps after which all four outputs are first on
  the right side of 0.5 (0 when its initial weights already solve XOR);
* a net stops training the moment it solves (its weights are frozen there);
  a net that has not solved after ``optim.max_iterations`` steps is
  *unsolved* and counted at the cap;
* net ``i`` of a run with ``system.seed`` s draws its nine weights from
  ``numpy.random.default_rng([s, i])``, so the nets of two replay seeds are
  different nets (seed 42's nets are not seed 43's shifted by one).

Many nets (all the runs of a stack: every (init, lr) setting and seed) train
as one array computation with a learning rate per net. The forward and
backward passes below are written per point with elementwise operations
and sums over the four points in a fixed order, so each net's numbers are
bit-for-bit those it gets when trained alone (the tests check it); the
gradient is the same as ``xor.gradients`` (also checked).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Hashable, Literal

import numpy as np

from engine import kit
from engine.errors import BenchError
from engine.trainers import xor

X1, X2 = xor.INPUTS[:, 0], xor.INPUTS[:, 1]  # (4,) each
TARGETS = xor.TARGETS
RIGHT = TARGETS > 0.5


# ------------------------------------------------------------------ config
@dataclass(frozen=True)
class XorCourseData:
    dataset: str = field(default="xor", metadata={"help": "the four XOR points (nothing to load)"})


@dataclass(frozen=True)
class XorCourseModel:
    init: Literal["uniform", "normal"] = field(default="uniform", metadata={
        "help": "uniform: U(-1, 1); normal: N(0, 0.5^2) clipped to [-1, 1]"})
    nets: int = field(default=100, metadata={
        "help": "nets trained, net i drawn from numpy's default_rng([system.seed, i])"})


@dataclass(frozen=True)
class XorCourseOptim:
    lr: float = field(default=0.8, metadata={"help": "gradient descent step"})
    max_iterations: int = field(default=10000, metadata={
        "help": "the cap: a net not solved after this many full-batch steps is unsolved, counted at the cap"})
    log_every: int = field(default=1000, metadata={
        "help": "iterations between two recorded points (progress, history; each rewrites run.json)"})


@dataclass(frozen=True)
class XorCourseConfig:
    data: XorCourseData = field(default_factory=XorCourseData)
    model: XorCourseModel = field(default_factory=XorCourseModel)
    optim: XorCourseOptim = field(default_factory=XorCourseOptim)
    system: kit.SystemConfig = field(default_factory=kit.SystemConfig)


def check_config(cfg: XorCourseConfig) -> None:
    kit.check_common(cfg)
    if cfg.model.nets < 1:
        raise BenchError(f"model.nets must be at least 1 (got {cfg.model.nets})")
    if cfg.optim.max_iterations < 1:
        raise BenchError(f"optim.max_iterations must be at least 1 (got {cfg.optim.max_iterations})")
    if cfg.optim.log_every < 1:
        raise BenchError(f"optim.log_every must be at least 1 (got {cfg.optim.log_every})")


# ------------------------------------------------------------------ the nets
def initial_weights(init: str, seed: int, nets: int) -> dict[str, np.ndarray]:
    """``nets`` nets of one run: net i from ``default_rng([seed, i])`` (``xor.init_weights``'s draws)."""
    drawn = [xor.init_weights(init, [seed, i]) for i in range(nets)]
    return {name: np.stack([w[name] for w in drawn]) for name in ("hidden", "output")}


def to_columns(weights: dict[str, np.ndarray]) -> np.ndarray:
    """Stacked weights (``hidden`` (N, 3, 2), ``output`` (N, 3)) as one (9, N)
    array: row 2 i + j is ``hidden[:, i, j]``, row 6 + k is ``output[:, k]``."""
    n = len(weights["output"])
    flat = np.concatenate([np.reshape(weights["hidden"], (n, 6)), np.reshape(weights["output"], (n, 3))], axis=1)
    return flat.T.copy()


def from_columns(p: np.ndarray) -> dict[str, np.ndarray]:
    return {"hidden": p[:6].T.reshape(-1, 3, 2), "output": p[6:].T.copy()}


def over_points(a: np.ndarray) -> np.ndarray:
    """Sum over the four points (axis 0), always in the order 0, 1, 2, 3."""
    return a[0] + a[1] + a[2] + a[3]


def forward_backward(p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the nets in the columns of ``p`` (9, N): the outputs on the four
    points (4, N), each net's loss (N,) and its gradient (9, N). Every
    operation is elementwise along a net's column, so a net's numbers do not
    depend on which other nets share the array."""
    x1, x2, t = X1[:, None], X2[:, None], TARGETS[:, None]
    # exp(-z) overflows to inf for a saturated unit: sigmoid is then 0, exactly; a diverged net's NaN is reported
    # by its run (the loss), not by a warning every step
    with np.errstate(over="ignore", invalid="ignore"):
        # forward: hidden units 1 and 2, then the output, each (4, N)
        h1 = xor.sigmoid(p[0] + x1 * p[2] + x2 * p[4])
        h2 = xor.sigmoid(p[1] + x1 * p[3] + x2 * p[5])
        out = xor.sigmoid(p[6] + h1 * p[7] + h2 * p[8])
        err = out - t
        loss = over_points(err ** 2) / 4
        # backward: dL/dout = 2 (out - t) / 4, times sigmoid' = out (1 - out); then through the output weights
        d_out = 2.0 * err / 4 * out * (1.0 - out)
        d1, d2 = d_out * p[7] * h1 * (1.0 - h1), d_out * p[8] * h2 * (1.0 - h2)
        grad = np.stack([over_points(d1), over_points(d2), over_points(x1 * d1), over_points(x1 * d2),
                         over_points(x2 * d1), over_points(x2 * d2),
                         over_points(d_out), over_points(d_out * h1), over_points(d_out * h2)])
    return out, loss, grad


def is_solved(out: np.ndarray) -> np.ndarray:
    """(N,) True where all four outputs (4, N) are on the right side of 0.5."""
    return np.all((out > 0.5) == RIGHT[:, None], axis=0)


class NetsState:
    """Nets trained until each solves XOR: per net its weights, learning rate,
    loss and the iteration it solved at (-1: not yet). Only the unsolved nets
    are computed (a solved net is frozen: its weights and loss stay as they
    were when it solved)."""

    def __init__(self, weights: dict[str, np.ndarray], lr) -> None:
        self.params = to_columns({k: np.asarray(v, np.float64) for k, v in weights.items()})  # (9, N)
        n = self.params.shape[1]
        self.lr = np.broadcast_to(np.asarray(lr, np.float64), (n,)).copy()
        self.iterations = np.full(n, -1, np.int64)
        self.loss = np.empty(n)
        self.done = 0  # steps taken so far
        self.active = np.arange(n)  # the unsolved nets, whose columns are in self.work
        self.work = self.params.copy()
        self.evaluate()

    def evaluate(self) -> None:
        """Outputs, losses and gradients of the unsolved nets; freeze those that now solve."""
        out, loss, self.grad = forward_backward(self.work)
        self.loss[self.active] = loss
        now = is_solved(out)
        if now.any():
            self.iterations[self.active[now]] = self.done
            self.params[:, self.active[now]] = self.work[:, now]
            keep = ~now
            self.active, self.work, self.grad = self.active[keep], self.work[:, keep], self.grad[:, keep]

    @property
    def solved(self) -> np.ndarray:
        return self.iterations >= 0

    @property
    def finished(self) -> bool:
        return self.active.size == 0

    def step(self) -> None:
        """One full-batch gradient step of every unsolved net."""
        self.work = self.work - self.lr[self.active] * self.grad
        self.done += 1
        self.evaluate()

    def weights(self) -> dict[str, np.ndarray]:
        """Every net's current weights (a solved net's: those it solved with)."""
        p = self.params.copy()
        p[:, self.active] = self.work
        return from_columns(p)

    def counted(self, cap: int) -> np.ndarray:
        """Iterations to solve, the nets not (yet) solved counted at the cap."""
        return np.where(self.solved, self.iterations, cap)


def until_solved(weights: dict[str, np.ndarray], lr, cap: int) -> NetsState:
    """Train a stack of nets until each solves or ``cap`` steps (no events; the tests' path)."""
    state = NetsState(weights, lr)
    while state.done < cap and not state.finished:
        state.step()
    return state


# ------------------------------------------------------------------ the bench's kind
def stack_key(cfg: XorCourseConfig) -> Hashable:
    """Runs that train together: every setting and seed of an experiment
    whose cap and logging agree (init, lr, nets and seed may differ)."""
    return (cfg.data, cfg.optim.max_iterations, cfg.optim.log_every)


def fit(cfg: XorCourseConfig, data, session: kit.RunSession) -> kit.Fitted:
    """A run alone is a stack of one: one training path for the kind."""
    return fit_stack([cfg], data, [session])[0]


def fit_stack(cfgs: list[XorCourseConfig], data, sessions: list[kit.RunSession]) -> list[kit.Fitted]:
    """Every run's nets in one array, each with its run's learning rate; every
    ``log_every`` iterations each run records its nets' mean loss, the share
    solved so far and the median iterations to solve (the nets not solved so
    far counted at the cap, so it only falls, to the final median). Ends when
    every net has solved or at the cap."""
    first = cfgs[0]
    cap, every = first.optim.max_iterations, first.optim.log_every
    # -- the nets: each run's block of rows, in order
    blocks = [initial_weights(c.model.init, c.system.seed, c.model.nets) for c in cfgs]
    weights = {name: np.concatenate([b[name] for b in blocks]) for name in ("hidden", "output")}
    lrs = np.concatenate([np.full(c.model.nets, c.optim.lr) for c in cfgs])
    bounds = np.cumsum([0] + [c.model.nets for c in cfgs])
    rows = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
    names = ", ".join(s.run_id.rsplit("/", 1)[-1] for s in sessions)
    note = f"{len(lrs)} nets of {len(cfgs)} runs trained together, numpy ({names})" if len(cfgs) > 1 else \
        f"{len(lrs)} nets trained together, numpy"
    for session in sessions:
        session.start(cap, 1, "cpu", note=note)
    state = NetsState(weights, lrs)

    statuses = [["ok", ""] for _ in cfgs]

    def log(block_losses: list[np.ndarray], seconds: float) -> None:
        losses = np.array(block_losses).reshape(len(block_losses), len(lrs))
        counted = state.counted(cap)
        for status, session, r in zip(statuses, sessions, rows):
            finite = session.epoch_end(state.done, {"loss": float(np.mean(state.loss[r])),
                                                    "solve_rate": float(np.mean(state.solved[r])),
                                                    "median_iterations": float(np.median(counted[r]))},
                                       losses[:, r].mean(axis=1), seconds)
            if not finite and status[0] == "ok":  # its nets go on (NaN never solves); the run says so
                status[:] = ["diverged", f"loss became NaN or infinite by iteration {state.done}"]

    if state.finished:  # every initial net already solves XOR: one point, at iteration 0
        log([], 0.0)
    while state.done < cap and not state.finished:
        # -- one block of iterations (the loss recorded is each net's after the step; a solved net keeps its last)
        started, block_losses = time.perf_counter(), []
        while state.done < cap and not state.finished:
            state.step()
            block_losses.append(state.loss.copy())
            if state.done % every == 0:
                break
        # -- record every run's point
        log(block_losses, time.perf_counter() - started)
        if any(session.tick(state.done, 0, 1) for session in sessions) and state.done < cap and not state.finished:
            for status in statuses:
                status[:] = ["stopped", f"stopped by request at iteration {state.done}"]
            break
    # -- keep per net: its init, lr, seed, whether it solved and in how many iterations
    counted, final = state.counted(cap), state.weights()
    together = {"stack": {"size": len(cfgs), "runs": names}} if len(cfgs) > 1 else {}
    out = []
    for cfg, r, (status, message) in zip(cfgs, rows, statuses):
        solved, iterations, loss = state.solved[r], counted[r], state.loss[r]
        nets = [{"net": i, "seed": [cfg.system.seed, i], "init": cfg.model.init, "lr": cfg.optim.lr,
                 "solved": bool(solved[i]), "iterations": int(iterations[i]), "final_loss": float(loss[i])}
                for i in range(cfg.model.nets)]
        out.append(kit.Fitted(status, message, extra={**together, "xor_course": {
            "cap": cap, "iterations_reached": state.done, "nets": nets,
            "weights": {name: value[r].tolist() for name, value in final.items()}}}))
    return out
