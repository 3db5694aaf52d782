"""A worker's envs: K envs of one Gymnasium id, reset and stepped together on arrays.

An ``EnvGroup`` builds its envs from (EnvSpec or id, kwargs) with Gymnasium calls only: one
``make_vec(..., vectorization_mode="vector_entry_point", autoreset_mode="Disabled")`` when the
spec has a vector entry point that supports caller-driven resets (``reset(seed=[...],
options={"reset_mask": m})``), else K ``gym.make`` envs stepped in a loop (CartPole, ...).
A worker's envs form one or two groups that the learner steps alternately (``build_groups``).
"""

from __future__ import annotations

import os
import random
import sys

import gymnasium as gym
import numpy as np

from mimic.sampling.episode import episode_seed
from mimic.sampling.protocol import F_RESTARTED, F_TERMINATED, F_TRUNCATED, F_UNSTABLE, ActionLayout, WorkerInfo
from mimic.sampling.recorder import EpisodeRecorder

AUTO_VECTOR_ENVS = 16  # envs per worker when not given: vectorised env (2 pipelined groups of 8) ...
AUTO_PLAIN_ENVS = 1  # ... or a plain gym.make env (no shared work to amortise; keeps batches small)


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


def _spec(env_id):
    if not isinstance(env_id, str):
        return env_id
    try:
        return gym.spec(env_id)
    except Exception:  # "module:Id" and friends: let gym.make resolve it
        return None


def _vector_env(spec, num_envs: int, env_kwargs: dict):
    """The spec's vector env in autoreset mode Disabled, or None if it has none that supports it."""
    if spec is None or getattr(spec, "vector_entry_point", None) is None:
        return None
    try:
        venv = gym.make_vec(
            spec, num_envs=num_envs, vectorization_mode="vector_entry_point", autoreset_mode="Disabled", **env_kwargs
        )
    except TypeError as e:  # no autoreset_mode option (e.g. CartPoleVectorEnv)
        if "autoreset_mode" not in str(e):
            raise
        return None
    mode = getattr(venv, "metadata", {}).get("autoreset_mode")
    if getattr(mode, "value", mode) != "Disabled":
        venv.close()
        return None
    return venv


class EnvGroup:
    """K envs; ``reset(mask, seeds, total_samples)`` and ``step(actions, active)`` on arrays."""

    def __init__(self, env_id, env_kwargs: dict, num_envs: int, worker_seed: int = 0):
        random.seed(worker_seed)
        np.random.seed(worker_seed % 2**32)  # for envs that use the global RNG
        self.K = int(num_envs)
        env_kwargs = dict(env_kwargs or {})
        spec = _spec(env_id)
        self.venv = _vector_env(spec, self.K, env_kwargs)
        self.envs: list = []
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
        layout = ActionLayout.of(act_space)
        self.act_shape, self.act_dtype = layout.shape, layout.dtype
        self._low, self._high = (None, None) if self.discrete else (act_space.low, act_space.high)
        names = getattr(self.venv.unwrapped, "reward_term_names", None) if self.venv is not None else None
        self.term_names: list = [str(n) for n in names] if names is not None else []
        self.obs = np.zeros((self.K, self.obs_dim), np.float32)
        self.reward = np.zeros(self.K, np.float64)
        self.flags = np.zeros(self.K, np.uint8)
        self.terms = np.zeros((self.K, len(self.term_names)), np.float64)
        self.recorder = EpisodeRecorder(self.K, self.obs_dim, self.act_shape, self.act_dtype)
        self.episodes: list = []  # episodes (packed) that ended in the last step

    def info(self, group_sizes: list) -> WorkerInfo:
        """The READY message of a worker whose first group this is."""
        return WorkerInfo(
            sum(group_sizes),
            self.obs_dim,
            list(group_sizes),
            self.venv is not None,
            os.getpid(),
            os.uname().nodename,
            "torch" in sys.modules,
            self.observation_space,
            self.action_space,
        )

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
        if self.venv is not None:
            self._step_vector(acts)
        else:
            self._step_each(acts, active)
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

    def _step_vector(self, acts) -> None:
        if not self.discrete:
            acts = np.clip(acts, self._low, self._high)
        obs, rew, term, trunc, infos = self.venv.step(acts)
        self.obs[:] = np.asarray(obs, dtype=np.float32).reshape(self.K, -1)
        self.reward[:] = rew
        self.flags[:] = np.asarray(term, bool).astype(np.uint8) * F_TERMINATED
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

    def _step_each(self, acts, active) -> None:
        if not self.discrete:
            acts = np.clip(acts, self._low, self._high)
        self.flags[:] = 0
        self.reward[:] = 0.0
        for i in np.flatnonzero(active):
            a = int(acts[i]) if self.discrete else acts[i]
            o, r, te, tr, info = self.envs[i].step(a)
            self.obs[i] = np.asarray(o, dtype=np.float32).reshape(-1)
            self.reward[i] = float(r)
            self.flags[i] = (
                (F_TERMINATED if te else 0)
                | (F_TRUNCATED if tr else 0)
                | (F_UNSTABLE if isinstance(info, dict) and info.get("sim_unstable") else 0)
            )
            terms = info.get("reward_terms") if isinstance(info, dict) else None
            if terms is not None:
                v = _term_values(terms, self.term_names)
                if self.terms.shape[1] != v.size:
                    self.terms = np.zeros((self.K, v.size), np.float64)
                self.terms[i] = v

    def close(self) -> None:
        for e in [self.venv] if self.venv is not None else self.envs:
            try:
                e.close()
            except Exception:
                pass


def group_sizes(num_envs: int, groups: int) -> list[int]:
    """How ``num_envs`` envs split into ``groups`` alternately stepped groups."""
    groups = max(1, min(int(groups), int(num_envs)))
    return [num_envs // groups + (g < num_envs % groups) for g in range(groups)]


def build_groups(env_id, env_kwargs, num_envs, worker_seed, groups) -> list[EnvGroup]:
    """The worker's env groups; ``num_envs=None``: AUTO_VECTOR_ENVS if the id has a vectorised
    env supporting caller-driven resets, else AUTO_PLAIN_ENVS."""
    sizes = group_sizes(AUTO_VECTOR_ENVS if num_envs is None else num_envs, groups)
    first = EnvGroup(env_id, env_kwargs, sizes[0], worker_seed)
    if num_envs is None and first.venv is None:
        first.close()
        sizes = group_sizes(AUTO_PLAIN_ENVS, groups)
        first = EnvGroup(env_id, env_kwargs, sizes[0], worker_seed)
    return [first] + [EnvGroup(env_id, env_kwargs, k, worker_seed + 7919 * g) for g, k in enumerate(sizes) if g > 0]
