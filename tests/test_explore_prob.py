"""``explore_prob``: DeepMimic's exploration rate. A share of the collected actions is drawn from
the Gaussian, the rest is taken at its mean; the samplers carry each step's flag with its
episode, the buffer keeps it through a checkpoint, and the actor's regression ignores the
actions taken at the mean."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from mimic.learning import AWR, AWRConfig
from mimic.learning.config import ConfigError
from mimic.sampling import ParallelSampler, SerialSampler

HUMANOID = "mimic/Humanoid-v0"
KW = {"motion": "humanoid3d_spinkick", "mode": "train"}


def _flagging_act(action_space, seed=0):
    """An act_fn whose flags are written into the action as well (first component +-0.1 around
    the middle of its range), so each episode's flags can be checked against its own actions."""
    mid = ((action_space.low + action_space.high) / 2).astype(np.float32)
    rng = np.random.default_rng(seed)

    def act(obs):
        explored = rng.random(len(obs)) < 0.5
        a = np.repeat(mid[None], len(obs), axis=0)
        a[:, 0] += np.where(explored, 0.1, -0.1)
        return a, explored

    return act


@pytest.mark.parametrize("parallel", [False, True], ids=["serial", "parallel"])
def test_samplers_keep_each_steps_flag_with_its_episode(parallel):
    import mimic  # noqa: F401  (registers the env)

    if parallel:
        sampler = ParallelSampler(HUMANOID, KW, num_workers=2, envs_per_worker=2, seed=3, worker_timeout=30)
    else:
        sampler = SerialSampler([gym.make(HUMANOID, **KW) for _ in range(2)], seed=3)
    try:
        mid = (sampler.envs[0] if not parallel else sampler).action_space
        episodes = sampler.collect(_flagging_act(mid), min_samples=300)
        assert sum(len(e) for e in episodes) >= 300 and len(episodes) > 8  # slots reused for new episodes
        for e in episodes:
            assert e.explored is not None and e.explored.shape == (len(e),) and e.explored.dtype == bool
            np.testing.assert_array_equal(e.explored, e.actions[:, 0] > (mid.low[0] + mid.high[0]) / 2)
        share = np.mean(np.concatenate([e.explored for e in episodes]))
        assert 0.4 < share < 0.6
        # an act_fn that returns actions only: no flags
        plain = sampler.collect(lambda obs: _flagging_act(mid)(obs)[0], min_samples=50)
        assert all(e.explored is None for e in plain)
    finally:
        sampler.close()


def _agent(**kw) -> AWR:
    cfg = AWRConfig(
        samples_per_iter=400,
        actor_steps=20,
        critic_steps=5,
        action_std=0.2,
        actor_lr=1e-3,
        normalize_adv=True,
        schedule="sync",
        **kw,
    )
    return AWR(gym.make("Pendulum-v1"), cfg, seed=0, verbose=0)


def test_schedule_is_one_then_linear_then_constant():
    agent = _agent(explore_prob=0.2, explore_prob_start_samples=100, explore_prob_end_samples=300)
    got = [agent.explore_prob_at(s) for s in (0, 99, 100, 200, 300, 10_000)]
    assert got == pytest.approx([1.0, 1.0, 1.0, 0.6, 0.2, 0.2])
    step = _agent(explore_prob=0.5, explore_prob_start_samples=100, explore_prob_end_samples=100)
    assert [step.explore_prob_at(s) for s in (99, 100)] == [1.0, 0.5]
    assert _agent().explore_prob_at(10**9) == 1.0


def test_actions_at_the_mode_are_the_policys_mean_and_the_rest_are_drawn():
    agent = _agent(explore_prob=0.5)
    agent.sync_collect_policy()
    episodes, _ = agent._run_collect(0)
    obs = np.concatenate([e.obs for e in episodes])
    actions = np.concatenate([e.actions for e in episodes])[:, 0]
    explored = np.concatenate([e.explored for e in episodes])
    mean = agent.act(obs, deterministic=True)[:, 0]
    assert 0.4 < explored.mean() < 0.6
    np.testing.assert_allclose(actions[~explored], mean[~explored], rtol=0, atol=1e-5)
    noise = (actions[explored] - mean[explored]) / agent.action_std[0]
    assert np.std(noise) == pytest.approx(0.2, rel=0.15)  # the std, in normalised units


def _update_with(actions_at_mode: float, flags_all_true: bool = False) -> list:
    """Actor parameters after one update on a fixed buffer whose actions taken at the mode are
    replaced by ``actions_at_mode``."""
    agent = _agent(explore_prob=0.5)
    agent.sync_collect_policy()
    episodes, _ = agent._run_collect(0)
    for e in episodes:
        e.actions[~e.explored] = actions_at_mode
        if flags_all_true:
            e.explored = None
    agent.total_samples = sum(len(e) for e in episodes)
    agent.buffer.add(episodes)
    agent._record_normalizer(episodes)
    agent.update(agent.total_samples)
    return [p.detach().clone() for p in agent.actor.parameters()]


def test_the_actors_regression_ignores_actions_taken_at_the_mode():
    a, b = _update_with(-1.5), _update_with(1.5)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    # the same buffers without flags: the replaced actions do move the actor
    c, d = _update_with(-1.5, flags_all_true=True), _update_with(1.5, flags_all_true=True)
    assert not all(torch.equal(x, y) for x, y in zip(c, d))


def test_flags_survive_a_checkpoint_with_the_buffer(tmp_path):
    agent = _agent(explore_prob=0.5)
    agent.train_iteration()
    path = str(tmp_path / "model.pt")
    agent.save(path, save_buffer=True)
    resumed = AWR.from_checkpoint(path, gym.make("Pendulum-v1"), verbose=0)
    np.testing.assert_array_equal(resumed.buffer.flat().explored, agent.buffer.flat().explored)
    assert not resumed.buffer.flat().explored.all()
    assert resumed.explore_prob_at(resumed.total_samples) == 0.5


@pytest.mark.parametrize(
    "kw, key",
    [
        ({"explore_prob": 0.0}, "explore_prob"),
        ({"explore_prob": 1.5}, "explore_prob"),
        ({"explore_prob_start_samples": -1}, "explore_prob_start_samples"),
        ({"explore_prob_start_samples": 10, "explore_prob_end_samples": 5}, "explore_prob_end_samples"),
    ],
)
def test_bad_values_name_the_key(kw, key):
    with pytest.raises(ConfigError, match=key):
        AWRConfig(**kw).validate()
