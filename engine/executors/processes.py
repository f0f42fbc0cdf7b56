"""``processes``: units of work in parallel worker processes on this machine.

Workers are started with the ``spawn`` context (torch and ``fork`` do not
mix), each with its own duplex pipe to the driver: the driver sends a
``Task``, the worker sends back every event of its runs as it happens and
then the pickled results. A pipe per worker means a worker killed in the
middle of a message can only break its own pipe: the driver sees it closed
(or the process gone), ends that unit's runs ``failed``, starts a fresh
worker and goes on. Workers ignore SIGINT: Ctrl-C reaches the driver, which
sets the shared stop event, and the runs end ``stopped`` through their own
stop checks.

Threads: each worker's torch uses ``cores // workers`` threads; a run whose
config sets ``system.threads`` uses that number, as it would locally (so
its numbers are the same as with ``local``). On CUDA, one worker per GPU,
each pinned to its GPU (``CUDA_VISIBLE_DEVICES``), unless ``--workers`` says
otherwise.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import pickle
import signal
import threading
import time
import traceback
from collections import deque
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.connection import Connection, wait
from typing import Callable

from engine.executors import Executor, Finish, Lives, Sender, Task, Unit, cores, failure, gpus, pack, real_stdio, train_task


class _Stop:
    """A worker's stop check: the driver's stop, or the driver gone (killed):
    then the run ends at its next step instead of training for no one."""

    def __init__(self, shared):
        self.shared, self.parent = shared, os.getppid()

    def is_set(self) -> bool:
        return self.shared.is_set() or os.getppid() != self.parent


def _silence_stdio() -> None:
    """A worker writes nothing to the terminal it inherited (the lab bench's
    screen or the console's progress bars): its events, errors and
    tracebacks travel through its pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)
    os.close(devnull)


def _worker(conn: Connection, stop, threads: int, gpu: int | None) -> None:
    """A worker's life: train the tasks it is sent until it gets None."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    _silence_stdio()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = str(gpu)
    import torch

    torch.set_num_threads(threads)  # system.threads = 0 (every core) means this worker's share
    stop = _Stop(stop)
    send_lock = threading.Lock()

    def send(message: tuple) -> None:
        with send_lock:
            conn.send(message)

    while True:
        try:
            task: Task | None = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        senders = [[Sender(lambda m, i=task.index: send(("event", i, *m)), i)] for i in range(len(task.configs))]
        try:
            results = train_task(task, senders, stop)
        except Exception as exc:  # noqa: BLE001 - e.g. its data cannot be loaded here
            send(("error", task.index, failure("its worker could not train it", exc), traceback.format_exc(limit=4)))
            continue
        try:
            payload = pack(results)
        except Exception as exc:  # noqa: BLE001 - e.g. a result that cannot be pickled
            send(("error", task.index, failure("its results could not be sent back", exc),
                  traceback.format_exc(limit=4)))
            continue
        send(("done", task.index, payload))


@dataclass
class _Worker:
    process: mp.process.BaseProcess
    conn: Connection
    unit: Unit | None = None


def _next_begun(queue: deque, life: Lives, busy: list[Unit]) -> Unit | None:
    """The next unit of the queue that begins (whose runs no other writer trains), or None. A unit whose
    shared preparation another worker is making now waits in the queue, in its place, until that is made."""
    preparing = {unit.prep for unit in busy if unit.preparing}
    for unit in list(queue):
        if unit.prep is not None and unit.prep in preparing:
            continue
        queue.remove(unit)
        if life.start(unit):
            return unit
    return None


class ProcessExecutor(Executor):
    name = "processes"

    def __init__(self, workers: int | None = None):
        self.gpus = gpus()
        self.workers = workers or (self.gpus or cores())

    def describe(self, units: int) -> str:
        n = min(self.workers, units)
        return (f"processes, {n} worker{'s' if n != 1 else ''} for {units} unit{'s' if units != 1 else ''} "
                f"of work, {self.threads()} torch thread{'s' if self.threads() != 1 else ''} each"
                + (", one GPU each" if self.gpus else ""))

    def threads(self) -> int:
        return max(1, cores() // self.workers)

    def run(self, units: list[Unit], stop: threading.Event, finish: Finish, log: Callable[[str], None]) -> None:
        ctx = mp.get_context("spawn")
        with real_stdio():
            resource_tracker.ensure_running()  # the semaphores and workers below need it
        shared_stop = ctx.Event()
        life = Lives(units, finish, log)
        queue = deque(units)
        count = min(self.workers, len(units))
        started = [0]

        def spawn() -> _Worker:
            parent, child = ctx.Pipe(duplex=True)
            gpu = started[0] % self.gpus if self.gpus else None
            started[0] += 1
            process = ctx.Process(target=_worker, args=(child, shared_stop, self.threads(), gpu), daemon=True,
                                  name=f"benchtui-worker-{started[0]}")
            with real_stdio():
                process.start()
            child.close()  # the worker holds the other end: its death closes the pipe here
            return _Worker(process, parent)

        pool = [spawn() for _ in range(count)]
        try:
            while True:
                if stop.is_set():
                    shared_stop.set()
                for worker in pool:
                    unit = (_next_begun(queue, life, [w.unit for w in pool if w.unit is not None])
                            if worker.unit is None and not stop.is_set() else None)
                    if unit is not None:
                        if not worker.process.is_alive():  # died while idle: a fresh one takes its place
                            worker.conn.close()
                            pool[pool.index(worker)] = worker = spawn()
                        worker.unit = unit
                        try:
                            worker.conn.send(worker.unit.task())
                        except OSError:  # it died just now: the read below reports the unit failed
                            pass
                busy = [w for w in pool if w.unit is not None]
                if not busy:
                    break
                ready = wait([w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=0.2)
                for worker in busy:
                    if worker.conn not in ready and worker.process.sentinel not in ready:
                        continue
                    if not self._read(worker, life):
                        code = worker.process.exitcode
                        worker.process.join(timeout=5)
                        unit, worker.unit = worker.unit, None
                        message = f"its worker process died (exit code {worker.process.exitcode if code is None else code})"
                        log(f"{', '.join(unit.run_ids)}: {message}; the sweep goes on")
                        life.fail(unit, message)
                        pool[pool.index(worker)] = spawn() if queue and not stop.is_set() else worker
        finally:
            for worker in pool:
                try:
                    worker.conn.send(None)
                except (OSError, ValueError):
                    pass
            deadline = time.monotonic() + 10
            for worker in pool:
                worker.process.join(timeout=max(0.1, deadline - time.monotonic()))
                if worker.process.is_alive():
                    worker.process.terminate()
                    worker.process.join(timeout=5)
                worker.conn.close()

    @staticmethod
    def _read(worker: _Worker, life: Lives) -> bool:
        """Handle every message waiting from one worker; False when it is gone."""
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                life.handle(message)
                if message[0] in ("done", "error"):
                    worker.unit = None
                    return True
        except (EOFError, OSError, pickle.UnpicklingError):
            return False
        return worker.process.is_alive()
