"""One complete episode as numpy arrays, and the seed of every episode's reset."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import numpy as np


def episode_seed(seed: int, index: int) -> int:
    """The reset seed of episode ``index`` of a sampler seeded ``seed`` (every sampler, serial or
    parallel, and every worker derives it here), so (seed, episode count) is a sampler's whole state."""
    return int(np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(index)]).generate_state(1)[0])


@dataclass
class Episode:
    """One complete episode, as plain numpy arrays.

    obs        [T, obs_dim] float32   s_0 .. s_{T-1}
    actions    [T, act_dim] float32   env units (Box) -- or [T] int64 (Discrete)
    rewards    [T] float32
    final_obs  [obs_dim] float32      s_T (used to bootstrap V(s_T) when truncated)
    terminated True if the episode ended in a terminal state (fall): V(s_T) = 0
    truncated  True if it was cut by a time limit: bootstrap from V(s_T)
    info       optional per-episode sums, e.g. {"reward_terms/pose": 12.3}
    explored   [T] bool or None: True where the action was drawn from the policy's distribution,
               False where it was the policy's mode (None: every action was drawn)
    """

    obs: np.ndarray
    actions: np.ndarray
    rewards: np.ndarray
    final_obs: np.ndarray
    terminated: bool
    truncated: bool
    info: dict = field(default_factory=dict)
    explored: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.rewards)

    @property
    def ret(self) -> float:
        return float(np.sum(self.rewards, dtype=np.float64))
