"""Parallel experience collection: N worker processes (or Ray actors), K envs each.

    sampler = ParallelSampler("mimic/Humanoid-v0", {"motion": "humanoid3d_spinkick"},
                              num_workers=os.cpu_count(), seed=0)        # K: 16 (2 groups of 8)
    episodes = sampler.collect(agent.act, min_samples=4096, total_samples=agent.total_samples)
    AWR(env, config, sampler=sampler)          # drop-in for SerialSampler

Design
* A worker owns K envs (K = ``envs_per_worker``; default 16 when the id has a vectorised env
  that supports caller-driven resets -- one pybullet world per character -- else 1), built
  from (env_id, kwargs) with Gymnasium calls only.  The learner owns the policy.
* Rounds: for a set of env slots, (1) ONE batched ``act_fn`` call on their observations,
  (2) each worker steps its envs of the set and records the transitions, (3) the learner takes
  the new observations.  Episodes are assembled in the workers (``_worker.EpisodeRecorder``) and
  cross the pipe whole when they end: the learner's per-sample work -- which on a machine whose
  cores all simulate is taken from a worker -- is one batched policy call and a few array copies
  (measured on 2 cores, getrusage: learner CPU 31 -> 22 us/sample with this, 16 with the
  request building and polling trimmed too).
* Asynchronous (default): the learner takes whatever step replies have arrived (waiting only
  when none has), takes their observations and ended episodes, and answers them all with one
  batched ``act_fn`` call -- no
  worker ever waits for another.  With many workers, many replies are there at once, so
  inference stays batched; on 2 cores the learner shares a core with a worker, and lockstep
  rounds would make the other worker wait for the one it slows (measured: the unshared worker
  idled ~6% of the time; asynchronous it runs 98%, bench/sampler_scaling.py).
* ``deterministic=True``: lockstep rounds over the groups in turn, each waiting for that group's
  replies from ALL workers, so act_fn sees the same batches whatever the timing (reproducible).
* Batching across workers (asynchronous mode, ``batch_hold=True``): a lone reply whose worker is
  still stepping its other group is held for at most half a group step, so that another
  worker's reply can share its policy call -- the held worker does not idle.  Measured (2
  workers, [1024, 512] AWR policy): ~15 instead of 8 samples per policy call, inference CPU
  67 -> 53 us/sample; ``last_stats["held"]`` counts the holds.
* Pipelining (default; ``pipeline=False`` for one group): a worker's envs form two groups
  (two vector envs of K/2) that alternate, so while a worker steps group A the learner handles
  group B's replies, runs act_fn for B and queues B's next request; workers hardly ever wait for
  the learner (measured: workers busy 98% vs 92% lockstep with one worker).
* Episode semantics are SerialSampler's: whole episodes; new episodes start while fewer than
  ``min_samples`` steps were taken (a batch is >= min_samples steps, and with S = N * K slots it
  can exceed it by up to S episodes); ``options={"total_samples": <samples so far>}`` and a
  per-episode seed on every reset; episodes returned in start order; unclipped actions stored,
  Box actions clipped in the worker; terminated / truncated / final obs as the env reports
  them; the env's NaN guard (``terminated`` + ``info["sim_unstable"]``) passes through, counted.
* Resets ride on the step: when an episode ends and more are wanted, the worker resets that
  env within the same request (seed of an episode index the learner reserved), so resets cost
  no round trip and run in parallel.  Explicit resets only start a collect / refill slots.
* Transport (multiprocessing): one duplex pipe per worker, raw bytes in a fixed layout (see
  ``_worker.py``), no pickling on the hot path; the learner reads replies with poll + readv into
  a reused buffer.  Workers are started with the 'spawn' context and execute ``_worker.py`` by
  path: they never import torch, and run with OMP/MKL/OpenBLAS threads = 1.  Ray
  (``ray_backend.py``): Ray places and supervises the workers, the same loop runs over TCP.
* Fault tolerance: a worker that dies (EOF / process exit), raises, or does not answer within
  ``step_timeout`` seconds is killed and restarted in the background; the episodes running on
  it are dropped (their steps no longer count toward ``min_samples``, so the batch is still
  >= min_samples of whole episodes) and collection goes on with the other workers.  The learner
  never blocks on one worker longer than ``step_timeout`` (``startup_timeout`` for a worker's
  first reply, which builds its worlds).  ``last_stats`` says what happened in the last collect
  (``worker_restarts``, ``dropped_episodes``, ``sim_unstable_episodes``, ``events``, timings);
  ``log_stats()`` is what AWR merges into its iteration row.

Reproducibility
* ``deterministic=True``: same (seed, episode_count), same envs per round (N * K / G) and a
  deterministic act_fn call sequence (AWR's seeded generator) -> identical episodes, run after
  run, and for any layout with the same envs per round (e.g. 2 workers x 2 envs = 1 worker x 4
  envs; tested): every decision depends on slot order and step counts, never on which worker
  answers first.  Episode indices: explicit resets take the next ones in slot order; a reset
  riding on a step takes one reserved when the step was sent (``episode_count`` advances by the
  round's active slots) -- so indices are unique but sparse: ``episode_count`` counts indices used.
* Asynchronous (default): not bit-reproducible.  Each episode still starts from the seed of its
  index, and a collect's first episodes (explicit resets, slot order) are the same as above, but
  which index a later episode gets, and act_fn's batches (hence its random draws), depend on
  timing.
* Not identical to SerialSampler over S envs (it numbers episodes densely and never
  pipelines), but the same distribution of data; another S or G gives different, equally
  valid data.
* NOT reproducible in either mode: a collect in which a worker was restarted (where the crash
  fell is timing).  ``state_dict()`` is (seed, episode_count) as SerialSampler's, so checkpoints
  move between serial and parallel runs (a resumed run continues with fresh, unused seeds).
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
import runpy
import select
import struct
import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Optional

import gymnasium as gym
import numpy as np

from mimic.learning import _worker as W
from mimic.learning.buffer import Episode
from mimic.learning.sampler import episode_seed
from mimic.learning.stopping import StopRun

ActFn = Callable[[np.ndarray], np.ndarray]
WORKER_FILE = os.path.abspath(W.__file__)
WORKER_SEED_STREAM = 0x5EED_0F_5A


@contextmanager
def _worker_environment():
    """Children inherit the environment at spawn: 1 BLAS/OMP thread each."""
    saved = {k: os.environ.get(k) for k in W.THREAD_ENV}
    os.environ.update(W.THREAD_ENV)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


class WorkerFailure(Exception):
    pass


class _Reply:
    """A worker's answer to a step / reset request of one group (arrays are views of the message)."""
    __slots__ = ("env_time", "env_cpu", "group", "obs", "flags", "names", "episodes")

    def __init__(self, env_time, env_cpu, group, obs, flags, names, episodes):
        self.env_time, self.env_cpu, self.group, self.obs, self.flags = env_time, env_cpu, group, obs, flags
        self.names, self.episodes = names, episodes        # episodes: [(k, obs, actions, rewards, term sums)]


