"""A test-only kind for the executors: the line fit of ``tests/kind_line.py``
that can misbehave on request, through the environment (a worker process
inherits it): ``BENCHTUI_TEST_FAULT=die:RUN_ID`` kills the process training
that run after its first epoch (SIGKILL, as a crash or an OOM kill would);
``slow`` makes every epoch take 50 ms; ``load:PID`` makes loading the data
fail in every process but PID (a data folder missing on a worker's node)."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

from engine import kit
from engine.errors import BenchError
from engine.kinds import register
from tests import kind_line




def fit(cfg: kind_line.LineConfig, data: kind_line.Points, session: kit.RunSession) -> kit.Fitted:
    fault = os.environ.get("BENCHTUI_TEST_FAULT", "")
    if fault == f"die:{session.run_id}":
        session.callbacks.append(_Die())
    elif fault == "slow":
        session.callbacks.append(_Slow())
    return kind_line.fit(cfg, data, session)


class _Die(kit.History):
    def on_epoch_end(self, event) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class _Slow(kit.History):
    def on_epoch_end(self, event) -> None:
        time.sleep(0.05)


def load(cfg, data_root):
    fault = os.environ.get("BENCHTUI_TEST_FAULT", "")
    if fault.startswith("load:") and fault != f"load:{os.getpid()}":
        raise BenchError(f"--data points={data_root}: not a folder on this node")
    return kind_line.KIND.load_data(cfg, data_root)


KIND = register(dataclasses.replace(kind_line.KIND, name="faulty_line", title="line fit that can fail (test kind)",
                                    fit=fit, load_data=load))
