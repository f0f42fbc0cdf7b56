"""A test-only kind for the executors: the line fit of ``tests/kind_line.py``
that can misbehave on request, through the environment (a worker process
inherits it): ``BENCHTUI_TEST_FAULT=die:RUN_ID`` kills the process training
that run after its first epoch (SIGKILL, as a crash or an OOM kill would);
``slow`` makes every epoch take 50 ms."""

from __future__ import annotations

import dataclasses
import os
import signal
import time

from engine import kit
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


KIND = register(dataclasses.replace(kind_line.KIND, name="faulty_line", title="line fit that can fail (test kind)",
                                    fit=fit))
