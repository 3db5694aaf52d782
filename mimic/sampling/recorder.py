"""The running episodes of a worker's env slots, recorded in the worker.

Episodes are assembled in the worker, not in the learner: per step the learner only needs the
observations (for its next batched policy call) and the flags; an episode's arrays cross the
pipe once, when it ends.  That keeps the learner's per-sample work off the cores the workers
simulate on, for about a microsecond per sample in the worker (figures: bench/results/).  A worker
that dies takes its partial episodes with it -- the learner drops them anyway.
"""

from __future__ import annotations

import numpy as np

from mimic.sampling.protocol import encode_episode


class EpisodeRecorder:
    """The running episodes of K env slots, stored row by row into arrays that grow by doubling
    (no per-step allocation): obs[k, :L+1], actions[k, :L], rewards[k, :L], reward-term sums[k].

    Rewards are stored as float32 and term sums accumulated in float64 step by step, exactly as
    SerialSampler does (same values, same summation order)."""

    def __init__(self, K: int, obs_dim: int, act_shape: tuple, act_dtype, capacity: int = 64):
        self.K, self.D, self.act_shape, self.act_dtype = K, obs_dim, tuple(act_shape), np.dtype(act_dtype)
        self.length = np.zeros(K, np.int64)
        self.sums = np.zeros((K, 0), np.float64)
        self.obs = self.actions = self.rewards = None
        self._alloc(capacity)

    def _alloc(self, cap: int) -> None:
        self.cap = cap
        obs = np.zeros((self.K, cap + 1, self.D), np.float32)
        actions = np.zeros((self.K, cap) + self.act_shape, self.act_dtype)
        rewards = np.zeros((self.K, cap), np.float32)
        if self.obs is not None:
            n = self.rewards.shape[1]
            obs[:, : n + 1], actions[:, :n], rewards[:, :n] = self.obs, self.actions, self.rewards
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
        if terms.shape[1] != self.sums.shape[1]:  # names learnt at the first step
            self.sums = np.zeros((self.K, terms.shape[1]), np.float64)
        if terms.shape[1]:
            self.sums[slots] += terms
        self.length[slots] = t + 1
        self.obs[slots, t + 1] = next_obs

    def pack(self, k: int) -> bytes:
        """Slot ``k``'s episode as a protocol EPISODE."""
        L = int(self.length[k])
        return encode_episode(k, self.obs[k, : L + 1], self.actions[k, :L], self.rewards[k, :L], self.sums[k])
