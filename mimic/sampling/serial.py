"""In-process sampling: :class:`SerialSampler` steps one or several envs together, and
:func:`evaluate` runs test episodes with fixed seeds."""

from __future__ import annotations

from typing import Optional, Sequence, Union

import gymnasium as gym
import numpy as np

from mimic.sampling.base import ActFn, Sampler, split_act
from mimic.sampling.episode import Episode, episode_seed


def _to_env_action(space: gym.Space, a: np.ndarray):
    if isinstance(space, gym.spaces.Discrete):
        return int(a)
    a = np.asarray(a, dtype=space.dtype).reshape(space.shape)
    return np.clip(a, space.low, space.high)


class _EpisodeBuilder:
    def __init__(self, obs):
        self.obs, self.actions, self.rewards, self.info = [obs], [], [], {}
        self.explored: list[bool] = []

    def step(self, action, obs, reward, info, explored: Optional[bool] = None):
        self.actions.append(action)
        if explored is not None:
            self.explored.append(explored)
        self.rewards.append(reward)
        self.obs.append(obs)
        terms = info.get("reward_terms") if isinstance(info, dict) else None
        if isinstance(terms, dict):
            for k, v in terms.items():
                try:
                    self.info[f"reward_terms/{k}"] = self.info.get(f"reward_terms/{k}", 0.0) + float(v)
                except (TypeError, ValueError):
                    pass

    def finish(self, terminated: bool, truncated: bool, discrete: bool) -> Episode:
        obs = np.asarray(self.obs, dtype=np.float32)
        actions = np.asarray(self.actions, dtype=np.int64 if discrete else np.float32)
        return Episode(
            obs=obs[:-1],
            actions=actions,
            rewards=np.asarray(self.rewards, dtype=np.float32),
            final_obs=obs[-1],
            terminated=bool(terminated),
            truncated=bool(truncated and not terminated),
            info=self.info,
            explored=np.asarray(self.explored, dtype=bool) if self.explored else None,
        )


def _flat_obs(obs) -> np.ndarray:
    return np.asarray(obs, dtype=np.float32).reshape(-1)


class SerialSampler(Sampler):
    """Steps ``envs`` (one or several) together, in this process."""

    def __init__(self, envs: Union[gym.Env, Sequence[gym.Env]], seed: int = 0, episode_count: int = 0):
        self.envs = list(envs) if isinstance(envs, (list, tuple)) else [envs]
        self.seed = int(seed)
        self.episode_count = int(episode_count)  # episodes started so far (seeds the next reset)
        self.discrete = isinstance(self.envs[0].action_space, gym.spaces.Discrete)

    def _reset(self, env: gym.Env, total_samples: int) -> np.ndarray:
        obs, _ = env.reset(
            seed=episode_seed(self.seed, self.episode_count), options={"total_samples": int(total_samples)}
        )
        self.episode_count += 1
        return _flat_obs(obs)

    def collect(
        self, act_fn: ActFn, min_samples: int = 0, total_samples: int = 0, num_episodes: Optional[int] = None
    ) -> list[Episode]:
        """Whole episodes until >= ``min_samples`` steps (or exactly ``num_episodes`` episodes)."""
        n = len(self.envs)
        builders: list[Optional[_EpisodeBuilder]] = [None] * n
        order: list[Optional[int]] = [None] * n  # start rank of the running episode
        done_eps: list[tuple[int, Episode]] = []
        steps = started = 0

        def want_more() -> bool:
            return (num_episodes is None and steps < min_samples) or (
                num_episodes is not None and started < num_episodes
            )

        while True:
            for i, env in enumerate(self.envs):
                if builders[i] is None and want_more():
                    builders[i] = _EpisodeBuilder(self._reset(env, total_samples + steps))
                    order[i] = started
                    started += 1
            active = [i for i in range(n) if builders[i] is not None]
            if not active:
                break
            obs = np.stack([builders[i].obs[-1] for i in active])
            actions, explored = split_act(act_fn(obs))
            for j, i in enumerate(active):
                a = actions[j]
                next_obs, r, terminated, truncated, info = self.envs[i].step(
                    _to_env_action(self.envs[i].action_space, a)
                )
                flag = None if explored is None else bool(explored[j])
                builders[i].step(a, _flat_obs(next_obs), float(r), info, flag)
                steps += 1
                if terminated or truncated:
                    done_eps.append((order[i], builders[i].finish(terminated, truncated, self.discrete)))
                    builders[i] = None
        done_eps.sort(key=lambda x: x[0])
        return [ep for _, ep in done_eps]

    def close(self) -> None:
        for env in self.envs:
            env.close()


def evaluate(env: gym.Env, act_fn: ActFn, num_episodes: int, seed: int, total_samples: int = 0) -> list[Episode]:
    """``num_episodes`` episodes with FIXED seeds (the same every call -> comparable test returns)."""
    return SerialSampler(env, seed=seed).collect(act_fn, total_samples=total_samples, num_episodes=num_episodes)
