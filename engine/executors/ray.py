"""``ray``: each unit of work is a Ray Tune trial.

Without an address the bench starts a local Ray instance (``--workers``
CPUs, default every core; the GPUs torch sees); with ``--ray-address auto``
or ``HOST:PORT`` it joins a running cluster (``ray start --head`` on one
machine, ``ray start --address=HEAD:6379`` on the others). A trial asks for
the CPUs its config trains with (``system.threads``; 0 = this bench's share
of the cluster, ``CPUs // workers``) and one GPU when its device is
``cuda`` (or ``auto`` on a cluster with GPUs).

Streaming: a trial sends every event of its runs, then its pickled results,
through a Ray queue (``ray.util.queue.Queue``, an actor) that the driver
drains as they come: the driver's run writers, console progress and TUI see
the events as they happen, and only the driver writes the runs directory.
Tune's own files (trial folders, experiment state) go to a temporary folder
that is removed afterwards. Ray's console output is silenced
(``log_to_driver=False``, ``verbose=0``, Ray's loggers quieted), so it never
corrupts the TUI or the console progress.

Stop: the driver's stop (``x`` in the TUI, Ctrl-C) is set on a small
signals actor that every trial polls through its stop check; trials not yet
started end at once without training (as with ``local``, their runs are
simply not run). A trial whose process or node dies is trained again from
the start (Tune's ``max_failures``, ``RETRIES`` times; the driver opens its
run folders afresh); when its retries are spent Tune reports it as an error:
its runs end ``failed`` and the sweep goes on.

Early stopping (``early_stop = { kind = "asha", ... }``): each epoch the
trial reports ``{epoch, metric}`` to Tune, whose ``ASHAScheduler``
(``time_attr = "epoch"``, the metric's mode from the kind) decides; the
decision is handed to the trial through the signals actor, and a trial
ASHA stops ends itself cooperatively at that epoch (one step into the next
epoch at most), with status ``pruned``, its history and its model, so its
folder is written like any other run's.
"""

from __future__ import annotations

import logging
import math
import os
import queue as queue_module
import shutil
import sys
import tempfile
import threading
import time
from typing import Any, Callable

from engine.errors import BenchError
from engine.events import RunEnd
from engine.executors import cluster
from engine.executors import Executor, Finish, Lives, Sender, Task, Unit, cores, failure, gpus, pack, real_stdio, train_task

POLL = 0.3  # seconds between a trial's looks at the stop signal


def _quiet_environment() -> None:
    # before ray is imported: the old (silent at verbose=0) output engine, no usage stats prompt
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    os.environ.setdefault("TUNE_DISABLE_AUTO_CALLBACK_LOGGERS", "1")
    os.environ.setdefault("RAY_TRAIN_V2_ENABLED", "0")


def ray_modules():
    _quiet_environment()
    try:
        import ray
        from ray import tune
    except ImportError:
        raise BenchError("--executor ray needs Ray Tune: pip install -e \".[ray]\"") from None
    return ray, tune


# ------------------------------------------------------------ trial side
class _Stop:
    """The stop check a trial's runs see: the sweep's stop, or ASHA's prune."""

    def __init__(self, signals: Any, index: int):
        self.signals, self.index = signals, index
        self.stopped = False
        self.pruned_at: int | None = None
        self.last = 0.0

    def is_set(self) -> bool:
        if self.stopped or self.pruned_at is not None:
            return True
        now = time.monotonic()
        if now - self.last > POLL:
            import ray

            self.last = now
            self.stopped = bool(ray.get(self.signals.stopped.remote()))
        return self.stopped


class _TrialSender(Sender):
    """Sends a run's events; reports each epoch to Tune when ASHA watches the
    experiment and waits for ASHA's decision on it; a stop that ASHA asked
    for ends the run ``pruned``."""

    def __init__(self, send, member: int, stop: _Stop, early_stop: dict | None, signals: Any, index: int):
        super().__init__(send, member)
        self.stop, self.early_stop, self.signals, self.index = stop, early_stop, signals, index

    def on_epoch_end(self, event) -> None:
        super().on_epoch_end(event)
        if self.early_stop is None:
            return
        import ray
        from ray import tune

        metric = self.early_stop["metric"]
        value = dict(event.metrics).get(metric, math.nan)
        if not math.isfinite(value):  # a diverged run is the worst there is
            value = 1e30 if self.early_stop["mode"] == "min" else -1e30
        tune.report({"epoch": event.epoch, metric: value})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            decision = ray.get(self.signals.decision.remote(self.index, event.epoch))
            if decision is not None:
                if decision:
                    self.stop.pruned_at = event.epoch
                return
            time.sleep(0.01)

    def on_run_end(self, event: RunEnd) -> None:
        if self.stop.pruned_at is not None and event.status == "stopped":
            event = RunEnd(event.run_id, "pruned", self.pruned_message(), event.wall_time)
        super().on_run_end(event)

    def pruned_message(self) -> str:
        es = self.early_stop
        return (f"pruned by ASHA after epoch {self.stop.pruned_at} ({es['metric']}, grace {es['grace_epochs']} "
                f"epochs, reduction factor {es['reduction_factor']})")


