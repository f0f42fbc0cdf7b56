"""``local``: one unit after another in the bench's own process (the
original behaviour; the data is the driver's already loaded copy)."""

from __future__ import annotations

import threading
from typing import Callable

from engine.executors import Executor, Finish, Lives, Unit
from engine.kinds import get_kind


class LocalExecutor(Executor):
    name = "local"

    def run(self, units: list[Unit], stop: threading.Event, finish: Finish, log: Callable[[str], None]) -> None:
        life = Lives(units, finish, log)
        for unit in units:
            if stop.is_set():
                break
            if not life.start(unit):  # another writer trains its runs
                continue
            kind = get_kind(unit.kind)
            listeners = unit.listeners()
            resume = unit.resume or [None] * len(unit.runs)
            if len(unit.runs) == 1:
                results = [kind.train(unit.configs[0], unit.data, listeners[0], stop, unit.run_ids[0], resume[0])]
            else:
                results = kind.train_stack(unit.configs, unit.data, listeners, stop, unit.run_ids, resume)
            life.done(unit, results)
