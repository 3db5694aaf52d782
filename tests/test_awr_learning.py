"""Learning checks.  The slow one: CartPole-v1 reaches test return 475 within 150k samples."""

import time

import gymnasium as gym
import numpy as np
import pytest

from mimic.cli.argfile import parse_args
from mimic.learning import AWR


def test_continuous_iteration_smoke():
    """Pendulum (Box actions, time-limit ends only): a few cheap iterations give finite stats."""
    s = parse_args(
        [
            "--arg_file",
            "args/gym_pendulum.txt",
            "--samples_per_iter",
            "400",
            "--actor_steps",
            "20",
            "--critic_steps",
            "20",
        ]
    )
    agent = AWR(gym.make(s.env_id), s.agent, seed=0, verbose=0)
    for _ in range(2):
        row = agent.train_iteration()
    assert row["Samples"] == 800 and row["Train_Episode_Length"] == 200
    for k in ("Value_Loss", "Policy_Loss", "Adv_Mean", "Adv_Std", "Weight_Mean"):
        assert np.isfinite(row[k]), k
    a, _ = agent.predict(np.zeros(3, np.float32))
    assert a.shape == (1,)


@pytest.mark.slow
def test_cartpole_reaches_475_within_150k_samples():
    s = parse_args(["--arg_file", "args/gym_cartpole.txt", "--seed", "0"])
    agent = AWR(gym.make(s.env_id), s.agent, eval_env=gym.make(s.env_id), seed=0, verbose=1)
    solved_at = []

    def stop_when_solved(a, row):
        if row.get("Test_Return") is not None and row["Test_Return"] >= 475:
            solved_at.append(row["Samples"])
            return False

    t0 = time.time()
    agent.learn(150_000, test_every=2, test_episodes=10, callback=stop_when_solved)
    print(f"CartPole: test return >= 475 after {solved_at} samples, {time.time() - t0:.0f}s")
    assert solved_at and solved_at[0] <= 150_000
