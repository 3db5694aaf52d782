"""How a training run stops early: the errors that end it, and SIGINT / SIGTERM.

Every reason a run stops before its budget is a :class:`StopRun` with a one-line message and the
exit code the command returns (``mimic-train`` prints ``mimic-train: <message>``):

* :class:`Interrupted` (SIGINT 130, SIGTERM 143): see :func:`signal_handlers`;
* ``mimic.learning.finite.NonFiniteError`` (1): a loss, weight or batch is not finite;
* ``mimic.learning.checkpoint.CheckpointWriteError`` (1): the disk is full or unwritable;

``mimic.sampling.SamplerError`` (1: a worker keeps failing) ends a run the same way, but is not a
StopRun (sampling sits below learning); the commands catch it beside these.

In every case ``model.pt`` still holds the last completed iteration: nothing non-finite is
saved, and a signal that arrives while a checkpoint is written is held until the write (file,
fsync, rename) is complete (:func:`checkpoint_write`, built on :func:`signals_held`).
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator, Optional


class StopRun(Exception):
    """A run that ends early; ``exit_code`` is what the command returns."""

    exit_code = 1


class Interrupted(StopRun):
    def __init__(self, signame: str):
        self.signame = signame
        self.exit_code = 128 + int(getattr(signal, signame))
        saved = _state["saved"]
        where = f"{saved[0]} holds iteration {saved[1]}" if saved is not None else "no checkpoint was written yet"
        super().__init__(f"interrupted by {signame}: {where}; continue with --resume")


_state: dict = {"held": 0, "pending": None, "saved": None, "armed": False}


def _handler(signum, frame) -> None:
    name = signal.Signals(signum).name
    if _state["held"]:
        _state["pending"] = name  # raised when the held block (a checkpoint write, say) ends
        return
    raise Interrupted(name)


@contextmanager
def signal_handlers() -> Iterator[None]:
    """SIGINT / SIGTERM raise :class:`Interrupted` (held during a checkpoint write); the
    previous handlers come back on exit.  Only in the main thread (elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _handler) for s in (signal.SIGINT, signal.SIGTERM)}
    _state.update(armed=True, pending=None, saved=None)
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        _state.update(armed=False, pending=None)


@contextmanager
def signals_held() -> Iterator[None]:
    """Hold SIGINT / SIGTERM while the block runs; raise :class:`Interrupted` once it is done.

    For steps that must not be cut in half: a checkpoint write, and handing a background collect
    to the learner (a collect started but not yet recorded would run on unjoined while the
    sampler closes under it).  A block that raises keeps the signal pending for the next one."""
    _state["held"] += 1
    try:
        yield
    finally:
        _state["held"] -= 1
    pending = _state["pending"]
    if pending is not None and not _state["held"]:
        _state["pending"] = None
        raise Interrupted(pending)


@contextmanager
def checkpoint_write(path: str, iteration: Optional[int]) -> Iterator[None]:
    """Hold SIGINT / SIGTERM while ``path`` is written; raise it once the write is complete."""
    with signals_held():
        yield
        if iteration is not None and path.endswith("model.pt"):
            _state["saved"] = (path, iteration)