def _trainable(config: dict, tasks: dict, threads: dict, channel: Any, signals: Any) -> None:
    import torch

    task: Task = tasks[config["unit"]]
    torch.set_num_threads(threads[config["unit"]])  # system.threads = 0: the CPUs the trial was given
    stop = _Stop(signals, task.index)
    if stop.is_set():  # stopped before this trial started: it trains nothing
        return
    channel.put(("begin", task.index))

    def send(message: tuple) -> None:
        channel.put(("event", task.index, *message))

    senders = [[_TrialSender(send, i, stop, task.early_stop, signals, task.index)] for i in range(len(task.configs))]
    try:
        results = train_task(task, senders, stop)
    except Exception as exc:  # noqa: BLE001 - e.g. its data folder is not on this node
        channel.put(("error", task.index, failure("its Ray trial could not train it", exc)))
        return
    for result, sender in zip(results, senders):
        if stop.pruned_at is not None and result.status == "stopped":
            result.status, result.message = "pruned", sender[0].pruned_message()
    try:
        payload = pack(results)
    except Exception as exc:  # noqa: BLE001 - e.g. results that cannot be pickled
        channel.put(("error", task.index, failure("its results could not be sent back", exc)))
        return
    channel.put(("done", task.index, payload))


def _signals_class(ray):
    @ray.remote(num_cpus=0)
    class Signals:
        """The driver's word to the trials: stop everything; ASHA's decisions."""

        def __init__(self):
            self.stop, self.decisions = False, {}

        def set_stop(self) -> None:
            self.stop = True

        def stopped(self) -> bool:
            return self.stop

        def decide(self, index: int, epoch: int, prune: bool) -> None:
            self.decisions[(index, epoch)] = prune

        def decision(self, index: int, epoch: int):
            return self.decisions.get((index, epoch))

    return Signals


def _asha_class(ray, tune):
    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    class CooperativeASHA(ASHAScheduler):
        """Tune's ASHA decides; the trial is told and ends itself (keeping
        its model and its last events) instead of being killed."""

        def __init__(self, signals, epochs: dict[int, int], **kwargs):
            super().__init__(**kwargs)
            self.signals, self.epochs = signals, epochs

        def on_trial_result(self, tune_controller, trial, result):
            decision = super().on_trial_result(tune_controller, trial, result)
            epoch = int(result.get("epoch", 0))
            prune = decision == TrialScheduler.STOP and epoch < self.epochs[trial.config["unit"]]
            ray.get(self.signals.decide.remote(trial.config["unit"], epoch, prune))
            return TrialScheduler.CONTINUE

    return CooperativeASHA


