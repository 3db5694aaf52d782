"""The FIFO replay buffer of whole episodes (:class:`mimic.sampling.Episode`), and their flat concatenation."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from mimic.learning.checkpoint import episode_from_state, episode_state
from mimic.sampling.episode import Episode


@dataclass
class FlatBatch:
    """The buffer's episodes concatenated: N steps, E episodes."""

    obs: np.ndarray  # [N, obs_dim]
    actions: np.ndarray  # [N, act_dim] or [N]
    rewards: np.ndarray  # [N]
    episode_end: np.ndarray  # [N] bool, True on the last step of each episode
    final_obs: np.ndarray  # [E, obs_dim]
    terminated: np.ndarray  # [E] bool
    truncated: np.ndarray  # [E] bool
    end_index: np.ndarray  # [E] int, flat index of each episode's last step
    explored: np.ndarray  # [N] bool, False where the action was the policy's mode (not drawn)

    def __len__(self) -> int:
        return len(self.rewards)


def flatten_episodes(episodes: Iterable[Episode]) -> FlatBatch:
    episodes = list(episodes)
    assert episodes, "no episodes"
    lengths = np.array([len(e) for e in episodes])
    end_index = np.cumsum(lengths) - 1
    episode_end = np.zeros(int(lengths.sum()), dtype=bool)
    episode_end[end_index] = True
    return FlatBatch(
        obs=np.concatenate([e.obs for e in episodes]),
        actions=np.concatenate([e.actions for e in episodes]),
        rewards=np.concatenate([e.rewards for e in episodes]),
        episode_end=episode_end,
        final_obs=np.stack([e.final_obs for e in episodes]),
        terminated=np.array([e.terminated for e in episodes], dtype=bool),
        truncated=np.array([e.truncated for e in episodes], dtype=bool),
        end_index=end_index,
        explored=np.concatenate([np.ones(len(e), bool) if e.explored is None else e.explored for e in episodes]),
    )


class ReplayBuffer:
    """FIFO over the most recent ``capacity`` samples, kept as whole episodes.

    Adding episodes evicts the oldest episodes until at most ``capacity`` samples
    remain (the newest episode is always kept, even if longer than capacity).
    """

    def __init__(self, capacity: int):
        assert capacity > 0
        self.capacity = int(capacity)
        self.episodes: deque[Episode] = deque()
        self.num_samples = 0  # samples currently stored
        self.total_added = 0  # samples ever added

    def __len__(self) -> int:
        return self.num_samples

    def add(self, episodes: Iterable[Episode]) -> None:
        for ep in episodes:
            assert len(ep) > 0, "empty episode"
            self.episodes.append(ep)
            self.num_samples += len(ep)
            self.total_added += len(ep)
        while self.num_samples > self.capacity and len(self.episodes) > 1:
            self.num_samples -= len(self.episodes.popleft())

    def clear(self) -> None:
        self.episodes.clear()
        self.num_samples = 0

    def flat(self) -> FlatBatch:
        return flatten_episodes(self.episodes)

    def state_dict(self) -> dict[str, Any]:
        return {
            "capacity": self.capacity,
            "total_added": self.total_added,
            "episodes": [episode_state(e) for e in self.episodes],
        }

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.clear()
        self.capacity = int(s["capacity"])
        self.episodes.extend(episode_from_state(e) for e in s["episodes"])
        self.num_samples = sum(len(e) for e in self.episodes)
        self.total_added = int(s["total_added"])
