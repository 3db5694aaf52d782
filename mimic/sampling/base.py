"""What the learner collects with: the :class:`Sampler` interface.

    sampler.collect(act_fn, min_samples, total_samples) -> list[Episode]

* ``act_fn`` is BATCHED: obs [n, obs_dim] float32 -> actions [n, act_dim] (Box, env
  units) or [n] ints (Discrete).  A parallel sampler batches the requests of its workers.
  It may return ``(actions, explored)`` instead, ``explored`` [n] bool: which actions were drawn
  from the policy's distribution (True) rather than taken at its mode (False); every episode of
  that collect then carries its steps' flags (``Episode.explored``).
* Whole episodes only (official AWR semantics): new episodes are started while
  fewer than ``min_samples`` steps have been taken, and every started episode is
  run to its end, so a batch has >= min_samples steps.
* Every reset gets ``options={"total_samples": <global samples so far>}`` (the
  imitation env anneals its episode length with it; other envs ignore it) and the
  seed of its episode index, :func:`mimic.sampling.episode.episode_seed`.  Because episodes
  never straddle iterations, (seed, episode_count) is the whole sampler state:
  a resumed run continues with the same, or at least fresh, seeds, whatever the worker layout.
* Box actions are clipped to finite bounds before ``env.step``; the unclipped
  action is what is stored (it is what the policy sampled).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Callable, Optional, Union

import numpy as np

from mimic.sampling.episode import Episode

ActFn = Callable[[np.ndarray], Union[np.ndarray, tuple[np.ndarray, np.ndarray]]]


def split_act(out) -> tuple[np.ndarray, Optional[np.ndarray]]:
    """``act_fn``'s reply as (actions, explored flags or None)."""
    if isinstance(out, tuple):
        actions, explored = out
        return np.asarray(actions), np.asarray(explored, dtype=bool).reshape(-1)
    return np.asarray(out), None


class Sampler(ABC):
    """Collects whole episodes for a learner; its state is (seed, episode_count)."""

    seed: int
    episode_count: int  # episode indices used so far (the next reset's seed comes from it)
    num_workers: int = 1  # processes that simulate (1: this one)

    @abstractmethod
    def collect(
        self, act_fn: ActFn, min_samples: int = 0, total_samples: int = 0, num_episodes: Optional[int] = None
    ) -> list[Episode]:
        """Whole episodes until >= ``min_samples`` steps (or exactly ``num_episodes`` episodes)."""

    @abstractmethod
    def close(self) -> None:
        """Ends the envs (and worker processes) this sampler owns."""

    def log_stats(self) -> dict[str, Any]:
        """Scalars of the last collect for the learner's iteration row (none for in-process sampling)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "episode_count": self.episode_count}

    def load_state_dict(self, s: dict[str, Any]) -> None:
        self.seed, self.episode_count = int(s["seed"]), int(s["episode_count"])
