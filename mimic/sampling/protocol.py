"""The messages between the learner and its sampler workers: the one definition of the wire format.

Every message is one ``Connection.send_bytes`` frame (a pipe or a TCP socket) whose first byte
names its kind.  Numbers are little-endian; K = the envs of the group a message is about, D = the
observation size, A = the action's shape (its dtype: the action space's; int64 if Discrete).

learner -> worker
    STEP    "S" <B group, q total_samples, Q seed> indices u64[K] active u8[K] restart u8[K]
                actions[K, *A]
    RESET   "R" <B group, q total_samples, Q seed> indices u64[K] mask u8[K]
    QUIT    "Q"
    A reset's seed is ``episode_seed(seed, indices[k])``, computed in the worker.  ``restart[k]``:
    if the episode in env k ends in this step, reset it at once with the seed of ``indices[k]``.

worker -> learner
    READY         "Y" <i num_envs, i obs_dim, i pid, B vectorized, B torch_loaded, i groups, i host_len>
                      group sizes i32[groups], host (utf-8), pickle((observation_space, action_space))
                      (the spaces are Python objects with no byte layout of their own; once per start)
    START_FAILED  "F" traceback (utf-8)
    REPLY         "O" | "N" <d env_s, d env_cpu_s, i group, i K, i T, i names_len, i E>
                      [names, "\\0"-joined utf-8, only after "N"] obs f32[K, D] flags u8[K]
                      E x EPISODE: <i k, i L> obs f32[L + 1, D] actions[L, *A] rewards f32[L] term sums f64[T]
                  (the answer to STEP and RESET; E: the episodes that ended in this step, whole, slot order;
                  T: reward terms; env_s / env_cpu_s: the worker's wall and CPU seconds for the request)
    RAISED        "E" <B group> traceback (utf-8): the env raised; the learner restarts the worker
    HELLO         "C" token (utf-8): a Ray actor's first message on the socket it opened to the learner

REPLY flags: bit 0 terminated, bit 1 truncated, bit 2 info["sim_unstable"], bit 3 restarted (obs[k] is
then the new episode's first observation).  Decoded arrays are views of the message, except an
episode's, which are copied out (writable, owned by the Episode).
"""

from __future__ import annotations

import pickle
import struct
from typing import NamedTuple, Optional, Sequence, Union

import gymnasium as gym
import numpy as np

STEP, RESET, QUIT = b"S", b"R", b"Q"
READY, START_FAILED, REPLY, REPLY_NAMES, RAISED, HELLO = b"Y", b"F", b"O", b"N", b"E", b"C"
F_TERMINATED, F_TRUNCATED, F_UNSTABLE, F_RESTARTED = 1, 2, 4, 8

REQUEST_HEAD = struct.Struct("<cBqQ")  # kind, group, total_samples, seed
READY_HEAD = struct.Struct("<ciiiBBii")
REPLY_HEAD = struct.Struct("<cddiiiii")
EPISODE_HEAD = struct.Struct("<ii")
U64 = 0xFFFFFFFFFFFFFFFF
Bytes = Union[bytes, np.ndarray]  # a field given as bytes, or as an array of its dtype


class WorkerError(Exception):
    """A worker reported an exception (START_FAILED or RAISED); the message is its traceback."""


class ActionLayout(NamedTuple):
    """How actions of one action space cross the wire (``dtype``, ``shape``) and are stored in an
    Episode (``episode_dtype``: float32, int64 if Discrete, as SerialSampler stores them)."""

    shape: tuple
    dtype: np.dtype
    episode_dtype: np.dtype

    @classmethod
    def of(cls, space) -> "ActionLayout":
        if isinstance(space, gym.spaces.Discrete):
            return cls((), np.dtype(np.int64), np.dtype(np.int64))
        return cls(tuple(space.shape), np.dtype(space.dtype), np.dtype(np.float32))

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


class WorkerInfo(NamedTuple):
    """READY: what a worker built."""

    num_envs: int
    obs_dim: int
    group_sizes: list
    vectorized: bool
    pid: int
    host: str
    torch_loaded: bool
    observation_space: object
    action_space: object