# =========================================================================================
# backends: a worker handle = start / poll_ready / send_reset / send_step / (gather) / kill
# =========================================================================================
class _StreamWorker:
    """A worker reached over a byte stream (pipe or TCP socket) speaking ``_worker.serve``'s
    protocol.  Subclasses start / kill the worker and say how it ended (``_exit_info``)."""
    conn = None
    meta: Optional[dict] = None

    def __init__(self, index: int, K: int):
        self.index, self.K = index, K
        self.meta = None
        self.fresh = True             # no reply yet since (re)start: the first one builds worlds
        self.started_at = self.sent_at = 0.0
        self.awaiting = 0             # requests out (replies come back in request order)
        self.buffered: dict = {}      # group -> reply read while waiting for another group's
        self._rbuf, self._rlen = bytearray(0), 0
        self.poller = None

    def _attach(self, conn) -> None:
        self.conn, self.meta, self.fresh, self.awaiting, self.buffered = conn, None, True, 0, {}
        self._rbuf, self._rlen = bytearray(1 << 16), 0      # bytes read, not yet returned
        self.fd = conn.fileno()
        self.poller = None
        if hasattr(select, "poll") and sys.platform != "win32":
            self.poller = select.poll()
            self.poller.register(self.fd, select.POLLIN | select.POLLHUP | select.POLLERR)

    def _exit_info(self) -> str:
        return ""

    def _handshake(self, timeout: float) -> bool:
        try:
            if not self.conn.poll(timeout):
                return False
            kind, payload = self.conn.recv()
        except (EOFError, OSError) as e:
            raise WorkerFailure(f"died during start-up ({self._exit_info()}): {e!r}") from None
        if kind != "ready":
            raise WorkerFailure(f"failed to start:\n{payload}")
        self.meta = payload
        space = payload["action_space"]                # the layout of the actions in its episodes
        if isinstance(space, gym.spaces.Discrete):
            self.act_shape, self.act_dtype = (), np.dtype(np.int64)
        else:
            self.act_shape, self.act_dtype = tuple(space.shape), np.dtype(space.dtype)
        self.act_size = int(np.prod(self.act_shape, dtype=np.int64))
        self.episode_act_dtype = np.dtype(np.int64 if isinstance(space, gym.spaces.Discrete) else np.float32)
        return True

    def send_reset(self, group, total, seed, indices, mask) -> None:
        self._send(b"R" + struct.pack("<BqQ", group, int(total), int(seed) & 0xFFFFFFFFFFFFFFFF)
                   + indices.astype(np.uint64).tobytes() + mask.astype(np.uint8).tobytes())

    def send_step(self, group, actions, active, restart, total, seed, indices) -> None:
        self._send(b"S" + struct.pack("<BqQ", group, int(total), int(seed) & 0xFFFFFFFFFFFFFFFF)
                   + indices.astype(np.uint64).tobytes() + active.astype(np.uint8).tobytes()
                   + restart.astype(np.uint8).tobytes() + np.ascontiguousarray(actions).tobytes())

    def send_raw(self, msg: bytes) -> None:
        """A request already in the wire format (the sampler's hot path builds it in place)."""
        self._send(msg)

    def _send(self, msg: bytes) -> None:
        if not self.awaiting:
            self.sent_at = time.monotonic()
        self.awaiting += 1
        try:
            self.conn.send_bytes(msg)
        except (OSError, ValueError):        # broken pipe: the receive side reports the failure
            pass

    def decode(self, msg, obs_dim: int, names_cache: list) -> _Reply:
        kind = bytes(msg[:1])
        if kind == b"E":
            raise WorkerFailure("raised:\n" + bytes(msg[2:]).decode(errors="replace"))
        env_time, env_cpu, group, K, T, nlen, E = struct.unpack_from(W.HEADER, msg, 1)
        off = 1 + W.HEADER_SIZE
        if kind == b"N":
            names_cache[:] = bytes(msg[off:off + nlen]).decode().split("\0")
            off += nlen
        obs = np.frombuffer(msg, np.float32, K * obs_dim, off).reshape(K, obs_dim)
        off += 4 * K * obs_dim
        flags = np.frombuffer(msg, np.uint8, K, off)
        off += K
        episodes = []
        if E:
            act_shape, act_dtype, act_size = self.act_shape, self.act_dtype, self.act_size
            ep_dtype = self.episode_act_dtype          # (SerialSampler's: float32, int64 if discrete)
            for _ in range(E):               # whole episodes: copied out of the message (writable arrays)
                k, L = struct.unpack_from("<ii", msg, off)
                off += 8
                o = np.frombuffer(msg, np.float32, (L + 1) * obs_dim, off).reshape(L + 1, obs_dim).copy()
                off += 4 * (L + 1) * obs_dim
                a = np.frombuffer(msg, act_dtype, L * act_size, off).reshape((L,) + act_shape).astype(ep_dtype)
                off += act_dtype.itemsize * L * act_size
                r = np.frombuffer(msg, np.float32, L, off).copy()
                off += 4 * L
                sums = np.frombuffer(msg, np.float64, T, off)
                off += 8 * T
                episodes.append((k, o, a, r, sums))
        return _Reply(env_time, env_cpu, group, obs, flags, names_cache, episodes)

    def reply_for(self, group: int, t_end: float, obs_dim: int, names_cache: list) -> tuple[_Reply, float]:
        """The next reply for ``group`` (replies for other groups read on the way are kept)."""
        blocked = 0.0
        while group not in self.buffered:
            msg, b = self.recv_reply(t_end)
            blocked += b
            r = self.decode(msg, obs_dim, names_cache)
            self.fresh = False
            self.sent_at = time.monotonic()       # the next reply's clock starts now
            self.buffered[r.group] = r
        return self.buffered.pop(group), blocked

    def next_reply(self, obs_dim: int, names_cache: list, read: bool = True, readable: bool = False
                   ) -> Optional[_Reply]:
        """The next reply of any group if one is already here (buffered, or with ``read`` readable
        from the connection without waiting), else None.  ``readable``: a poll just said so."""
        if self.buffered:
            return self.buffered.pop(next(iter(self.buffered)))
        msg = self._take_whole() if self.poller is not None else None
        if msg is None and read:
            msg, _ = self.recv_reply(time.monotonic(), block=False, readable=readable)
        if msg is None:
            return None
        r = self.decode(msg, obs_dim, names_cache)
        self.fresh = False
        self.sent_at = time.monotonic()
        return r

    def _take_whole(self) -> Optional[bytes]:
        """A whole message from the read buffer (no system call), or None."""
        buf, n = self._rbuf, self._rlen
        if n < 4:
            return None
        (size,) = struct.unpack_from("!i", buf)
        hdr = 4
        if size == -1:
            if n < 12:
                return None
            (size,), hdr = struct.unpack_from("!Q", buf, 4), 12
        if n >= hdr + size:
            self.awaiting -= 1
            msg = bytes(memoryview(buf)[hdr:hdr + size])    # one copy (decoded arrays outlive the buffer)
            rest = n - hdr - size
            if rest:
                buf[:rest] = buf[hdr + size:n]
            self._rlen = rest
            return msg
        if hdr + size > len(buf):                     # grow for a big message
            self._rbuf = buf + bytearray(hdr + size - len(buf))
        return None

    def recv_reply(self, t_end: float, block: bool = True, readable: bool = False
                   ) -> tuple[Optional[memoryview], float]:
        """One reply (Connection.send_bytes framing, read with as few syscalls as possible:
        usually one poll + one read; just the read when the caller's poll said ``readable``).
        Returns (payload, seconds blocked); with ``block=False`` (None, 0) when no whole reply
        is here yet."""
        if self.poller is None:                       # portable path (Windows)
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
                raise WorkerFailure(f"connection closed ({self._exit_info()})") from None
        fd, blocked = self.fd, 0.0
        while True:
            msg = self._take_whole()               # a whole message buffered? (replies can queue up)
            if msg is not None:
                return msg, blocked
            buf, n = self._rbuf, self._rlen
            if readable:                           # (the socket is blocking: read only when readable)
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
            if len(buf) - n < 4096:
                self._rbuf = buf = buf + bytearray(len(buf))
            try:                                   # into a reused buffer: no allocation per read
                got = os.readv(fd, [memoryview(buf)[n:]])
            except OSError:
                got = 0
            if not got:
                raise WorkerFailure(f"connection closed ({self._exit_info()})")
            self._rlen = n + got