# ------------------------------------------------------------ driver side
class RayExecutor(Executor):
    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None):
        self.workers, self.address = workers, address
        self.started_ray = False

    def describe(self, units: int) -> str:
        where = f"the Ray cluster at {self.address}" if self.address else "a local Ray instance"
        return f"ray, {units} trial{'s' if units != 1 else ''} on {where}"

    def _init(self, ray) -> None:
        if ray.is_initialized():  # joined earlier (a test, a notebook): use it as it is
            return
        env = {k: v for k, v in os.environ.items() if k.startswith("BENCHTUI_")}
        kwargs: dict[str, Any] = dict(include_dashboard=False, log_to_driver=False, configure_logging=False,
                                      logging_level=logging.ERROR)
        if self.address is None:
            # a local instance: its workers import the code this driver imports (a source checkout too)
            paths = [p for p in sys.path if p and os.path.isdir(p)]
            env["PYTHONPATH"] = os.pathsep.join(paths + [os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)
            kwargs.update(num_cpus=self.workers or cores(), num_gpus=gpus())
        else:
            cluster.check(self.address)  # one line, in seconds, when it cannot be joined (and the token set)
            kwargs["address"] = self.address
        try:
            ray.init(runtime_env={"env_vars": env}, **kwargs)
        except Exception as exc:  # noqa: BLE001 - Ray's ConnectionError, RuntimeError, AuthenticationError ...
            if self.address is None:
                first = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
                raise BenchError(f"--executor ray: could not start a local Ray instance ({first})") from None
            raise cluster.join_error(self.address, exc) from None
        self.started_ray = True

    def run(self, units: list[Unit], stop: threading.Event, finish: Finish, log: Callable[[str], None]) -> None:
        with real_stdio():  # Ray reads sys.stdout's encoding and starts its daemons with our stdio
            self._run(units, stop, finish, log)

    def _run(self, units: list[Unit], stop: threading.Event, finish: Finish, log: Callable[[str], None]) -> None:
        ray, tune = ray_modules()
        loggers = {name: logging.getLogger(name) for name in ("ray", "ray.tune", "ray.train", "ray.air")}
        levels = {name: lg.level for name, lg in loggers.items()}
        for lg in loggers.values():
            lg.setLevel(logging.CRITICAL)
        # the driver's error listener prints "(raylet) A worker died ..." to stderr; the run's record
        # and the bench's own line say it already (Ray has no switch for it: its printer is replaced)
        import ray._private.worker as ray_worker

        printer = getattr(ray_worker, "print_to_stdstream", None)
        if printer is not None:
            ray_worker.print_to_stdstream = lambda *args, **kwargs: None
        try:
            self._init(ray)
            batches: list[list[Unit]] = []  # plain units together; each early-stopping experiment on its own
            plain = [u for u in units if u.early_stop is None]
            if plain:
                batches.append(plain)
            for exp in dict.fromkeys(u.runs[0].experiment.name for u in units if u.early_stop is not None):
                batches.append([u for u in units if u.early_stop is not None and u.runs[0].experiment.name == exp])
            for batch in batches:
                if stop.is_set():
                    break
                _Sweep(self, ray, tune, batch, stop, Lives(batch, finish, log), log).run()
        finally:
            if printer is not None:
                ray_worker.print_to_stdstream = printer
            for name, lg in loggers.items():
                lg.setLevel(levels[name])
            if self.started_ray and self.address is None:
                ray.shutdown()

    def resources(self, ray, unit: Unit) -> tuple[int, int]:
        cfg = unit.configs[0]
        system = getattr(cfg, "system", None)
        threads = getattr(system, "threads", 0)
        cluster = ray.cluster_resources()
        if threads <= 0:
            threads = max(1, int(cluster.get("CPU", 1)) // (self.workers or int(cluster.get("CPU", 1))))
        device = getattr(system, "device", "cpu")
        gpu = 1 if device == "cuda" or (device == "auto" and cluster.get("GPU", 0) >= 1) else 0
        return threads, gpu



RETRIES = 2  # a trial whose process or node dies is trained again from the start, at most this many times


class _Sweep:
    """One Tune run over a batch of units: the tuner in a thread of its own,
    the driver's loop draining the trials' queue into the units' lives."""

    def __init__(self, executor: "RayExecutor", ray, tune, units: list[Unit], stop: threading.Event, life: Lives,
                 log: Callable[[str], None]):
        from ray.util.queue import Queue

        self.ray, self.tune, self.units, self.stop, self.life, self.log = ray, tune, units, stop, life, log
        self.resources = {u.index: executor.resources(ray, u) for u in units}
        self.workers = executor.workers
        here = _this_node(ray)  # the helpers live with the driver: losing a worker node must not lose them
        self.channel = Queue(actor_options={"num_cpus": 0, "scheduling_strategy": here})  # events, results, failures
        self.signals = _signals_class(ray).options(scheduling_strategy=here).remote()
        self.storage = tempfile.mkdtemp(prefix="benchtui-tune-")
        self.outcome: dict[str, Any] = {}
        self.stop_sent = False

    def tuner(self):
        tune, units = self.tune, self.units
        resources = self.resources
        epochs = {u.index: max(getattr(getattr(c, "optim", None), "epochs", 1) for c in u.configs) for u in units}
        trainable = tune.with_resources(
            tune.with_parameters(_trainable, tasks={u.index: u.task() for u in units},
                                 threads={i: r[0] for i, r in resources.items()},
                                 channel=self.channel, signals=self.signals),
            lambda config: {"cpu": resources[config["unit"]][0], "gpu": resources[config["unit"]][1]})
        early = units[0].early_stop
        scheduler = None
        if early is not None:
            scheduler = _asha_class(self.ray, tune)(
                self.signals, epochs, time_attr="epoch", metric=early["metric"], mode=early["mode"],
                max_t=max(epochs.values()), grace_period=early["grace_epochs"],
                reduction_factor=early["reduction_factor"])
        return tune.Tuner(
            trainable,
            param_space={"unit": tune.grid_search([u.index for u in units])},
            tune_config=tune.TuneConfig(num_samples=1, scheduler=scheduler, reuse_actors=False,
                                        max_concurrent_trials=self.workers or None),
            run_config=tune.RunConfig(name="benchtui", storage_path=self.storage, verbose=0,
                                      callbacks=[_watch_class(tune)(self.channel)],
                                      failure_config=tune.FailureConfig(max_failures=RETRIES),
                                      checkpoint_config=tune.CheckpointConfig(num_to_keep=1)),
        )

    def fit(self, tuner) -> None:
        try:
            self.outcome["grid"] = tuner.fit()
        except BaseException as exc:  # noqa: BLE001 - reported by the driver's loop (run)
            self.outcome["error"] = exc

    def run(self) -> None:
        try:
            thread = threading.Thread(target=self.fit, args=(self.tuner(),), name="benchtui-tune", daemon=True)
            thread.start()
            alive = True
            while thread.is_alive() and alive:
                self.send_stop()
                alive = self.drain(block=True)
            thread.join()
            while alive and self.channel.qsize() > 0:
                alive = self.drain(block=False)
            self.fail_unreported()
            reason = self.outcome.get("error")
            if reason is not None and not isinstance(reason, Exception):  # KeyboardInterrupt, SystemExit
                raise reason
        finally:
            self.close()

    def send_stop(self) -> None:
        """The driver's stop, to every trial (once); a failure to say it is reported, not dropped."""
        if not self.stop.is_set() or self.stop_sent:
            return
        self.stop_sent = True
        try:
            self.ray.get(self.signals.set_stop.remote(), timeout=10)
        except Exception as exc:  # noqa: BLE001 - e.g. the signals actor's node is gone
            self.log(f"ray: could not tell the trials to stop ({type(exc).__name__}: {exc}); "
                     "they end when the sweep is torn down")

    def drain(self, block: bool) -> bool:
        """Handle what the trials sent; False when the queue is gone (the Ray instance died)."""
        try:
            if block:
                messages = [self.channel.get(timeout=0.2)]
            else:
                messages = self.channel.get_nowait_batch(self.channel.qsize())
        except queue_module.Empty:
            return True
        except Exception as exc:  # noqa: BLE001 - ray.util.queue.Empty, or the queue's actor is gone
            if type(exc).__name__ == "Empty":
                return True
            self.log(f"ray: lost the trials' queue ({type(exc).__name__}: {exc})")
            return False
        for message in messages:
            self.handle(message)
        return True

    def handle(self, message: tuple) -> None:
        if message[0] == "failed":  # Tune gave the trial up (its process or node died, retries spent)
            self.life.fail(self.life.units[message[1]], message[2])
        else:
            self.life.handle(message)

    def fail_unreported(self) -> None:
        """A trial that never reported back: its process or Ray died. One
        stopped before it began is simply not run (as with ``local``)."""
        reason = self.outcome.get("error")
        why = f"{type(reason).__name__}: {reason}" if reason else "no result came back"
        for unit in self.life.unfinished():
            never = unit.index not in self.life.begun
            if never and self.stop.is_set():
                continue
            self.life.fail(unit, f"its Ray trial {'never started' if never else 'ended without a result'} ({why})")

    def close(self) -> None:
        for actor in (self.channel.actor, self.signals):
            try:
                self.ray.kill(actor)
            except Exception as exc:  # noqa: BLE001 - reported unless Ray itself is gone
                if self.ray.is_initialized():
                    self.log(f"ray: could not end a helper actor ({type(exc).__name__}: {exc})")
        shutil.rmtree(self.storage, ignore_errors=True)


def _this_node(ray):
    """A scheduling strategy for the driver's node (hard: a soft one let the queue land on another node)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    return NodeAffinitySchedulingStrategy(node_id=ray.get_runtime_context().get_node_id(), soft=False)


def _watch_class(tune):
    from ray.tune.progress_reporter import TrialProgressCallback

    class Watch(TrialProgressCallback):
        """Tells the driver at once, through the trials' queue (after the
        events that trial sent), when Tune gives a trial up (its process or
        node died and its retries are spent); in Tune's place, prints nothing
        ("Trial ... completed" would corrupt the TUI and the console progress)."""

        def __init__(self, channel):
            super().__init__()
            self.channel = channel

        def _print(self, msg: str) -> None:
            pass

        def on_trial_error(self, iteration, trials, trial, **info):
            self.channel.put(("failed", trial.config["unit"], f"its Ray trial failed ({_error_text(trial)})"))

    return Watch


def _error_text(trial) -> str:
    error = getattr(trial, "error_file", None)
    try:
        if error and os.path.isfile(error):
            lines = [line for line in open(error, encoding="utf-8").read().splitlines() if line.strip()]
            return lines[-1].split(" Worker exit detail")[0][:200] if lines else "no message"
    except OSError:
        pass
    return "no message"
