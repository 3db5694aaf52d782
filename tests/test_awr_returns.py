"""TD(lambda) / Monte-Carlo targets against hand-computed values; fall vs time-limit ends."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from mimic.learning import AWR, AWRConfig, monte_carlo_returns, td_lambda_returns
from mimic.learning.buffer import flatten_episodes
from mimic.sampling import Episode

G, LAM = 0.9, 0.5


def test_td_lambda_hand_computed_fall_then_time_limit():
    # episode A: 3 steps, ends by a FALL (terminated) -> V(s_T) = 0
    #   V(s0..s2) = 0.5, 1.0, 1.5
    #   R2 = 3 + .9*0                         = 3
    #   R1 = 2 + .9*(.5*1.5 + .5*3)           = 4.025
    #   R0 = 1 + .9*(.5*1.0 + .5*4.025)       = 3.26125
    # episode B: 2 steps, cut by the TIME LIMIT (truncated) -> bootstrap V(s_T) = 4
    #   V(s0, s1) = 2, 3
    #   R1 = 1 + .9*4                         = 4.6
    #   R0 = 1 + .9*(.5*3 + .5*4.6)           = 4.42
    rewards = np.array([1, 2, 3, 1, 1], dtype=float)
    next_values = np.array([1.0, 1.5, 0.0, 3.0, 4.0])
    end = np.array([0, 0, 1, 0, 1], dtype=bool)
    R = td_lambda_returns(rewards, next_values, end, G, LAM)
    np.testing.assert_allclose(R, [3.26125, 4.025, 3.0, 4.42, 4.6])


def test_same_episode_terminated_vs_truncated():
    rewards = np.array([1.0, 1.0])
    end = np.array([False, True])
    fall = td_lambda_returns(rewards, np.array([3.0, 0.0]), end, G, LAM)  # V(s_T) := 0
    limit = td_lambda_returns(rewards, np.array([3.0, 4.0]), end, G, LAM)  # V(s_T) = 4
    np.testing.assert_allclose(fall, [1 + 0.9 * (0.5 * 3 + 0.5 * 1), 1.0])  # [2.8, 1]
    np.testing.assert_allclose(limit, [4.42, 4.6])


def test_monte_carlo_and_one_step_limits():
    rewards = np.array([1, 2, 3], dtype=float)
    end = np.array([0, 0, 1], dtype=bool)
    nv = np.array([10.0, 20.0, 0.0])  # bootstrap values must be ignored by MC except at the end
    np.testing.assert_allclose(monte_carlo_returns(rewards, nv, end, G), [1 + 0.9 * 4.7, 4.7, 3.0])
    np.testing.assert_allclose(td_lambda_returns(rewards, nv, end, G, 0.0), [1 + 9.0, 2 + 0.0 + 18.0, 3.0])
    # MC still bootstraps at a time limit
    np.testing.assert_allclose(monte_carlo_returns(np.array([1.0]), np.array([5.0]), np.array([True]), G), [5.5])


def _const_value_agent(value: float, return_type="td_lambda") -> AWR:
    env = gym.make("CartPole-v1")
    cfg = AWRConfig(discount=G, td_lambda=LAM, return_type=return_type, normalize_adv=True)
    agent = AWR(env, cfg, seed=0, verbose=0)
    with torch.no_grad():  # V(s) == value everywhere
        agent.critic.head.weight.zero_()
        agent.critic.head.bias.fill_(value / agent.value_scale)
    return agent


@pytest.mark.parametrize("return_type", ["td_lambda", "mc"])
def test_agent_bootstraps_only_truncated_episodes(return_type):
    agent = _const_value_agent(2.0, return_type)
    obs = np.zeros((2, 4), np.float32)
    mk = lambda term, trunc: Episode(
        obs=obs,
        actions=np.zeros(2, np.int64),
        rewards=np.ones(2, np.float32),
        final_obs=np.zeros(4, np.float32),
        terminated=term,
        truncated=trunc,
    )
    data = flatten_episodes([mk(True, False), mk(False, True)])
    z = agent.obs_norm(torch.as_tensor(data.obs))
    zf = agent.obs_norm(torch.as_tensor(data.final_obs))
    R, V = agent.compute_returns(data, z, zf)
    lam = 1.0 if return_type == "mc" else LAM
    fall_last, limit_last = 1.0, 1.0 + G * 2.0
    expected = [
        1 + G * ((1 - lam) * 2 + lam * fall_last),
        fall_last,
        1 + G * ((1 - lam) * 2 + lam * limit_last),
        limit_last,
    ]
    np.testing.assert_allclose(R, expected, rtol=1e-6)
    np.testing.assert_allclose(V, 2.0, rtol=1e-6)
