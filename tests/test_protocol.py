"""The sampler's wire format (mimic/sampling/protocol.py), round-tripped over a real mp.Pipe() with
no environments: every message kind, in both directions, at edge sizes (no envs, one, many; empty
and large arrays; Box and Discrete actions), and the learner's reader (transport.StreamWorker) on
frames far larger than its initial buffer."""

from __future__ import annotations

import multiprocessing as mp
import os
import threading
import time

import gymnasium as gym
import numpy as np
import pytest

from mimic.sampling import protocol as P
from mimic.sampling.transport import StreamWorker, WorkerFailure

BOX = gym.spaces.Box(-1.0, 1.0, (3, 2), np.float32)
BOX64 = gym.spaces.Box(-2.0, 2.0, (36,), np.float64)
DISCRETE = gym.spaces.Discrete(4, start=1)


@pytest.fixture
def pipe():
    a, b = mp.Pipe(duplex=True)
    yield a, b
    a.close()
    b.close()


def _through(pipe, msg: bytes) -> bytes:
    """``msg`` sent on one end (from a thread: a big one fills the pipe) and received on the other."""
    a, b = pipe
    writer = threading.Thread(target=a.send_bytes, args=(msg,))
    writer.start()
    got = b.recv_bytes()
    writer.join()
    assert got == msg
    return got


def _actions(rng, n, space):
    layout = P.ActionLayout.of(space)
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, n).astype(layout.dtype)
    return rng.standard_normal((n,) + layout.shape).astype(layout.dtype)


@pytest.mark.parametrize("space", [BOX, BOX64, DISCRETE])
@pytest.mark.parametrize("K", [0, 1, 7, 2000])
def test_step_and_reset_requests_round_trip(pipe, space, K):
    rng = np.random.default_rng(K)
    layout = P.ActionLayout.of(space)
    indices = rng.integers(0, 2**63, K, dtype=np.uint64)
    active, restart = rng.integers(0, 2, K).astype(bool), rng.integers(0, 2, K).astype(np.uint8)
    actions = _actions(rng, K, space)
    sizes = [3, K]  # the request is about group 1
    msg = _through(pipe, P.encode_step(1, 123_456_789_012, 2**64 - 5, indices, active, restart, actions))
    r = P.decode_request(msg, sizes, layout.dtype)
    assert isinstance(r, P.StepRequest) and (r.group, r.total_samples, r.seed) == (1, 123_456_789_012, 2**64 - 5)
    np.testing.assert_array_equal(r.indices, indices)
    np.testing.assert_array_equal(r.active, active.astype(np.uint8))
    np.testing.assert_array_equal(r.restart, restart)
    np.testing.assert_array_equal(r.actions.reshape((K,) + layout.shape), actions)
    assert r.actions.dtype == layout.dtype
    # the same fields given as bytes (the sampler's fast path) make the same message
    assert (
        P.encode_step(
            1,
            123_456_789_012,
            2**64 - 5,
            indices.tobytes(),
            active.astype(np.uint8).tobytes(),
            restart.tobytes(),
            actions,
        )
        == msg
    )

    mask = rng.integers(0, 2, K).astype(bool)
    msg = _through(pipe, P.encode_reset(1, -1, 7, indices, mask))
    r = P.decode_request(msg, sizes, layout.dtype)
    assert isinstance(r, P.ResetRequest) and (r.group, r.total_samples, r.seed) == (1, -1, 7)
    np.testing.assert_array_equal(r.indices, indices)
    np.testing.assert_array_equal(r.mask, mask.astype(np.uint8))


def test_quit_and_bad_requests(pipe):
    assert P.decode_request(_through(pipe, P.encode_quit()), [2], np.float32) is None
    with pytest.raises(ValueError, match="unknown request b'X'"):
        P.decode_request(b"X" + bytes(20), [2], np.float32)
    msg = P.encode_reset(3, 0, 0, np.zeros(2, np.uint64), np.zeros(2, bool))
    with pytest.raises(ValueError, match="group 3, the worker has 2"):
        P.decode_request(msg, [2, 2], np.float32)


@pytest.mark.parametrize("sizes", [[1], [8, 8], [0, 3]])
@pytest.mark.parametrize("space", [BOX, DISCRETE])
def test_ready_and_start_failed_round_trip(pipe, sizes, space):
    obs_space = gym.spaces.Box(-np.inf, np.inf, (197,), np.float32)
    info = P.WorkerInfo(sum(sizes), 197, sizes, True, os.getpid(), "nœud-7", False, obs_space, space)
    got = P.decode_ready(_through(pipe, P.encode_ready(info)))
    assert got == info
    with pytest.raises(P.WorkerError, match="(?s)Traceback.*ValueError: no clip 'wälk'"):
        P.decode_ready(
            _through(pipe, P.encode_start_failed("Traceback (most recent call last):\nValueError: no clip 'wälk'"))
        )
    with pytest.raises(ValueError, match="expected READY"):
        P.decode_ready(P.encode_hello("x"))


