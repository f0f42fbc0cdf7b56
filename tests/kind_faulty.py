"""A test-only kind for the executors: the line fit of ``tests/kind_line.py``
that can misbehave on request, through the environment (a worker process
inherits it): ``BENCHTUI_TEST_FAULT=die:RUN_ID`` kills the process training
that run after its first epoch (SIGKILL, as a crash or an OOM kill would);
``slow`` makes every epoch take 50 ms (``slow:DIR``: and a run training in a
Ray worker writes the file DIR/<its node's id>, naming the run, after its
first epoch: a test sees which node trains now); ``load:PID`` makes loading
the data fail in every process but PID (a data folder missing on a worker's
node)."""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from pathlib import Path

from engine import kit
from engine.errors import BenchError
from engine.kinds import register
from tests import kind_line




def fit(cfg: kind_line.LineConfig, data: kind_line.Points, session: kit.RunSession) -> kit.Fitted:
    fault = os.environ.get("BENCHTUI_TEST_FAULT", "")
    if fault == f"die:{session.run_id}":
        session.callbacks.append(_Die())
    elif fault == "slow" or fault.startswith("slow:"):
        session.callbacks.append(_Slow(fault.partition(":")[2], session.run_id))
    return kind_line.fit(cfg, data, session)


class _Die(kit.History):
    def on_epoch_end(self, event) -> None:
        os.kill(os.getpid(), signal.SIGKILL)


class _Slow(kit.History):
    def __init__(self, marks: str = "", run_id: str = ""):
        super().__init__()
        self.marks, self.run_id = marks, run_id

    def on_epoch_end(self, event) -> None:
        time.sleep(0.05)
        if self.marks and "ray" in sys.modules:
            import ray

            if ray.is_initialized():
                node = ray.get_runtime_context().get_node_id()
                Path(self.marks, node).write_text(self.run_id)
                self.marks = ""  # once


def load(cfg, data_root):
    fault = os.environ.get("BENCHTUI_TEST_FAULT", "")
    if fault.startswith("load:") and fault != f"load:{os.getpid()}":
        raise BenchError(f"--data points={data_root}: not a folder on this node")
    return kind_line.KIND.load_data(cfg, data_root)


KIND = register(dataclasses.replace(kind_line.KIND, name="faulty_line", title="line fit that can fail (test kind)",
                                    fit=fit, load_data=load))
