"""Sampler workers as local processes ('spawn' context), one duplex pipe each.

A worker is ``ctx.Process(target=worker.serve_process, ...)``: the child imports
:mod:`mimic.sampling.worker` (numpy, gymnasium, the env; never torch) and runs with one
BLAS / OpenMP thread.  It is a daemon process, so it ends with the learner.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import threading
import time
from contextlib import contextmanager
from typing import Optional

from mimic.sampling import protocol as P
from mimic.sampling import worker
from mimic.sampling.transport import StreamBackend, StreamWorker, WorkerFailure


@contextmanager
def worker_environment():
    """Children inherit the environment at spawn: 1 BLAS/OMP thread each. They also start with
    SIGINT ignored: Python keeps an inherited SIG_IGN instead of installing its KeyboardInterrupt
    handler, so a Ctrl-C while a child still imports (its first ~0.5 s, before
    worker.serve_process ignores SIGINT itself) prints no traceback there; the learner handles
    the Ctrl-C and closes the workers. (A signal mask would not do: spawn clears it in the child.)
    The cost: a Ctrl-C in the few milliseconds of a ``Process.start`` is ignored by the learner
    too, and needs pressing again. signal.signal works in the main thread only; a worker
    restarted from another thread relies on serve_process alone."""
    saved = {k: os.environ.get(k) for k in worker.THREAD_ENV}
    os.environ.update(worker.THREAD_ENV)
    main = threading.current_thread() is threading.main_thread()
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
    try:
        yield
    finally:
        if main:
            signal.signal(signal.SIGINT, handler if handler is not None else signal.SIG_DFL)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class MPWorker(StreamWorker):
    ctx = mp.get_context("spawn")

    def __init__(self, index: int, args: tuple):
        super().__init__(index)
        self.args = args  # (env_id, env_kwargs, num_envs, worker_seed, groups)
        self.proc = None

    def start(self) -> None:
        parent, child = self.ctx.Pipe(duplex=True)
        self.proc = self.ctx.Process(
            target=worker.serve_process, args=(child, *self.args), name=f"mimic-sampler-{self.index}", daemon=True
        )
        with worker_environment():
            self.proc.start()
        child.close()  # only the child holds that end: its death reads as EOF here
        self.attach(parent)
        self.started_at = time.monotonic()

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    def exit_info(self) -> str:
        proc = self.proc  # (read once: a close() on another thread may clear it)
        if proc is None:
            return "no process"
        proc.join(0.5)
        return f"process exit code {proc.exitcode}"

    def poll_ready(self, timeout: float = 0.0) -> bool:
        """True once the handshake arrived; raises WorkerFailure on a start-up error / death."""
        if self.info is not None or self.handshake(timeout):
            return True
        if not self.proc.is_alive():
            raise WorkerFailure(f"exited with code {self.proc.exitcode} during start-up")
        return False

    def kill(self) -> None:
        if self.proc is not None and self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        if self.conn is not None:
            self.conn.close()
        self.proc = self.conn = None

    def close(self, timeout: float = 2.0) -> None:
        if self.proc is None:
            return
        try:
            self.conn.send_bytes(P.encode_quit())
        except Exception:
            pass
        self.proc.join(timeout)
        self.kill()


class MPBackend(StreamBackend):
    name = "mp"

    def __init__(self, spec, env_kwargs: dict, num_envs: Optional[int], groups: int, **_):
        super().__init__()
        self.spec, self.env_kwargs, self.num_envs, self.groups = spec, env_kwargs, num_envs, groups

    def make(self, index: int, worker_seed: int) -> MPWorker:
        return MPWorker(index, (self.spec, self.env_kwargs, self.num_envs, worker_seed, self.groups))
