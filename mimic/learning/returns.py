"""Return targets over a flat buffer of whole episodes.

Layout (one row per env step t of every episode, episodes back to back):
    rewards[t]      r_t
    next_values[t]  V(s_{t+1}) for steps inside an episode.  On the LAST step of an
                    episode it is the bootstrap value of the end state s_T:
                      0          if the episode ended by failure (``terminated``)
                      V(s_T)     if it was cut by a time limit (``truncated``)
    episode_end[t]  True on the last step of each episode.

TD(lambda) (Sutton & Barto 12.1, as xbpeng/awr ``_compute_return``):
    R_t = r_t + gamma * ((1 - lambda) * V(s_{t+1}) + lambda * R_{t+1}),   R_T := V_T
so the last step gets R_{T-1} = r_{T-1} + gamma * V_T.  Monte-Carlo is lambda = 1
(still bootstrapping from V(s_T) at a time limit, which is the unbiased choice).
"""

from __future__ import annotations

import numpy as np


def td_lambda_returns(
    rewards: np.ndarray, next_values: np.ndarray, episode_end: np.ndarray, discount: float, td_lambda: float
) -> np.ndarray:
    rewards = np.asarray(rewards, dtype=np.float64)
    next_values = np.asarray(next_values, dtype=np.float64)
    episode_end = np.asarray(episode_end, dtype=bool)
    n = len(rewards)
    assert next_values.shape == (n,) and episode_end.shape == (n,)
    if n > 0:
        assert episode_end[-1], "the buffer must end with a complete episode"

    # Python floats in a plain loop: indexing numpy scalars one by one costs far more per element.
    r, v, end = rewards.tolist(), next_values.tolist(), episode_end.tolist()
    out = [0.0] * n
    g, lam = float(discount), float(td_lambda)
    next_return = 0.0
    for t in range(n - 1, -1, -1):
        if end[t]:
            next_return = v[t]  # R_T := V_T (0 after a fall, V(s_T) after a time limit)
        next_return = r[t] + g * ((1.0 - lam) * v[t] + lam * next_return)
        out[t] = next_return
    return np.asarray(out, dtype=np.float64)


def monte_carlo_returns(
    rewards: np.ndarray, next_values: np.ndarray, episode_end: np.ndarray, discount: float
) -> np.ndarray:
    return td_lambda_returns(rewards, next_values, episode_end, discount, 1.0)


def discounted_rewards_to_go(rewards: np.ndarray, episode_end: np.ndarray, discount: float) -> np.ndarray:
    """Plain discounted reward-to-go, no bootstrapping at all (used by nothing but tests/diagnostics)."""
    return td_lambda_returns(rewards, np.zeros(len(rewards)), episode_end, discount, 1.0)
