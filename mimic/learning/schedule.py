"""When sampling and the update run, and on how many cores.

* ``sync`` (the paper's Algorithm 1): collect with the current policy, then update; while the
  update runs the samplers idle, so the update takes every core (``idle_threads``).
* ``overlap`` (default): the collect for iteration k+1 runs on a background thread while
  iteration k's update runs on the caller's.  It acts with a CPU snapshot of the policy taken
  before that update, so the acting policy is one update old (AWR is off-policy; its buffer
  already mixes the last ~12 policies).  While the collect runs the update uses
  ``num_threads`` torch threads (default: the cores the sampler workers leave, at least 1);
  once the collect has finished, every core.  Torch releases the GIL in its kernels and the
  collect mostly waits in ``poll``, so the two threads hardly contend for it.

The policy's forward passes while collecting (batches of a few states) run on one thread, in
whichever thread collects: torch's thread count is per thread, and idle OpenMP threads spin
between such small calls, taking a core from the sampler workers.

Thread counts do not change the update's numbers (MKL's GEMMs split rows and columns, not the
reduction; tests/test_schedule.py checks 1 vs 2 threads bit for bit), so switching them in the
middle of an update keeps deterministic runs reproducible.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable, Optional

import torch


def available_cores() -> int:
    """Cores this process may run on (the affinity mask, where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS / Windows
        return os.cpu_count() or 1


class ThreadBudget:
    """Torch intra-op threads for the update: ``busy`` while a collect runs beside it, ``idle``
    when none does.  ``sampler_procs`` is how many sampler processes share this machine."""

    def __init__(
        self, num_threads: int = 0, idle_threads: int = 0, sampler_procs: int = 0, cores: Optional[int] = None
    ):
        cores = cores or available_cores()
        self.idle = idle_threads or cores
        self.busy = num_threads or max(1, cores - sampler_procs)
        self._current = None

    def use(self, n: int) -> None:
        if n != self._current:
            torch.set_num_threads(n)
            self._current = n

    def __repr__(self) -> str:
        return f"ThreadBudget(busy={self.busy}, idle={self.idle})"


class BackgroundCollect:
    """One ``collect`` call running on a daemon thread; ``result()`` joins it and returns the
    episodes, or re-raises what the collect raised (a SamplerError, say) in the caller."""

    def __init__(self, collect: Callable[[], Any], name: str = "mimic-collect"):
        self._result: Any = None
        self._error: Optional[BaseException] = None
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(collect,), name=name, daemon=True)
        self._thread.start()

    def _run(self, collect: Callable[[], Any]) -> None:
        try:
            self._result = collect()
        except BaseException as e:  # handed to the caller by result()
            self._error = e
        finally:
            self._done.set()

    def done(self) -> bool:
        return self._done.is_set()

    def join(self) -> None:
        # the event, not Thread.join: a join interrupted by a signal (Ctrl-C) leaves the thread
        # marked as stopped on CPython < 3.13, so a later join returns while it still runs
        self._done.wait()

    def result(self) -> Any:
        self.join()
        if self._error is not None:
            raise self._error
        return self._result
