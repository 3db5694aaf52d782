"""The sampler worker: builds its env groups, then answers the learner's requests until QUIT.

    ctx.Process(target=worker.serve_process, args=(conn, env_id, env_kwargs, num_envs, seed, groups))

Torch-free: a worker imports numpy, gymnasium, the env and :mod:`mimic.sampling`, nothing of the
learner (no torch: ~1 s less start-up, ~150 MB less memory per worker).  The same :func:`serve`
loop runs in a multiprocessing child (:mod:`mimic.sampling.mp_backend`, over a pipe) and in a Ray
actor (:mod:`mimic.sampling.ray_backend`, over TCP); the messages are :mod:`mimic.sampling.protocol`'s.
"""

from __future__ import annotations

import os
import signal
import time
import traceback

from mimic.sampling import protocol as P
from mimic.sampling.env_group import EnvGroup, build_groups
from mimic.sampling.episode import episode_seed

# one BLAS / OpenMP thread per worker (the parent also sets these at spawn: BLAS loads on import)
THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "NUMEXPR_NUM_THREADS": "1",
    "VECLIB_MAXIMUM_THREADS": "1",
}


def serve_process(conn, env_id, env_kwargs, num_envs, worker_seed, groups=1) -> None:
    """The entry point of a worker process: Ctrl-C reaches the whole process group, so the learner
    handles it and closes us (no tracebacks here)."""
    os.environ.update(THREAD_ENV)
    # mp_backend starts us with SIGINT ignored already, from the main thread; this covers workers
    # restarted from another thread, and Ray actors
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    serve(conn, env_id, env_kwargs, num_envs, worker_seed, groups)


def serve(conn, env_id, env_kwargs, num_envs, worker_seed, groups=1) -> None:
    """Handshake (READY or START_FAILED), then requests until QUIT or EOF.

    The envs form ``groups`` groups (one vector env each); requests name a group and are
    served in arrival order, so while this worker steps one group the learner can already
    queue the next request for another (pipelining: the worker does not wait for the learner)."""
    try:
        envs = build_groups(env_id, env_kwargs, num_envs, worker_seed, groups)
    except BaseException:
        conn.send_bytes(P.encode_start_failed(traceback.format_exc()))
        return
    sizes = [e.K for e in envs]
    conn.send_bytes(P.encode_ready(envs[0].info(sizes)))
    sent_names = [0] * len(envs)
    while True:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError, KeyboardInterrupt):
            break  # the learner is gone
        try:
            request = P.decode_request(msg, sizes, envs[0].act_dtype)
            if request is None:
                break
            reply = _answer(envs[request.group], request, sent_names)
        except Exception:
            reply = P.encode_raised(msg[1] if len(msg) > 1 else 0, traceback.format_exc())
        try:
            conn.send_bytes(reply)
        except Exception:
            break
    for group in envs:
        group.close()
    try:
        conn.close()
    except Exception:
        pass


def _answer(group: EnvGroup, request, sent_names: list) -> bytes:
    """Runs one STEP or RESET on ``group``; the REPLY (with the term names when they changed)."""
    t0, c0 = time.perf_counter(), time.process_time()
    episodes = ()
    if isinstance(request, P.StepRequest):
        obs, _, flags, terms = group.step(
            request.actions, request.active, request.restart, request.seed, request.indices, request.total_samples
        )
        episodes = group.episodes
    else:
        seeds = [episode_seed(request.seed, int(i)) if m else 0 for i, m in zip(request.indices, request.mask)]
        obs = group.reset(request.mask, seeds, request.total_samples)
        flags, terms = group.flags * 0, group.terms
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    names = None
    if len(group.term_names) != sent_names[request.group] and terms.shape[1]:
        names = group.term_names
        sent_names[request.group] = len(names)
    return P.encode_reply(dt, dc, request.group, obs, flags, group.recorder.sums.shape[1], episodes, names)
