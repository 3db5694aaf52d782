"""Sampler worker side: K environments of one Gymnasium id, stepped in lockstep.  Torch-free.

Used by :mod:`mimic.learning.parallel` in two ways:

* multiprocessing: the worker process executes THIS FILE BY PATH (``runpy.run_path``) and
  serves :func:`serve` on a pipe, so the ``mimic.learning`` package (whose ``__init__``
  imports torch) is never imported in a worker -- a worker holds numpy, gymnasium and the
  env, nothing else (no torch: ~1 s less start-up, ~150 MB less memory per worker);
* Ray: :class:`EnvActor` (a plain class wrapped with ``ray.remote`` by the learner and
  shipped by value) connects back to the learner over TCP and runs the same :func:`serve`.

An ``EnvGroup`` builds its envs from (EnvSpec or id, kwargs) with Gymnasium calls only: one
``make_vec(..., vectorization_mode="vector_entry_point", autoreset_mode="Disabled")`` when the
spec has a vector entry point that supports caller-driven resets (``reset(seed=[...],
options={"reset_mask": m})``), else K ``gym.make`` envs stepped in a loop (CartPole, ...).

Wire format of the pipe / socket (raw bytes, no pickling on the hot path):
    learner -> worker   b"S" + group u8 + total_samples i64 + seed u64 + episode indices u64[K]
                              + active u8[K] + restart u8[K] + actions[K, *act_shape] (action dtype)
                        b"R" + group u8 + total_samples i64 + seed u64 + episode indices u64[K] + mask u8[K]
                        b"Q"                                   (quit)
                        (reset seeds = episode_seed(seed, index), computed here, not in the learner)
    worker -> learner   b"O" | b"N" + header <d env_s, d env_cpu_s, i4 group, i4 K, i4 T, i4 names_len,
                        i4 E>  (env wall / CPU seconds, T reward terms, E episodes that ended in this step)
                        + names (utf-8, "\\0"-joined, only after b"N")
                        + obs f32[K, D] + flags u8[K]
                        + E x (<i4 k, i4 L> + obs f32[L + 1, D] + actions[L, *act_shape] (action dtype)
                               + rewards f32[L] + reward-term sums f64[T])      (whole episodes, slot order)
                        b"E" + group u8 + traceback (an exception in the env; the learner restarts us)
(K = the envs of that group; a worker's envs form 1 or 2 groups, see ``serve``)
flags: bit 0 terminated, bit 1 truncated, bit 2 info["sim_unstable"], bit 3 restarted (obs[k] is then
the new episode's first observation).

Episodes are assembled HERE, not in the learner (EpisodeRecorder): per step the learner only
needs the observations (for the next batched policy call) and the flags; an episode's arrays
cross the pipe once, when it ends.  This keeps the learner's per-sample work off the cores the
workers simulate on (measured: ~40% of the learner's CPU per sample went into appending
transitions and stacking them into episodes), while the recording costs a worker ~1.3 us per
sample (8 envs: 9.6 us per step, 2.3 us per episode packed) against ~630 us of physics.  A worker that dies takes its partial episodes with it -- the
learner drops them anyway.
"""
from __future__ import annotations

import os
import signal
import struct
import sys
import time
import traceback

THREAD_ENV = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "NUMEXPR_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}
HEADER, HEADER_SIZE = "<ddiiiii", struct.calcsize("<ddiiiii")     # (format strings: shipped by value to Ray)
F_TERMINATED, F_TRUNCATED, F_UNSTABLE, F_RESTARTED = 1, 2, 4, 8

if __name__ == "__mimic_sampler_worker__":      # a worker process (the learner's env is untouched)
    os.environ.update(THREAD_ENV)                # the parent sets them at spawn too (BLAS loads early)
    # Ctrl-C reaches the whole process group: the learner handles it and closes us (no tracebacks)
    signal.signal(signal.SIGINT, signal.SIG_IGN)

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402


