"""The learner's end of its workers' byte streams (pipes or TCP sockets): framing, reading,
waiting on many workers at once, and the failures that end a worker.

* :class:`StreamWorker`: one worker over a ``multiprocessing.connection.Connection``; replies are
  read with poll + readv into a reused buffer (``Connection.send_bytes`` framing), usually one
  system call each, and decoded with :mod:`mimic.sampling.protocol`.  Backends subclass it to
  start and kill their kind of worker.
* :class:`StreamBackend`: a backend's two ways to wait: ``gather`` (one group's replies of every
  given worker: the deterministic schedule) and ``gather_any`` (whatever replies are here: asynchronous).
* :class:`WorkerFailure`: a worker died, hung, raised or failed to start; the sampler restarts it.
"""

from __future__ import annotations

import math
import os
import select
import socket
import sys
import time
from typing import Optional

from mimic.sampling import protocol as P


class WorkerFailure(Exception):
    """A worker cannot go on; the message says how it ended."""


def set_nodelay(conn) -> None:
    """TCP_NODELAY on a multiprocessing Connection over TCP (small request/reply messages)."""
    try:
        s = socket.socket(fileno=os.dup(conn.fileno()))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.close()
    except OSError:
        pass


class StreamWorker:
    """A worker reached over a byte stream speaking the protocol.  Subclasses start / kill the
    worker, wait for its handshake (``poll_ready``) and say how it ended (``exit_info``)."""

    def __init__(self, index: int):
        self.index = index
        self.conn = None
        self.info: Optional[P.WorkerInfo] = None  # its READY message, once it arrived
        self.layout: Optional[P.ActionLayout] = None
        self.fresh = True  # no reply yet since (re)start: the first one builds worlds
        self.started_at = self.sent_at = 0.0
        self.awaiting = 0  # requests out (replies come back in request order)
        self.buffered: dict = {}  # group -> reply read while waiting for another group's
        self._rbuf, self._rlen = bytearray(0), 0
        self.poller = None
        self.fd = -1

    @property
    def pid(self) -> Optional[int]:
        return self.info.pid if self.info is not None else None

    def exit_info(self) -> str:
        return ""

    def attach(self, conn) -> None:
        self.conn, self.info, self.fresh, self.awaiting, self.buffered = conn, None, True, 0, {}
        self._rbuf, self._rlen = bytearray(1 << 16), 0  # bytes read, not yet returned
        self.fd = conn.fileno()
        self.poller = None
        if hasattr(select, "poll") and sys.platform != "win32":
            self.poller = select.poll()
            self.poller.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def handshake(self, timeout: float) -> bool:
        """True once READY arrived (within ``timeout``); raises WorkerFailure for START_FAILED / EOF."""
        try:
            if not self.conn.poll(timeout):
                return False
            info = P.decode_ready(self.conn.recv_bytes())
        except (EOFError, OSError) as e:
            raise WorkerFailure(f"died during start-up ({self.exit_info()}): {e!r}") from None
        except P.WorkerError as e:
            raise WorkerFailure(f"failed to start:\n{e}") from None
        self.info, self.layout = info, P.ActionLayout.of(info.action_space)
        return True

    def send(self, msg: bytes) -> None:
        """A request (a protocol message); a broken pipe shows on the receive side."""
        if not self.awaiting:
            self.sent_at = time.monotonic()
        self.awaiting += 1
        try:
            self.conn.send_bytes(msg)
        except (OSError, ValueError):
            pass

    def drain(self, timeout: float) -> None:
        """Reads and drops the replies to requests still out (a collect that raised left them)."""
        while self.awaiting > 0:
            self.recv_reply(time.monotonic() + timeout)
        self.buffered = {}

    def decode(self, msg, obs_dim: int, names: list) -> P.Reply:
        try:
            reply = P.decode_reply(msg, obs_dim, self.layout, names)
        except P.WorkerError as e:
            raise WorkerFailure(f"raised:\n{e}") from None
        self.fresh = False
        self.sent_at = time.monotonic()  # the next reply's clock starts now
        return reply

    def reply_for(self, group: int, t_end: float, obs_dim: int, names: list) -> tuple[P.Reply, float]:
        """The next reply for ``group`` (replies for other groups read on the way are kept)."""
        blocked = 0.0
        while group not in self.buffered:
            msg, b = self.recv_reply(t_end)
            blocked += b
            r = self.decode(msg, obs_dim, names)
            self.buffered[r.group] = r
        return self.buffered.pop(group), blocked

    def next_reply(self, obs_dim: int, names: list, read: bool = True, readable: bool = False) -> Optional[P.Reply]:
        """The next reply of any group if one is already here (buffered, or with ``read`` readable
        from the connection without waiting), else None.  ``readable``: a poll just said so."""
        if self.buffered:
            return self.buffered.pop(next(iter(self.buffered)))
        msg = self._take_whole() if self.poller is not None else None
        if msg is None and read:
            msg, _ = self.recv_reply(time.monotonic(), block=False, readable=readable)
        return None if msg is None else self.decode(msg, obs_dim, names)

    def _take_whole(self) -> Optional[bytes]:
        """A whole message from the read buffer (no system call), or None."""
        buf, n = self._rbuf, self._rlen
        if n < 4:
            return None
        (size,) = P.FRAME_SIZE.unpack_from(buf)
        hdr = 4
        if size == -1:
            if n < 12:
                return None
            (size,), hdr = P.FRAME_SIZE_LONG.unpack_from(buf, 4), 12
        if n >= hdr + size:
            self.awaiting -= 1
            msg = bytes(memoryview(buf)[hdr : hdr + size])  # one copy (decoded arrays outlive the buffer)
            rest = n - hdr - size
            if rest:
                buf[:rest] = buf[hdr + size : n]
            self._rlen = rest
            return msg
        if hdr + size > len(buf):  # grow for a big message
            self._rbuf = buf + bytearray(hdr + size - len(buf))
        return None

    def recv_reply(self, t_end: float, block: bool = True, readable: bool = False) -> tuple[Optional[bytes], float]:
        """One reply, read with as few system calls as possible (usually one poll + one read;
        just the read when the caller's poll said ``readable``).  Returns (payload, seconds
        blocked); with ``block=False`` (None, 0) when no whole reply is here yet."""
        if self.poller is None:
            return self._recv_portable(t_end, block)
        blocked = 0.0
        while True:
            msg = self._take_whole()  # a whole message buffered? (replies can queue up)
            if msg is not None:
                return msg, blocked
            if readable:  # (the socket is blocking: read only when readable)
                ok, readable = True, False
            else:
                t0 = time.perf_counter()
                remaining = t_end - time.monotonic()
                ok = self.poller.poll(max(0, math.ceil(remaining * 1000))) if remaining > 0 else self.poller.poll(0)
                blocked += time.perf_counter() - t0
            if not ok:
                if not block:
                    return None, blocked
                if time.monotonic() >= t_end:
                    raise WorkerFailure(f"no reply within {t_end - self.sent_at:.3g} s (hung)")
                continue
            self._read_some()

    def _read_some(self) -> None:
        """Appends what the connection holds to the read buffer (into a reused buffer: no
        allocation per read); EOF is a WorkerFailure."""
        buf, n = self._rbuf, self._rlen
        if len(buf) - n < 4096:
            self._rbuf = buf = buf + bytearray(len(buf))
        try:
            got = os.readv(self.fd, [memoryview(buf)[n:]])
        except OSError:
            got = 0
        if not got:
            raise WorkerFailure(f"connection closed ({self.exit_info()})")
        self._rlen = n + got

    def _recv_portable(self, t_end: float, block: bool) -> tuple[Optional[bytes], float]:
        """recv_reply where select.poll is missing (Windows): Connection's own poll and read."""
        t0 = time.perf_counter()
        try:
            if not self.conn.poll(max(0.0, t_end - time.monotonic())):
                if not block:
                    return None, 0.0
                raise WorkerFailure(f"no reply within {t_end - self.sent_at:.3g} s (hung)")
            msg = self.conn.recv_bytes()
            self.awaiting -= 1
            return msg, time.perf_counter() - t0
        except (EOFError, OSError):
            raise WorkerFailure(f"connection closed ({self.exit_info()})") from None


class StreamBackend:
    """What the sampler asks of a backend: ``make`` a worker handle (subclasses), ``gather`` and
    ``gather_any`` replies, ``shutdown``.  Keeps one ``select.poll`` per set of busy workers."""

    name = "stream"

    def __init__(self):
        self._pollers: dict = {}  # ((w, fd), ...) -> (select.poll over them, {fd: w})

    def make(self, index: int, worker_seed: int) -> StreamWorker:
        raise NotImplementedError

    def shutdown(self) -> None:
        pass

    def gather(self, workers: dict, group: int, timeout: float, obs_dim: int, names: dict):
        """Replies for ``group`` of the workers {w: handle} -> ({w: Reply}, {w: reason}, seconds blocked).

        Reads in worker order: all replies are needed anyway, so the total wait is the slowest
        worker's (a dead worker's pipe reads EOF at once; a hung one costs ``timeout`` at most)."""
        replies, failures = {}, {}
        blocked = 0.0
        t_end = time.monotonic() + timeout
        for w in sorted(workers):
            try:
                replies[w], b = workers[w].reply_for(group, t_end, obs_dim, names[w])
                blocked += b
            except WorkerFailure as e:
                failures[w] = str(e)
        return replies, failures, blocked

    def _poller_for(self, workers: dict):
        key = tuple((w, h.fd) for w, h in sorted(workers.items()))
        hit = self._pollers.get(key)
        if hit is None:
            if len(self._pollers) > 256:  # fds of restarted workers: start over
                self._pollers.clear()
            poller, by_fd = select.poll(), {}
            for w, h in workers.items():
                poller.register(h.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
                by_fd[h.fd] = w
            hit = self._pollers[key] = (poller, by_fd)
        return hit

    def gather_any(self, workers: dict, timeout: float, obs_dim: int, names: dict, wait_limit=None):
        """The replies already here from the workers {w: handle} (at most one each), waiting for the
        first one if none is -> ([(w, Reply)], {w: reason}, seconds blocked).  A worker whose oldest
        request is older than ``timeout`` without a reply is reported hung.  One poll() over all the
        connections, then a read of the readable ones only.  ``wait_limit``: wait at most this many
        seconds for a first reply (then return none)."""
        replies, failures, blocked = [], {}, 0.0
        poller = by_fd = None
        if hasattr(select, "poll") and all(h.poller is not None for h in workers.values()):
            poller, by_fd = self._poller_for(workers)
        candidates = sorted(workers)
        read = poller is None  # with a poller: buffered replies first, no system call
        give_up = None if wait_limit is None else time.monotonic() + wait_limit
        while True:
            for w in candidates:
                if w in failures:
                    continue
                try:
                    r = workers[w].next_reply(obs_dim, names[w], read=read, readable=read and poller is not None)
                except WorkerFailure as e:
                    failures[w] = str(e)
                    continue
                if r is not None:
                    replies.append((w, r))
            if replies or failures:
                return replies, failures, blocked
            now = time.monotonic()
            oldest = min(h.sent_at for h in workers.values())
            if now - oldest >= timeout:
                for w, h in workers.items():
                    if now - h.sent_at >= timeout:
                        failures[w] = f"no reply within {now - h.sent_at:.3g} s (hung)"
                return replies, failures, blocked
            if give_up is not None and now >= give_up and read:
                return replies, failures, blocked
            t0 = time.perf_counter()
            wait_s = oldest + timeout - now
            if give_up is not None:
                wait_s = min(wait_s, give_up - now)
            if poller is not None:
                events = poller.poll(max(0 if give_up is not None else 1, math.ceil(wait_s * 1000)))
                candidates, read = sorted(by_fd[fd] for fd, _ in events), True
            else:
                from multiprocessing.connection import wait

                wait([h.conn for h in workers.values()], timeout=wait_s)
            blocked += time.perf_counter() - t0