class StepRequest(NamedTuple):
    group: int
    total_samples: int
    seed: int
    indices: np.ndarray
    active: np.ndarray
    restart: np.ndarray
    actions: np.ndarray


class ResetRequest(NamedTuple):
    group: int
    total_samples: int
    seed: int
    indices: np.ndarray
    mask: np.ndarray


class Reply(NamedTuple):
    """REPLY: obs [K, D] and flags [K] of one group; episodes: [(k, obs, actions, rewards, term sums)]."""

    env_time: float
    env_cpu: float
    group: int
    obs: np.ndarray
    flags: np.ndarray
    names: list
    episodes: list


# ------------------------------------------------------------------------- learner -> worker
def _field(x: Bytes, dtype) -> Bytes:
    return x if isinstance(x, bytes) else np.ascontiguousarray(x, dtype=dtype)


def encode_step(
    group: int, total_samples: int, seed: int, indices: Bytes, active: Bytes, restart: Bytes, actions: np.ndarray
) -> bytes:
    return b"".join(
        (
            REQUEST_HEAD.pack(STEP, group, int(total_samples), int(seed) & U64),
            _field(indices, np.uint64),
            _field(active, np.uint8),
            _field(restart, np.uint8),
            np.ascontiguousarray(actions),
        )
    )


def encode_reset(group: int, total_samples: int, seed: int, indices: Bytes, mask: Bytes) -> bytes:
    return b"".join(
        (
            REQUEST_HEAD.pack(RESET, group, int(total_samples), int(seed) & U64),
            _field(indices, np.uint64),
            _field(mask, np.uint8),
        )
    )


def encode_quit() -> bytes:
    return QUIT


def decode_request(msg: bytes, group_sizes: Sequence[int], act_dtype) -> Optional[Union[StepRequest, ResetRequest]]:
    """A request (None for QUIT); raises ValueError for an unknown kind or group."""
    kind = msg[:1]
    if kind == QUIT:
        return None
    if kind not in (STEP, RESET):
        raise ValueError(f"unknown request {kind!r}")
    _, group, total, seed = REQUEST_HEAD.unpack_from(msg)
    if group >= len(group_sizes):
        raise ValueError(f"request for group {group}, the worker has {len(group_sizes)}")
    K, off = group_sizes[group], REQUEST_HEAD.size
    indices = np.frombuffer(msg, np.uint64, K, off)
    mask = np.frombuffer(msg, np.uint8, K, off + 8 * K)
    if kind == RESET:
        return ResetRequest(group, total, seed, indices, mask)
    restart = np.frombuffer(msg, np.uint8, K, off + 9 * K)
    actions = np.frombuffer(msg, act_dtype, offset=off + 10 * K)
    return StepRequest(group, total, seed, indices, mask, restart, actions)


# ------------------------------------------------------------------------- worker -> learner
def encode_ready(info: WorkerInfo) -> bytes:
    host = info.host.encode()
    sizes = np.asarray(info.group_sizes, np.int32)
    return b"".join(
        (
            READY_HEAD.pack(
                READY,
                info.num_envs,
                info.obs_dim,
                info.pid,
                bool(info.vectorized),
                bool(info.torch_loaded),
                sizes.size,
                len(host),
            ),
            sizes.tobytes(),
            host,
            pickle.dumps((info.observation_space, info.action_space)),
        )
    )


def encode_start_failed(traceback: str) -> bytes:
    return START_FAILED + traceback.encode(errors="replace")


def decode_ready(msg: bytes) -> WorkerInfo:
    """READY -> WorkerInfo; START_FAILED raises WorkerError."""
    if msg[:1] == START_FAILED:
        raise WorkerError(bytes(msg[1:]).decode(errors="replace"))
    if msg[:1] != READY:
        raise ValueError(f"expected READY, got {bytes(msg[:1])!r}")
    _, num_envs, obs_dim, pid, vectorized, torch_loaded, groups, host_len = READY_HEAD.unpack_from(msg)
    off = READY_HEAD.size
    sizes = np.frombuffer(msg, np.int32, groups, off).tolist()
    off += 4 * groups
    host = bytes(msg[off : off + host_len]).decode()
    obs_space, act_space = pickle.loads(msg[off + host_len :])
    return WorkerInfo(num_envs, obs_dim, sizes, bool(vectorized), pid, host, bool(torch_loaded), obs_space, act_space)