def episode_seed(seed: int, index: int) -> int:
    """= mimic.learning.sampler.episode_seed (tested equal); workers derive seeds themselves."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]).generate_state(1)[0])


def _term_values(terms, names: list):
    """info["reward_terms"] of one env (dict or sequence) -> (values f64[T], names)."""
    if isinstance(terms, dict):
        if not names:
            names[:] = [str(k) for k in terms]
        return np.array([float(terms.get(k, 0.0)) for k in names], dtype=np.float64)
    v = np.asarray(terms, dtype=np.float64).reshape(-1)
    if not names:
        names[:] = [str(i) for i in range(v.size)]
    return v


class EpisodeRecorder:
    """The running episodes of K env slots, stored row by row into arrays that grow by doubling
    (no per-step allocation): obs[k, :L+1], actions[k, :L], rewards[k, :L], reward-term sums[k].

    Rewards are stored as float32 and term sums accumulated in float64 step by step, exactly as
    SerialSampler does (same values, same summation order)."""

    def __init__(self, K: int, obs_dim: int, act_shape: tuple, act_dtype, capacity: int = 64):
        self.K, self.D, self.act_shape, self.act_dtype = K, obs_dim, tuple(act_shape), np.dtype(act_dtype)
        self.length = np.zeros(K, np.int64)
        self.sums = np.zeros((K, 0), np.float64)
        self._alloc(capacity)

    def _alloc(self, cap: int) -> None:
        old = getattr(self, "obs", None)
        self.cap = cap
        obs = np.zeros((self.K, cap + 1, self.D), np.float32)
        actions = np.zeros((self.K, cap) + self.act_shape, self.act_dtype)
        rewards = np.zeros((self.K, cap), np.float32)
        if old is not None:
            n = self.rewards.shape[1]
            obs[:, :n + 1], actions[:, :n], rewards[:, :n] = self.obs, self.actions, self.rewards
        self.obs, self.actions, self.rewards = obs, actions, rewards

    def begin(self, slots: np.ndarray, first_obs: np.ndarray) -> None:
        """New episodes in ``slots`` (indices), starting at ``first_obs`` (rows of these slots)."""
        self.length[slots] = 0
        self.sums[slots] = 0.0
        self.obs[slots, 0] = first_obs

    def record(self, slots, actions, rewards, terms, next_obs) -> None:
        """One step of the episodes in ``slots``: the actions taken (as the policy gave them,
        before clipping), rewards, reward terms (rows of these slots) and the next observations."""
        t = self.length[slots]
        if t.size and int(t.max()) >= self.cap:
            self._alloc(2 * self.cap)
        self.actions[slots, t] = actions
        self.rewards[slots, t] = rewards
        if terms.shape[1] != self.sums.shape[1]:          # names learnt at the first step
            self.sums = np.zeros((self.K, terms.shape[1]), np.float64)
        if terms.shape[1]:
            self.sums[slots] += terms
        self.length[slots] = t + 1
        self.obs[slots, t + 1] = next_obs

    def pack(self, k: int) -> bytes:
        """Episode ``k`` in the wire format (see the module docstring)."""
        L = int(self.length[k])
        return b"".join((struct.pack("<ii", k, L), self.obs[k, :L + 1].tobytes(), self.actions[k, :L].tobytes(),
                         self.rewards[k, :L].tobytes(), self.sums[k].tobytes()))


class EnvGroup:
    """K envs; ``reset(mask, seeds, total_samples)`` and ``step(actions, active)`` on arrays."""

    def __init__(self, env_id, env_kwargs: dict, num_envs: int, worker_seed: int = 0):
        import random
        random.seed(worker_seed)
        np.random.seed(worker_seed % 2**32)        # for envs that use the global RNG
        self.K = int(num_envs)
        env_kwargs = dict(env_kwargs or {})
        spec = env_id
        if isinstance(env_id, str):
            try:
                spec = gym.spec(env_id)
            except Exception:            # "module:Id" and friends: let gym.make resolve it
                spec = None
        self.venv = None
        self.envs: list = []
        if spec is not None and getattr(spec, "vector_entry_point", None) is not None:
            try:
                venv = gym.make_vec(spec, num_envs=self.K, vectorization_mode="vector_entry_point",
                                    autoreset_mode="Disabled", **env_kwargs)
            except TypeError as e:             # no autoreset_mode option (e.g. CartPoleVectorEnv)
                if "autoreset_mode" not in str(e):
                    raise
                venv = None
            if venv is not None:
                mode = getattr(venv, "metadata", {}).get("autoreset_mode")
                if getattr(mode, "value", mode) != "Disabled":
                    venv.close()
                    venv = None
            self.venv = venv
        if self.venv is None:
            self.envs = [gym.make(spec if spec is not None else env_id, **env_kwargs) for _ in range(self.K)]
            obs_space, act_space = self.envs[0].observation_space, self.envs[0].action_space
            for i, e in enumerate(self.envs):
                e.action_space.seed(worker_seed + i)
        else:
            obs_space, act_space = self.venv.single_observation_space, self.venv.single_action_space
            self.venv.action_space.seed(worker_seed)
        self.observation_space, self.action_space = obs_space, act_space
        self.obs_dim = int(np.prod(obs_space.shape))
        self.discrete = isinstance(act_space, gym.spaces.Discrete)
        if self.discrete:
            self.act_shape, self.act_dtype = (), np.dtype(np.int64)
            self._low = self._high = None
        else:
            self.act_shape, self.act_dtype = tuple(act_space.shape), np.dtype(act_space.dtype)
            self._low, self._high = act_space.low, act_space.high
        names = getattr(self.venv.unwrapped, "reward_term_names", None) if self.venv is not None else None
        self.term_names: list = [str(n) for n in names] if names is not None else []
        self.obs = np.zeros((self.K, self.obs_dim), np.float32)
        self.reward = np.zeros(self.K, np.float64)
        self.flags = np.zeros(self.K, np.uint8)
        self.terms = np.zeros((self.K, len(self.term_names)), np.float64)
        self.recorder = EpisodeRecorder(self.K, self.obs_dim, self.act_shape, self.act_dtype)
        self.episodes: list = []         # episodes (packed) that ended in the last step

    def meta(self) -> dict:
        return {"num_envs": self.K, "obs_dim": self.obs_dim, "observation_space": self.observation_space,
                "action_space": self.action_space, "vectorized": self.venv is not None, "pid": os.getpid(),
                "host": os.uname().nodename, "torch_loaded": "torch" in sys.modules}

    # ------------------------------------------------------------------ core
    def reset(self, mask, seeds, total_samples: int) -> np.ndarray:
        """Resets the envs in ``mask`` (their episodes start being recorded)."""
        mask = np.asarray(mask, dtype=bool)
        options = {"total_samples": int(total_samples)}
        if self.venv is not None:
            seed_list = [int(seeds[i]) if mask[i] else None for i in range(self.K)]
            obs, _ = self.venv.reset(seed=seed_list, options={**options, "reset_mask": mask})
            obs = np.asarray(obs, dtype=np.float32).reshape(self.K, -1)
            self.obs[mask] = obs[mask]
        else:
            for i in np.flatnonzero(mask):
                o, _ = self.envs[i].reset(seed=int(seeds[i]), options=dict(options))
                self.obs[i] = np.asarray(o, dtype=np.float32).reshape(-1)
        slots = np.flatnonzero(mask)
        self.recorder.begin(slots, self.obs[slots])
        return self.obs

    def step(self, actions, active, restart=None, seed=0, indices=None, total_samples=0):
        """Steps the active envs (a vector env gets all K rows: idle rows get in-bounds dummies,
        which a vector env in autoreset mode Disabled need not simulate, as mimic's does not) and
        records the transitions; ``self.episodes`` = the episodes that ended, packed, slot order.

        Envs in ``restart`` whose episode ends are reset at once with the seed of episode
        ``indices[k]`` (flag F_RESTARTED; ``obs[k]`` is then the new episode's first observation)
        -- no extra round trip for resets."""
        active = np.asarray(active, dtype=bool)
        acts = np.asarray(actions, dtype=self.act_dtype).reshape((self.K,) + self.act_shape)
        self._step(acts, active)
        slots = np.flatnonzero(active)
        self.recorder.record(slots, acts[slots], self.reward[slots], self.terms[slots], self.obs[slots])
        ended = active & ((self.flags & (F_TERMINATED | F_TRUNCATED)) != 0)
        self.episodes = [self.recorder.pack(k) for k in np.flatnonzero(ended)]
        if restart is not None:
            ended &= np.asarray(restart, bool)
            if ended.any():
                seeds = np.zeros(self.K, np.uint64)
                for k in np.flatnonzero(ended):
                    seeds[k] = episode_seed(seed, int(indices[k]))
                self.reset(ended, seeds, total_samples)
                self.flags[ended] |= F_RESTARTED
        return self.obs, self.reward, self.flags, self.terms

    def _step(self, acts, active):
        if not self.discrete:
            acts = np.clip(acts, self._low, self._high)
        self.flags[:] = 0
        self.reward[:] = 0.0
        if self.venv is not None:
            obs, rew, term, trunc, infos = self.venv.step(acts)
            self.obs[:] = np.asarray(obs, dtype=np.float32).reshape(self.K, -1)
            self.reward[:] = rew
            self.flags |= np.asarray(term, bool).astype(np.uint8) * F_TERMINATED
            self.flags |= np.asarray(trunc, bool).astype(np.uint8) * F_TRUNCATED
            if "sim_unstable" in infos:
                self.flags |= np.asarray(infos["sim_unstable"], bool).astype(np.uint8) * F_UNSTABLE
            terms = infos.get("reward_terms")
            if terms is not None:
                if isinstance(terms, dict):
                    if not self.term_names:
                        self.term_names = [str(k) for k in terms]
                    terms = np.stack([np.asarray(terms[k], np.float64) for k in self.term_names], axis=1)
                terms = np.asarray(terms, dtype=np.float64).reshape(self.K, -1)
                if not self.term_names:
                    self.term_names = [str(i) for i in range(terms.shape[1])]
                self.terms = terms
        else:
            for i in np.flatnonzero(active):
                a = int(acts[i]) if self.discrete else acts[i]
                o, r, te, tr, info = self.envs[i].step(a)
                self.obs[i] = np.asarray(o, dtype=np.float32).reshape(-1)
                self.reward[i] = float(r)
                self.flags[i] = (F_TERMINATED if te else 0) | (F_TRUNCATED if tr else 0) | \
                    (F_UNSTABLE if isinstance(info, dict) and info.get("sim_unstable") else 0)
                terms = info.get("reward_terms") if isinstance(info, dict) else None
                if terms is not None:
                    v = _term_values(terms, self.term_names)
                    if self.terms.shape[1] != v.size:
                        self.terms = np.zeros((self.K, v.size), np.float64)
                    self.terms[i] = v

    def close(self) -> None:
        for e in ([self.venv] if self.venv is not None else self.envs):
            try:
                e.close()
            except Exception:
                pass


# ---------------------------------------------------------------------- multiprocessing loop
AUTO_VECTOR_ENVS = 16     # envs per worker when not given: vectorised env (2 pipelined groups of 8) ...
AUTO_PLAIN_ENVS = 1       # ... or a plain gym.make env (no shared work to amortise; keeps batches small)


def build_groups(env_id, env_kwargs, num_envs, worker_seed, groups) -> list:
    """The worker's env groups; ``num_envs=None``: AUTO_VECTOR_ENVS if the id has a vectorised
    env supporting caller-driven resets, else AUTO_PLAIN_ENVS."""
    if num_envs is None:
        sizes = group_sizes(AUTO_VECTOR_ENVS, groups)
        first = EnvGroup(env_id, env_kwargs, sizes[0], worker_seed)
        if first.venv is None:
            first.close()
            sizes = group_sizes(AUTO_PLAIN_ENVS, groups)
            first = EnvGroup(env_id, env_kwargs, sizes[0], worker_seed)
        return [first] + [EnvGroup(env_id, env_kwargs, k, worker_seed + 7919 * g)
                          for g, k in enumerate(sizes) if g > 0]
    return [EnvGroup(env_id, env_kwargs, k, worker_seed + 7919 * g)
            for g, k in enumerate(group_sizes(num_envs, groups))]


def group_sizes(num_envs: int, groups: int) -> list[int]:
    """How ``num_envs`` envs split into ``groups`` alternately stepped groups."""
    groups = max(1, min(int(groups), int(num_envs)))
    return [num_envs // groups + (g < num_envs % groups) for g in range(groups)]


def serve(conn, env_id, env_kwargs, num_envs, worker_seed, groups=1) -> None:
    """Worker process main loop: handshake, then raw-bytes requests until b"Q" or EOF.

    The envs form ``groups`` groups (one vector env each); requests name a group and are
    served in arrival order, so while this worker steps one group the learner can already
    queue the next request for another (pipelining: the worker does not wait for the learner)."""
    try:
        envs = build_groups(env_id, env_kwargs, num_envs, worker_seed, groups)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        return
    conn.send(("ready", {**envs[0].meta(), "num_envs": sum(e.K for e in envs), "group_sizes": [e.K for e in envs]}))
    sent_names = [0] * len(envs)
    while True:
        try:
            msg = conn.recv_bytes()
        except (EOFError, OSError, KeyboardInterrupt):
            break                                   # the learner is gone
        op = msg[:1]
        if op == b"Q":
            break
        g = msg[1]
        try:
            group = envs[g]
            K = group.K
            t0, c0 = time.perf_counter(), time.process_time()
            total, seed = struct.unpack_from("<qQ", msg, 2)
            indices = np.frombuffer(msg, np.uint64, K, 18)
            episodes = ()
            if op == b"S":
                active = np.frombuffer(msg, np.uint8, K, 18 + 8 * K)
                restart = np.frombuffer(msg, np.uint8, K, 18 + 9 * K)
                actions = np.frombuffer(msg, group.act_dtype, offset=18 + 10 * K)
                obs, _, flags, terms = group.step(actions, active, restart, seed, indices, total)
                episodes = group.episodes
            elif op == b"R":
                mask = np.frombuffer(msg, np.uint8, K, 18 + 8 * K)
                seeds = np.array([episode_seed(seed, int(indices[k])) if mask[k] else 0 for k in range(K)],
                                 dtype=np.uint64)
                obs = group.reset(mask, seeds, total)
                flags, terms = group.flags * 0, group.terms
            else:
                raise ValueError(f"unknown request {op!r}")
            dt, dc = time.perf_counter() - t0, time.process_time() - c0
            names = b""
            if len(group.term_names) != sent_names[g] and terms.shape[1]:
                names = "\0".join(group.term_names).encode()
                sent_names[g] = len(group.term_names)
            reply = [b"N" if names else b"O",
                     struct.pack(HEADER, dt, dc, g, K, group.recorder.sums.shape[1], len(names), len(episodes)),
                     names, obs.tobytes(), flags.tobytes(), *episodes]
            conn.send_bytes(b"".join(reply))
        except Exception:
            try:
                conn.send_bytes(b"E" + bytes([g]) + traceback.format_exc().encode())
            except Exception:
                break
    for group in envs:
        group.close()
    try:
        conn.close()
    except Exception:
        pass


# ---------------------------------------------------------------------- Ray actor
def set_nodelay(conn) -> None:
    """TCP_NODELAY on a multiprocessing Connection over TCP (small request/reply messages)."""
    import socket
    try:
        s = socket.socket(fileno=os.dup(conn.fileno()))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.close()
    except OSError:
        pass


class EnvActor:
    """The Ray worker: Ray places and supervises it; the hot path is the SAME ``serve`` loop,
    over a TCP connection back to the learner (authenticated with a per-sampler key)."""

    def serve_socket(self, address, authkey: bytes, token: str, env_id, env_kwargs, num_envs, worker_seed,
                     groups=1):
        from multiprocessing.connection import Client
        os.environ.update(THREAD_ENV)
        conn = Client(tuple(address), family="AF_INET", authkey=authkey)
        set_nodelay(conn)
        conn.send(("hello", token))
        serve(conn, env_id, env_kwargs, num_envs, worker_seed, groups)
        return "closed"


if __name__ == "__mimic_sampler_worker__":        # executed by path in a worker process
    serve(**_SERVE_ARGS)  # noqa: F821  (injected by runpy.run_path init_globals)
