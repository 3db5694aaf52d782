"""``late_action_std``: the exploration std drops at a sample count, the actor's step with it, and a
resumed agent picks both up from its counters."""

import math

import gymnasium as gym
import numpy as np
import pytest
import torch

from mimic.cli.argfile import parse_args
from mimic.learning import AWR, AWRConfig
from mimic.learning.config import ConfigError


def _agent(**kw) -> AWR:
    cfg = AWRConfig(samples_per_iter=200, actor_steps=2, critic_steps=2, action_std=0.2, actor_lr=1e-3, **kw)
    return AWR(gym.make("Pendulum-v1"), cfg, seed=0, verbose=0)


def _collected_noise(agent: AWR) -> float:
    """Std of collected (normalised) actions around the collecting policy's mean, on real Pendulum states."""
    agent.sync_collect_policy()
    obs = np.random.default_rng(0).uniform(-1, 1, size=(4000, 3)).astype(np.float32)
    a = (agent.collect_act(obs) - agent.action_mean) / agent.action_std
    mu = (agent.act(obs, deterministic=True) - agent.action_mean) / agent.action_std
    return float(np.std(a - mu))


def test_std_and_actor_step_drop_at_the_sample_count_and_survive_a_resume(tmp_path):
    agent = _agent(late_action_std=0.05, late_action_std_samples=400)
    assert agent.exploration_std() == 0.2 and _collected_noise(agent) == pytest.approx(0.2, rel=0.05)
    agent.train_iteration()  # 200 samples: still before the switch
    assert agent.total_samples < 400 and agent.exploration_std() == 0.2
    assert agent.actor_optimizer.param_groups[0]["lr"] == pytest.approx(1e-3)
    while agent.total_samples < 400:
        agent.train_iteration()
    assert agent.exploration_std() == 0.05
    assert torch.exp(agent.actor.log_std).numpy() == pytest.approx(np.full(1, 0.05))
    assert agent.actor_optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 / 16)  # (0.05 / 0.2)^2
    assert _collected_noise(agent) == pytest.approx(0.05, rel=0.05)
    # the log-likelihood the regression maximises uses the new std
    mean, a = torch.zeros(1, 1), torch.full((1, 1), 0.05)
    assert agent.actor.log_prob_from_output(mean, a).item() == pytest.approx(
        -0.5 - math.log(0.05) - 0.5 * math.log(2 * math.pi), rel=1e-5
    )

    path = str(tmp_path / "model.pt")
    agent.save(path, save_buffer=True)
    resumed = AWR.from_checkpoint(path, gym.make("Pendulum-v1"), verbose=0)
    assert resumed.exploration_std() == 0.05
    assert resumed.actor_optimizer.param_groups[0]["lr"] == pytest.approx(1e-3 / 16)
    assert torch.equal(resumed.actor.log_std, agent.actor.log_std)


def test_without_the_option_nothing_changes():
    agent = _agent()
    for _ in range(3):
        agent.train_iteration()
    assert agent.exploration_std() == 0.2
    assert agent.actor_optimizer.param_groups[0]["lr"] == 1e-3
    assert torch.exp(agent.actor.log_std).item() == pytest.approx(0.2)


def test_a_list_of_steps_takes_each_in_turn():
    agent = _agent(late_action_std=[0.1, 0.05], late_action_std_samples=[200, 400])
    seen = {}
    while agent.total_samples < 600:
        seen[agent.total_samples] = (agent.exploration_std(), agent.actor_optimizer.param_groups[0]["lr"])
        agent.train_iteration()
    expected = {0: (0.2, 1e-3), 200: (0.1, 1e-3 / 4), 400: (0.05, 1e-3 / 16)}
    for samples, (std, lr) in seen.items():
        step = max(n for n in expected if n <= samples)
        assert std == expected[step][0] and lr == pytest.approx(expected[step][1]), samples
    assert set(expected) <= set(seen)  # Pendulum episodes are 200 steps: every step was seen


@pytest.mark.parametrize(
    "argv, std, samples",
    [
        (["--late_action_std", "0.025", "--late_action_std_samples", "1800000"], 0.025, 1800000),
        (
            ["--late_action_std", "0.025", "0.0125", "--late_action_std_samples", "1.8e6", "1.36e7"],
            [0.025, 0.0125],
            [1800000, 13600000],
        ),
        (
            ["--late_action_std", "[0.025, 0.0125]", "--late_action_std_samples", "[1800000, 13600000]"],
            [0.025, 0.0125],
            [1800000, 13600000],
        ),
    ],
)
def test_the_command_line_takes_one_step_or_several(argv, std, samples):
    agent = parse_args(["--env", "Pendulum-v1", "--max_samples", "1000"] + argv).agent
    assert agent.late_action_std == std and agent.late_action_std_samples == samples
    assert type(agent.late_action_std) is type(std)  # one step stays a scalar (recorded settings)


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"late_action_std": 0.0}, "late_action_std"),
        ({"late_action_std": [0.05, 0.0]}, "late_action_std"),
        ({"late_action_std_samples": -1}, "late_action_std_samples"),
        ({"late_action_std": [0.05, 0.02], "late_action_std_samples": 100}, "late_action_std_samples"),
        ({"late_action_std": [0.05, 0.02], "late_action_std_samples": [300, 100]}, "late_action_std_samples"),
    ],
)
def test_bad_values_name_the_key(kw, key):
    with pytest.raises(ConfigError, match=key):
        AWRConfig(**kw).validate()
