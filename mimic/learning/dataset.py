"""Static datasets for fully off-policy AWR (paper section 5.4) and behavioural cloning.

A dataset is a ``.npz`` file of whole episodes:
    obs [N, obs_dim], actions [N, act_dim] (or [N] ints), rewards [N],
    episode_lengths [E], terminated [E], truncated [E], final_obs [E, obs_dim],
    meta (JSON string: env_id, env_kwargs, observation/action spaces, policy, seed, ...)
Record one with any batched policy (a checkpoint, a scripted controller, random):
    record_dataset(env, act_fn, num_samples, seed).save("data.npz")
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

import gymnasium as gym
import numpy as np

from mimic.learning.config import ConfigError
from mimic.learning.spaces import space_from_dict, space_to_dict
from mimic.sampling import Episode, SerialSampler


@dataclass
class Dataset:
    episodes: list[Episode]
    observation_space: dict[str, Any]
    action_space: dict[str, Any]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def num_samples(self) -> int:
        return sum(len(e) for e in self.episodes)

    def spaces(self) -> tuple[gym.Space, gym.Space]:
        return space_from_dict(self.observation_space), space_from_dict(self.action_space)

    def save(self, path: str) -> str:
        if not path.endswith(".npz"):
            path += ".npz"
        eps = self.episodes
        meta = dict(self.meta, observation_space=self.observation_space, action_space=self.action_space)
        arrays = dict(
            obs=np.concatenate([e.obs for e in eps]),
            actions=np.concatenate([e.actions for e in eps]),
            rewards=np.concatenate([e.rewards for e in eps]),
            episode_lengths=np.array([len(e) for e in eps], dtype=np.int64),
            terminated=np.array([e.terminated for e in eps], dtype=bool),
            truncated=np.array([e.truncated for e in eps], dtype=bool),
            final_obs=np.stack([e.final_obs for e in eps]),
            meta=np.array(json.dumps(meta)),
        )
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        tmp = os.path.join(d, f".tmp{os.getpid()}_{os.path.basename(path)}")
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str) -> "Dataset":
        """Read and validate a dataset; any problem is a :class:`DatasetError` naming the file and
        the array (missing, mis-shaped, inconsistent lengths, non-finite values, bad meta)."""
        if not os.path.exists(path):
            raise DatasetError(f"dataset '{path}': no such file")
        if not os.path.isfile(path):
            raise DatasetError(f"dataset '{path}': not a file")
        try:
            with np.load(path, allow_pickle=False) as z:
                missing = [k for k in ARRAYS if k not in z.files]
                if missing:
                    raise DatasetError(
                        f"dataset '{path}': no array {', '.join(missing)} (incomplete; "
                        f"record one with --record_dataset)"
                    )
                a = {k: z[k] for k in ARRAYS}
        except DatasetError:
            raise
        except Exception as e:  # zip / npy / pickle errors: not a dataset
            raise DatasetError(
                f"dataset '{path}': not a readable .npz dataset ({type(e).__name__}: "
                f"{(str(e).splitlines() or [''])[0][:120]})"
            ) from None
        meta = _check_arrays(path, a)
        lengths = a["episode_lengths"]
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        obs, actions, rewards = a["obs"], a["actions"], a["rewards"]
        episodes = [
            Episode(
                obs=obs[s : s + n],
                actions=actions[s : s + n],
                rewards=rewards[s : s + n],
                final_obs=a["final_obs"][i],
                terminated=bool(a["terminated"][i]),
                truncated=bool(a["truncated"][i]),
            )
            for i, (s, n) in enumerate(zip(starts, lengths))
        ]
        return cls(
            episodes=episodes,
            observation_space=meta.pop("observation_space"),
            action_space=meta.pop("action_space"),
            meta=meta,
        )


ARRAYS = ("obs", "actions", "rewards", "episode_lengths", "terminated", "truncated", "final_obs", "meta")


class DatasetError(ConfigError):
    """A dataset file that cannot be used; the message names the file and the array."""


def _check_arrays(path: str, a: dict[str, np.ndarray]) -> dict[str, Any]:
    """Shapes, lengths, finiteness and meta of a dataset's arrays; returns the parsed meta."""

    def bad(msg: str):
        raise DatasetError(f"dataset '{path}': {msg}")

    try:
        meta = json.loads(str(a["meta"]))
        obs_space = space_from_dict(meta["observation_space"])
        space_from_dict(meta["action_space"])  # it must parse too
    except Exception as e:
        bad(f"'meta' is not the JSON of a mimic dataset ({type(e).__name__}: {e})")
    lengths, obs = a["episode_lengths"], a["obs"]
    E = len(lengths)
    if lengths.ndim != 1 or E == 0 or lengths.dtype.kind not in "iu" or (lengths < 1).any():
        bad("'episode_lengths' must be a non-empty list of positive integers")
    N = int(lengths.sum())
    obs_dim = int(np.prod(obs_space.shape))
    if obs.ndim != 2 or obs.shape != (N, obs_dim):
        bad(f"'obs' has shape {obs.shape}, expected ({N}, {obs_dim}) (the episode lengths sum to {N})")
    if a["final_obs"].shape != (E, obs_dim):
        bad(f"'final_obs' has shape {a['final_obs'].shape}, expected ({E}, {obs_dim})")
    for k in ("actions", "rewards"):
        if len(a[k]) != N:
            bad(f"'{k}' has {len(a[k])} rows, expected {N}")
    for k in ("terminated", "truncated"):
        if a[k].shape != (E,):
            bad(f"'{k}' has shape {a[k].shape}, expected ({E},)")
    for k in ("obs", "actions", "rewards", "final_obs"):
        if a[k].dtype.kind not in "fiub":
            bad(f"'{k}' is not numeric ({a[k].dtype})")
        nonfinite = ~np.isfinite(a[k]) if a[k].dtype.kind == "f" else None
        if nonfinite is not None and nonfinite.any():
            row = int(np.argwhere(nonfinite)[0][0])
            bad(f"'{k}' row {row} is not finite ({a[k][row].ravel()[:4]}...)")
    return meta


def random_act_fn(action_space: gym.Space, seed: int = 0) -> Callable[[np.ndarray], np.ndarray]:
    rng = np.random.default_rng(seed)

    def act(obs: np.ndarray) -> np.ndarray:
        n = obs.shape[0]
        if isinstance(action_space, gym.spaces.Discrete):
            return action_space.start + rng.integers(0, action_space.n, size=n)
        low = np.where(np.isfinite(action_space.low), action_space.low, -1.0).reshape(-1)
        high = np.where(np.isfinite(action_space.high), action_space.high, 1.0).reshape(-1)
        return rng.uniform(low, high, size=(n, low.size)).astype(np.float32)

    return act


def record_dataset(
    env: gym.Env,
    act_fn: Callable[[np.ndarray], np.ndarray],
    num_samples: int,
    seed: int = 0,
    meta: Optional[dict[str, Any]] = None,
) -> Dataset:
    """Whole episodes from ``act_fn`` until >= num_samples steps."""
    episodes = SerialSampler(env, seed=seed).collect(act_fn, min_samples=num_samples)
    return Dataset(
        episodes=episodes,
        observation_space=space_to_dict(env.observation_space),
        action_space=space_to_dict(env.action_space),
        meta=dict(meta or {}, seed=seed),
    )