def encode_episode(k: int, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, sums: np.ndarray) -> bytes:
    """EPISODE: slot k's whole episode (obs [L + 1, D] f32, actions [L, *A], rewards [L] f32, sums [T] f64)."""
    return b"".join(
        (EPISODE_HEAD.pack(k, len(rewards)), obs.tobytes(), actions.tobytes(), rewards.tobytes(), sums.tobytes())
    )


def encode_reply(
    env_time: float,
    env_cpu: float,
    group: int,
    obs: np.ndarray,
    flags: np.ndarray,
    num_terms: int,
    episodes: Sequence[bytes] = (),
    names: Optional[Sequence[str]] = None,
) -> bytes:
    """REPLY (REPLY_NAMES when ``names`` are given: the reward-term names, sent when they change)."""
    name_bytes = "\0".join(names).encode() if names else b""
    head = REPLY_HEAD.pack(
        REPLY_NAMES if name_bytes else REPLY,
        env_time,
        env_cpu,
        group,
        len(flags),
        num_terms,
        len(name_bytes),
        len(episodes),
    )
    return b"".join((head, name_bytes, obs.tobytes(), flags.tobytes(), *episodes))


def encode_raised(group: int, traceback: str) -> bytes:
    return RAISED + bytes((group,)) + traceback.encode(errors="replace")


def decode_reply(msg: bytes, obs_dim: int, layout: ActionLayout, names: list) -> Reply:
    """REPLY -> Reply (``names``: the worker's reward-term names, updated in place by REPLY_NAMES);
    RAISED raises WorkerError."""
    kind = bytes(msg[:1])
    if kind == RAISED:
        raise WorkerError(bytes(msg[2:]).decode(errors="replace"))
    _, env_time, env_cpu, group, K, T, nlen, E = REPLY_HEAD.unpack_from(msg)
    off = REPLY_HEAD.size
    if kind == REPLY_NAMES:
        names[:] = bytes(msg[off : off + nlen]).decode().split("\0")
        off += nlen
    obs = np.frombuffer(msg, np.float32, K * obs_dim, off).reshape(K, obs_dim)
    off += 4 * K * obs_dim
    flags = np.frombuffer(msg, np.uint8, K, off)
    off += K
    episodes = []
    for _ in range(E):
        episode, off = _decode_episode(msg, off, obs_dim, T, layout)
        episodes.append(episode)
    return Reply(env_time, env_cpu, group, obs, flags, names, episodes)


def _decode_episode(msg, off: int, obs_dim: int, T: int, layout: ActionLayout):
    k, L = EPISODE_HEAD.unpack_from(msg, off)
    off += EPISODE_HEAD.size
    o = np.frombuffer(msg, np.float32, (L + 1) * obs_dim, off).reshape(L + 1, obs_dim).copy()
    off += 4 * (L + 1) * obs_dim
    n = L * layout.size
    a = np.frombuffer(msg, layout.dtype, n, off).reshape((L,) + layout.shape).astype(layout.episode_dtype)
    off += layout.dtype.itemsize * n
    r = np.frombuffer(msg, np.float32, L, off).copy()
    off += 4 * L
    sums = np.frombuffer(msg, np.float64, T, off)
    return (k, o, a, r, sums), off + 8 * T


def encode_hello(token: str) -> bytes:
    return HELLO + token.encode()


def decode_hello(msg: bytes) -> str:
    if msg[:1] != HELLO:
        raise ValueError(f"expected HELLO, got {bytes(msg[:1])!r}")
    return bytes(msg[1:]).decode()


# ------------------------------------------------------------------------- framing
# Connection.send_bytes frames every message with its size: "!i", or -1 and then "!Q" for 2 GiB and more
FRAME_SIZE, FRAME_SIZE_LONG = struct.Struct("!i"), struct.Struct("!Q")