def _episode(rng, L, D, T, space):
    return (
        rng.standard_normal((L + 1, D)).astype(np.float32),
        _actions(rng, L, space),
        rng.standard_normal(L).astype(np.float32),
        rng.standard_normal(T),
    )


@pytest.mark.parametrize("space", [BOX, BOX64, DISCRETE])
@pytest.mark.parametrize(
    "K, D, T, lengths", [(0, 5, 0, []), (1, 1, 0, [1]), (4, 197, 5, [15, 1, 600]), (64, 33, 3, [5000] + [2] * 63)]
)
def test_reply_round_trip(pipe, space, K, D, T, lengths):
    rng = np.random.default_rng(len(lengths))
    layout = P.ActionLayout.of(space)
    obs = rng.standard_normal((K, D)).astype(np.float32)
    flags = rng.integers(0, 16, K).astype(np.uint8)
    slots = sorted(rng.choice(max(K, 1), len(lengths), replace=False)) if lengths else []
    eps = [(int(k),) + _episode(rng, L, D, T, space) for k, L in zip(slots, lengths)]
    packed = [P.encode_episode(*e) for e in eps]
    names = [f"term{i}" for i in range(T)]
    for send_names in (names, None):
        msg = _through(pipe, P.encode_reply(0.25, 0.125, 1, obs, flags, T, packed, send_names))
        assert msg[:1] == (P.REPLY_NAMES if send_names else P.REPLY)
        cache = ["stale"] if send_names else list(names)
        r = P.decode_reply(msg, D, layout, cache)
        assert (r.env_time, r.env_cpu, r.group) == (0.25, 0.125, 1) and r.names == names == cache
        np.testing.assert_array_equal(r.obs, obs)
        np.testing.assert_array_equal(r.flags, flags)
        assert len(r.episodes) == len(eps)
        for (k, o, a, rew, sums), (k2, o2, a2, rew2, sums2) in zip(eps, r.episodes):
            assert k == k2 and a2.dtype == layout.episode_dtype and o2.flags.writeable
            np.testing.assert_array_equal(o2, o)
            np.testing.assert_array_equal(a2, a.astype(layout.episode_dtype))
            np.testing.assert_array_equal(rew2, rew)
            np.testing.assert_array_equal(sums2, sums)


def test_raised_and_hello_round_trip(pipe):
    with pytest.raises(P.WorkerError, match="(?s)RuntimeError: physics exploded$"):
        P.decode_reply(
            _through(pipe, P.encode_raised(1, "Traceback\nRuntimeError: physics exploded")),
            3,
            P.ActionLayout.of(BOX),
            [],
        )
    assert P.decode_hello(_through(pipe, P.encode_hello("0af3" * 8))) == "0af3" * 8
    with pytest.raises(ValueError, match="expected HELLO"):
        P.decode_hello(P.encode_quit())


def test_stream_reader_reads_big_and_queued_frames(pipe):
    """The learner's reader (poll + readv into a reused 64 KiB buffer): a 24 MB reply, replies queued
    behind each other and read by one readv, a reply for another group kept for later, then EOF."""
    a, b = pipe
    handle = StreamWorker(0)
    handle.attach(b)
    handle.info, handle.layout = None, P.ActionLayout.of(BOX)
    rng = np.random.default_rng(0)
    D = 197
    big = [(0,) + _episode(rng, 20_000, D, 5, BOX)]  # 20k steps x 197 floats: ~16 MB of obs
    small = [P.encode_reply(0.0, 0.0, g, np.full((2, D), g, np.float32), np.zeros(2, np.uint8), 5) for g in (0, 1)]
    msgs = [
        P.encode_reply(
            0.0,
            0.0,
            0,
            np.zeros((1, D), np.float32),
            np.ones(1, np.uint8),
            5,
            [P.encode_episode(*e) for e in big],
            ["a", "b", "c", "d", "e"],
        )
    ] + small[::-1]
    writer = threading.Thread(target=lambda: [a.send_bytes(m) for m in msgs])
    writer.start()
    handle.awaiting = 3
    names: list = []
    r, _ = handle.reply_for(0, time.monotonic() + 60, D, names)
    assert names == ["a", "b", "c", "d", "e"] and len(r.episodes) == 1
    np.testing.assert_array_equal(r.episodes[0][1], big[0][1])
    r, _ = handle.reply_for(0, time.monotonic() + 60, D, names)  # group 1's reply came first: kept
    assert r.group == 0 and handle.next_reply(D, names).group == 1 and handle.awaiting == 0
    writer.join()
    assert handle.next_reply(D, names, read=True) is None  # nothing there, no wait
    a.close()
    with pytest.raises(WorkerFailure, match="connection closed"):
        handle.recv_reply(time.monotonic() + 60)