class _MPWorker(_StreamWorker):
    ctx = mp.get_context("spawn")

    def __init__(self, index, spec, env_kwargs, K, worker_seed, groups):
        super().__init__(index, K)
        self.args = dict(env_id=spec, env_kwargs=env_kwargs, num_envs=K, worker_seed=worker_seed, groups=groups)
        self.proc = None

    def start(self) -> None:
        parent, child = self.ctx.Pipe(duplex=True)
        args = dict(self.args, conn=child)
        self.proc = self.ctx.Process(target=runpy.run_path, args=(WORKER_FILE,),
                                     kwargs={"init_globals": {"_SERVE_ARGS": args},
                                             "run_name": "__mimic_sampler_worker__"},
                                     name=f"mimic-sampler-{self.index}", daemon=True)
        with _worker_environment():
            self.proc.start()
        child.close()                 # only the child holds that end: its death reads as EOF here
        self._attach(parent)
        self.started_at = time.monotonic()

    @property
    def pid(self) -> Optional[int]:
        return self.proc.pid if self.proc is not None else None

    def _exit_info(self) -> str:
        if self.proc is None:
            return "no process"
        self.proc.join(0.5)
        return f"process exit code {self.proc.exitcode}"

    def poll_ready(self, timeout: float = 0.0) -> bool:
        """True once the handshake arrived; raises WorkerFailure on a start-up error / death."""
        if self.meta is not None:
            return True
        if self._handshake(timeout):
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
            self.conn.send_bytes(b"Q")
        except Exception:
            pass
        self.proc.join(timeout)
        self.kill()


def _stream_gather(workers: dict, group: int, timeout: float, obs_dim: int, names: dict):
    """Replies for ``group`` of the workers {w: handle} -> ({w: _Reply}, {w: reason}, seconds blocked).

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


_POLLERS: dict = {}          # fds -> (select.poll over them, {fd: worker}): one per set of busy workers


def _poller_for(workers: dict):
    key = tuple((w, h.fd) for w, h in sorted(workers.items()))
    hit = _POLLERS.get(key)
    if hit is None:
        if len(_POLLERS) > 256:               # fds of restarted workers / other samplers: start over
            _POLLERS.clear()
        poller, by_fd = select.poll(), {}
        for w, h in workers.items():
            poller.register(h.fd, select.POLLIN | select.POLLHUP | select.POLLERR)
            by_fd[h.fd] = w
        hit = _POLLERS[key] = (poller, by_fd)
    return hit


def _stream_gather_any(workers: dict, timeout: float, obs_dim: int, names: dict, wait_limit=None):
    """The replies already here from the workers {w: handle} (at most one each), waiting for the
    first one if none is -> ([(w, _Reply)], {w: reason}, seconds blocked).  A worker whose oldest
    request is older than ``timeout`` without a reply is reported hung.  One poll() over all the
    connections, then a read of the readable ones only.  ``wait_limit``: wait at most this many
    seconds for a first reply (then return none)."""
    replies, failures, blocked = [], {}, 0.0
    poller, by_fd = None, None
    if hasattr(select, "poll") and all(h.poller is not None for h in workers.values()):
        poller, by_fd = _poller_for(workers)
    candidates = sorted(workers)
    read = poller is None                  # with a poller: buffered replies first, no system call
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


class _MPBackend:
    name = "mp"

    def __init__(self, spec, env_kwargs, K, groups, **_):
        self.spec, self.env_kwargs, self.K, self.groups = spec, env_kwargs, K, groups

    def make(self, index, worker_seed):
        return _MPWorker(index, self.spec, self.env_kwargs, self.K, worker_seed, self.groups)

    def gather(self, workers, group, timeout, obs_dim, names):
        return _stream_gather(workers, group, timeout, obs_dim, names)

    def gather_any(self, workers, timeout, obs_dim, names, wait_limit=None):
        return _stream_gather_any(workers, timeout, obs_dim, names, wait_limit)

    def shutdown(self):
        pass


def _make_backend(backend: str, spec, env_kwargs, K, groups, ray_address):
    if backend == "mp":
        return _MPBackend(spec, env_kwargs, K, groups)
    if backend == "ray":
        from mimic.learning.ray_backend import RayBackend
        return RayBackend(spec, env_kwargs, K, groups, ray_address=ray_address)
    raise ValueError(f"backend must be 'mp' or 'ray', got {backend!r}")


def _resolve_spec(env_id):
    """An EnvSpec the workers can build from (entry points are imported there), or the id."""
    if isinstance(env_id, gym.envs.registration.EnvSpec):
        return env_id
    if ":" in env_id:                                  # "module:Id": gym.make's own syntax
        import importlib
        module, env_id = env_id.split(":", 1)
        importlib.import_module(module)
    return gym.spec(env_id)


# =========================================================================================
# the sampler
# =========================================================================================
class SamplerError(StopRun, RuntimeError):
    """The workers cannot go on (failed start, too many failures in one collect); one line."""


def _first_line(reason) -> str:
    """The gist of a worker failure: its first line and, for a traceback, the exception line."""
    lines = [ln.strip() for ln in str(reason).strip().splitlines() if ln.strip()]
    if not lines:
        return "failed"
    return lines[0] if len(lines) == 1 else f"{lines[0]} {lines[-1]}"


class ParallelSampler:
    """SerialSampler's interface over ``num_workers`` processes x ``envs_per_worker`` envs."""

    def __init__(self, env_id, env_kwargs: Optional[dict] = None, num_workers: Optional[int] = None,
                 envs_per_worker: Optional[int] = None, seed: int = 0, backend: str = "mp",
                 ray_address: Optional[str] = None, step_timeout: float = 60.0,
                 startup_timeout: float = 180.0, episode_count: int = 0, pipeline: bool = True,
                 max_restarts_per_collect: Optional[int] = None, verbose: bool = True,
                 deterministic: bool = False, batch_hold: bool = True):
        self.num_workers = int(num_workers or os.cpu_count() or 1)
        # envs_per_worker None: the workers choose (16 for a vectorised env, 1 for plain envs)
        self.K = None if envs_per_worker is None else int(envs_per_worker)
        if self.num_workers < 1 or (self.K is not None and self.K < 1):
            raise ValueError("num_workers and envs_per_worker must be >= 1")
        # pipelining: a worker's envs form 2 groups stepped alternately (needs >= 2 envs)
        self.pipeline_groups = 2 if pipeline else 1
        # deterministic: lockstep rounds (act_fn batches independent of timing, reproducible);
        # else asynchronous, replies handled as they come (faster: no worker waits for another)
        self.lockstep = bool(deterministic)
        self.batch_hold = bool(batch_hold)
        self._group_time = 0.0
        self.seed, self.episode_count = int(seed), int(episode_count)
        self.step_timeout, self.startup_timeout = float(step_timeout), float(startup_timeout)
        self.max_restarts = (max_restarts_per_collect if max_restarts_per_collect is not None
                             else 2 * self.num_workers + 2)
        self.verbose = verbose
        self.env_kwargs = dict(env_kwargs or {})
        self.spec = _resolve_spec(env_id)
        self.backend = _make_backend(backend, self.spec, self.env_kwargs, self.K, self.pipeline_groups,
                                     ray_address)
        self.total_restarts = self.total_dropped = 0
        self.last_stats: dict[str, Any] = {}
        self._closed = False
        self.workers = [self.backend.make(w, self._worker_seed(w, 0)) for w in range(self.num_workers)]
        self._generation = [0] * self.num_workers
        self._names = [[] for _ in range(self.num_workers)]
        w = 0
        try:
            for h in self.workers:
                h.start()
            deadline = time.monotonic() + self.startup_timeout
            for w, h in enumerate(self.workers):
                while not h.poll_ready(min(1.0, max(0.0, deadline - time.monotonic()))):
                    if time.monotonic() > deadline:
                        raise WorkerFailure(f"not ready within {self.startup_timeout:g} s")
        except WorkerFailure as e:
            self.close()
            raise SamplerError(f"sampler: worker {w} for {self.spec.id!r}: {_first_line(e)}") from None
        except BaseException:
            self.close()
            raise
        m = self.workers[0].meta
        self.observation_space, self.action_space = m["observation_space"], m["action_space"]
        self.obs_dim = int(m["obs_dim"])
        self.discrete = isinstance(self.action_space, gym.spaces.Discrete)
        self.act_shape = () if self.discrete else tuple(self.action_space.shape)
        self.act_dtype = np.dtype(np.int64) if self.discrete else np.dtype(self.action_space.dtype)
        self.vectorized = bool(m["vectorized"])
        self.group_sizes = list(m["group_sizes"])
        self.K = sum(self.group_sizes)
        for h in self.workers:
            h.K = self.K
            if h.meta["group_sizes"] != self.group_sizes:
                self.close()
                raise RuntimeError(f"ParallelSampler: workers disagree on their envs: {h.meta['group_sizes']} "
                                   f"vs {self.group_sizes}")
        self.backend.K = self.K        # restarted workers build exactly this layout

    # ------------------------------------------------------------------ helpers
    def _worker_seed(self, w: int, generation: int) -> int:
        return episode_seed(self.seed ^ WORKER_SEED_STREAM, w * 1_000_003 + generation)

    @property
    def num_envs(self) -> int:
        return self.num_workers * self.K

    def worker_pids(self) -> list[Optional[int]]:
        return [getattr(h, "pid", None) for h in self.workers]

    def _log(self, msg: str) -> None:
        if self.verbose:
            print(f"[mimic] sampler: {msg}", file=sys.stderr, flush=True)

    def _restart(self, w: int) -> None:
        h = self.workers[w]
        h.kill()
        self._generation[w] += 1
        self.workers[w] = h = self.backend.make(w, self._worker_seed(w, self._generation[w]))
        self._names[w] = []
        h.start()

    # ------------------------------------------------------------------ collection
    def collect(self, act_fn: ActFn, min_samples: int = 0, total_samples: int = 0,
                num_episodes: Optional[int] = None) -> list[Episode]:
        """Whole episodes until >= ``min_samples`` steps (or exactly ``num_episodes`` episodes)."""
        if self._closed:
            raise RuntimeError("ParallelSampler is closed")
        N, K, sizes = self.num_workers, self.K, self.group_sizes
        G, S = len(sizes), self.num_workers * self.K
        offs = [sum(sizes[:g]) for g in range(G)]
        # slot = w * K + offs[g] + k: worker-major, a worker's groups contiguous
        group_slots = [[range(w * K + offs[g], w * K + offs[g] + sizes[g]) for w in range(N)] for g in range(G)]
        st = dict(worker_restarts=0, dropped_episodes=0, dropped_samples=0, sim_unstable_episodes=0,
                  rounds=0, held=0, act_time=0.0, wait_time=0.0, env_time=0.0, env_cpu=0.0, samples=0,
                  events=[])
        t_start, cpu_start = time.perf_counter(), time.process_time()
        # the episode running in each slot: its start rank (None: idle) and its steps so far; the
        # transitions themselves are recorded by the worker and arrive whole when it ends
        running: list[Optional[int]] = [None] * S
        length = np.zeros(S, np.int64)
        obs_now = np.zeros((S, self.obs_dim), np.float32)
        done_eps: list[tuple[int, Episode]] = []
        ready = [False] * N
        inflight: list[dict] = [{} for _ in range(G)]      # group -> {w: slots} stepping
        resets: list[dict] = [{} for _ in range(G)]        # group -> {w: slots} being reset
        steps = live = rank = 0      # steps of kept episodes, kept + running episodes, start order
        stepping = 0                 # steps in flight (requests sent, replies not processed)

        def want_more() -> bool:
            return live < num_episodes if num_episodes is not None else steps + stepping < min_samples

        def fail(w: int, reason: str) -> None:
            nonlocal steps, live, stepping
            dropped = [s for s in range(w * K, (w + 1) * K) if running[s] is not None]
            n_steps = int(length[dropped].sum())
            for s in dropped:
                running[s] = None
            for g in range(G):
                if w in inflight[g]:
                    stepping -= len(inflight[g].pop(w))
                resets[g].pop(w, None)
            steps -= n_steps
            live -= len(dropped)
            st["worker_restarts"] += 1
            st["dropped_episodes"] += len(dropped)
            st["dropped_samples"] += n_steps
            first = reason.strip().splitlines()[0] if reason.strip() else "failed"
            ev = (f"worker {w} (pid {self.workers[w].pid}) {first} -> restarted, "
                  f"dropped {len(dropped)} partial episodes ({n_steps} steps)")
            st["events"].append(ev)
            self._log(ev)
            if "\n" in reason.strip():
                self._log(reason)
            ready[w] = False
            if st["worker_restarts"] > self.max_restarts:
                raise SamplerError(f"sampler: {st['worker_restarts']} worker failures in one collect "
                                   f"(more than {self.max_restarts}); last: worker {w}: {_first_line(reason)}")
            self._restart(w)

        def poll(block: bool) -> None:
            """Mark workers whose handshake arrived as ready; restart ones that failed to start."""
            deadline = time.monotonic() + (self.startup_timeout if block else 0.0)
            while True:
                for w, h in enumerate(self.workers):
                    if ready[w]:
                        continue
                    try:
                        ready[w] = h.poll_ready(0.0)
                    except WorkerFailure as e:
                        fail(w, f"start-up: {e}")
                        continue
                    if not ready[w] and time.monotonic() - h.started_at > self.startup_timeout:
                        fail(w, f"not ready within {self.startup_timeout:g} s")
                if not block or any(ready) or time.monotonic() > deadline:
                    return
                time.sleep(0.01)

        def gather(pending, g):
            workers = {w: self.workers[w] for w in pending}
            timeout = self.startup_timeout if any(h.fresh for h in workers.values()) else self.step_timeout
            replies, failures, blocked = self.backend.gather(workers, g, timeout, self.obs_dim, self._names)
            st["wait_time"] += blocked
            for w in sorted(failures):
                fail(w, failures[w])
            for r in replies.values():
                st["env_time"] += r.env_time
                st["env_cpu"] += r.env_cpu
            return replies

        group_time = self._group_time          # running mean of a group step's duration (s)

        def gather_any(busy: set, wait_limit=None) -> list:
            nonlocal group_time
            workers = {w: self.workers[w] for w in busy}
            timeout = self.startup_timeout if any(h.fresh for h in workers.values()) else self.step_timeout
            replies, failures, blocked = self.backend.gather_any(workers, timeout, self.obs_dim, self._names,
                                                                 wait_limit)
            st["wait_time"] += blocked
            for w in sorted(failures):
                fail(w, failures[w])
            for _, r in replies:
                st["env_time"] += r.env_time
                st["env_cpu"] += r.env_cpu
                group_time = 0.9 * group_time + 0.1 * r.env_time if group_time else r.env_time
            return replies

        def start_resets(g: int) -> None:
            """Explicit resets of group g's free slots while more episodes are wanted (slot order):
            the first round of a collect, slots of restarted workers, num_episodes mode."""
            nonlocal rank, live
            for w in range(N):
                if not ready[w] or w in resets[g] or w in inflight[g]:
                    continue
                new = []
                for s in group_slots[g][w]:
                    if running[s] is None and want_more():
                        running[s] = rank
                        length[s] = 0
                        rank += 1
                        live += 1
                        new.append(s)
                if new:
                    base = group_slots[g][w].start
                    mask, idx = np.zeros(sizes[g], bool), np.zeros(sizes[g], np.uint64)
                    for s in new:
                        mask[s - base] = True
                        idx[s - base] = self.episode_count
                        self.episode_count += 1
                    resets[g][w] = new
                    self.workers[w].send_reset(g, total_samples + steps + stepping, self.seed, idx, mask)

        # a previous collect that raised (e.g. KeyboardInterrupt in act_fn) may have left requests out
        for w, h in enumerate(self.workers):
            try:
                while getattr(h, "awaiting", 0) > 0:
                    h.recv_reply(time.monotonic() + self.step_timeout)
                h.buffered = {}
            except WorkerFailure as e:
                fail(w, f"resync after an interrupted collect: {e}")

        def absorb(g: int, w: int, r: _Reply) -> None:
            """Worker w's step reply for group g: count the steps, take the episodes that ended."""
            nonlocal steps, stepping, rank, live
            ss = inflight[g].pop(w)
            n = len(ss)
            stepping -= n
            steps += n
            base = group_slots[g][w].start
            whole = n == sizes[g]
            if whole:
                length[base:base + n] += 1
                obs_now[base:base + n] = r.obs
            else:
                length[ss] += 1
                obs_now[ss] = r.obs[[s - base for s in ss]]
            if r.episodes:
                flags = r.flags
                for k, obs, actions, rewards, sums in r.episodes:
                    s, f = base + k, int(flags[k])
                    if f & W.F_UNSTABLE:
                        st["sim_unstable_episodes"] += 1
                    terminated = bool(f & W.F_TERMINATED)
                    info = {f"reward_terms/{name}": v for name, v in zip(r.names, sums.tolist())}
                    done_eps.append((running[s], Episode(
                        obs=obs[:-1], actions=actions, rewards=rewards, final_obs=obs[-1], terminated=terminated,
                        truncated=bool(f & W.F_TRUNCATED) and not terminated, info=info)))
                    if f & W.F_RESTARTED:          # obs[k] is the next episode's first obs
                        running[s] = rank
                        length[s] = 0
                        rank += 1
                        live += 1
                    else:
                        running[s] = None

        def refill(g: int) -> None:
            """Explicit resets of group g's free slots (rare, see start_resets), waited for."""
            start_resets(g)
            if resets[g]:
                sent, resets[g] = resets[g], {}
                for w, r in gather(sent, g).items():
                    base = group_slots[g][w].start
                    for s in sent[w]:
                        obs_now[s] = r.obs[s - base]

        seed64 = struct.pack("<Q", int(self.seed) & 0xFFFFFFFFFFFFFFFF)
        ones, zeros = [b"\1" * k for k in sizes], [b"\0" * k for k in sizes]
        zero_idx = [bytes(8 * k) for k in sizes]

        def dispatch(units: list) -> None:
            """One batched policy call over the active slots of the (worker, group) units given
            (idle, ready ones), then a step request to each (its message built here directly:
            this runs once per round, on a core the workers need)."""
            nonlocal stepping
            work = []                                      # (w, g, active slots of the unit)
            for w, g in units:
                ss = [s for s in group_slots[g][w] if running[s] is not None]
                if ss:
                    work.append((w, g, ss))
            if not work:
                return
            if len(work) == 1 and len(work[0][2]) == sizes[work[0][1]]:
                rng = group_slots[work[0][1]][work[0][0]]
                batch = obs_now[rng.start:rng.stop]        # one whole group: a view, no gather
            else:
                batch = obs_now[[s for _, _, ss in work for s in ss]]
            n = len(batch)
            t0 = time.perf_counter()        # (no process_time here: a ~3 us system call per round)
            actions = np.asarray(act_fn(batch))
            st["act_time"] += time.perf_counter() - t0
            st["rounds"] += 1
            send = actions.astype(self.act_dtype, copy=False).reshape((n,) + self.act_shape)
            # An episode that ends in this step is followed at once by the next one in the same
            # slot (reset inside the step request: no extra round trip) when more are wanted,
            # i.e. when the steps taken by then are still < min_samples -- SerialSampler's test at
            # the top of its next round.  The new episode's index is reserved now.
            restart_ok = num_episodes is None and steps + stepping + n < min_samples
            total = struct.pack("<q", total_samples + steps + stepping + n)
            base_index = self.episode_count
            if restart_ok:
                self.episode_count += n
            j = 0
            for w, g, ss in work:
                Kg, base = sizes[g], group_slots[g][w].start
                j1 = j + len(ss)
                if len(ss) == Kg:                          # the whole group active: no scatter
                    a, m = send[j:j1], ones[g]
                    idx = np.arange(base_index + j, base_index + j1, dtype=np.uint64).tobytes() \
                        if restart_ok else zero_idx[g]
                else:
                    ks = [s - base for s in ss]
                    a = np.zeros((Kg,) + self.act_shape, self.act_dtype)
                    a[ks] = send[j:j1]
                    mask = np.zeros(Kg, np.uint8)
                    mask[ks] = 1
                    m = mask.tobytes()
                    ix = np.zeros(Kg, np.uint64)
                    if restart_ok:
                        ix[ks] = np.arange(base_index + j, base_index + j1, dtype=np.uint64)
                    idx = ix.tobytes()
                self.workers[w].send_raw(b"".join((b"S", bytes((g,)), total, seed64, idx, m,
                                                   m if restart_ok else zeros[g], a.tobytes())))
                inflight[g][w] = ss
                stepping += len(ss)
                j = j1

        def finished() -> bool:
            """Nothing running, nothing in flight, nothing more wanted (raises if no worker is up)."""
            if not any(inflight) and not any(resets) and running.count(None) == S:
                if not want_more():
                    return True
                if not any(ready):
                    poll(block=True)
                    if not any(ready):
                        raise SamplerError("sampler: no worker could be (re)started")
            return False

        poll(block=False)
        for g in range(G):
            start_resets(g)
        if self.lockstep:
            # rounds over the groups in turn: each waits for the group's replies of ALL workers,
            # so act_fn sees the same batches whatever the timing (reproducible)
            g = G - 1
            while True:
                g = (g + 1) % G
                if not all(ready):
                    poll(block=False)             # (re)started workers join as soon as they are up
                if inflight[g]:
                    for w, r in gather(inflight[g], g).items():     # (fail() drops dead workers' entries)
                        absorb(g, w, r)
                refill(g)
                dispatch([(w, g) for w in range(N) if ready[w] and w not in inflight[g]])
                if finished():
                    break
        else:
            # asynchronous: act on whatever replies are here, in arrival order; no worker waits
            # for another (not reproducible: act_fn's batches depend on timing).  Batching across
            # workers: a lone reply whose worker is still busy with its other group is held back
            # for at most half a group step, for another worker's reply to share the policy call
            # (the held worker keeps stepping meanwhile, so it does not idle)
            hold_until = None
            while True:
                if not all(ready):
                    poll(block=False)
                busy = {w for g in range(G) for w in inflight[g]}
                if busy:
                    limit = None if hold_until is None else max(0.0, hold_until - time.monotonic())
                    for w, r in gather_any(busy, limit):
                        absorb(r.group, w, r)
                if any(resets) or (want_more() and None in running):
                    for g in range(G):
                        refill(g)
                units = [(w, g) for w in range(N) if ready[w] for g in range(G)
                         if w not in inflight[g] and w not in resets[g]]
                if self.batch_hold and len(units) == 1 and G > 1 and group_time > 0:
                    w, g = units[0]
                    # its worker steps its other groups, and another worker has a reply to come
                    if all(w in inflight[h] for h in range(G) if h != g) and \
                            any(w2 != w for g2 in range(G) for w2 in inflight[g2]):
                        now = time.monotonic()
                        if hold_until is None:
                            hold_until = now + 0.5 * group_time
                        if now < hold_until:
                            st["held"] += 1
                            continue
                hold_until = None
                dispatch(units)
                if finished():
                    break
        # workers restarted meanwhile that are not up yet join in the next collect
        done_eps.sort(key=lambda x: x[0])
        episodes = [ep for _, ep in done_eps]
        st["samples"] = sum(len(e) for e in episodes)
        st["episodes"] = len(episodes)
        st["time"] = time.perf_counter() - t_start
        # learner time that is neither blocked on workers nor policy inference (pipes, bookkeeping);
        # wall clock (includes being descheduled on a busy machine) and CPU time (does not)
        st["coord_time"] = max(0.0, st["time"] - st["wait_time"] - st["act_time"])
        st["learner_cpu"] = time.process_time() - cpu_start
        st["coord_cpu"] = max(0.0, st["learner_cpu"] - st["act_time"])     # (act_fn's wall time ~ its CPU)
        self._group_time = group_time
        self.total_restarts += st["worker_restarts"]
        self.total_dropped += st["dropped_episodes"]
        st["total_worker_restarts"], st["total_dropped_episodes"] = self.total_restarts, self.total_dropped
        self.last_stats = st
        return episodes

    def log_stats(self) -> dict[str, Any]:
        """Flat scalars of the last collect for the iteration log (same keys every call)."""
        s = self.last_stats
        return {"Worker_Restarts": s.get("worker_restarts", 0), "Dropped_Episodes": s.get("dropped_episodes", 0),
                "Sim_Unstable_Episodes": s.get("sim_unstable_episodes", 0),
                "Sampler_Events": "; ".join(s.get("events", [])) or None}

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "episode_count": self.episode_count}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.seed, self.episode_count = int(s["seed"]), int(s["episode_count"])

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for h in getattr(self, "workers", []):
            try:
                h.close()
            except Exception:
                pass
        self.backend.shutdown()

    def __enter__(self) -> "ParallelSampler":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass
