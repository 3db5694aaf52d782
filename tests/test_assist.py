"""The annealed root assistant of training episodes (mimic.envs.assist), in real pybullet episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mimic  # noqa: F401  (registers the environments)
from mimic.sim.link_state import JOINT_POS


def make(**kw):
    kw.setdefault("motion", "humanoid3d_spinkick")
    kw.setdefault("pd_targets", "relative")
    kw.setdefault("anneal_samples", 0)
    return gym.make("mimic/Humanoid-v0", **kw)


def _open_loop_steps(env, seeds=range(6), limit=120):
    """Steps survived with action 0 (the clip, open loop) from each seed's random start."""
    a = np.zeros(env.action_space.shape)
    lengths = []
    for seed in seeds:
        env.reset(seed=seed)
        n = 0
        while n < limit:
            n += 1
            _, _, term, trunc, _ = env.step(a)
            if term or trunc:
                break
        lengths.append(n)
    return lengths


def test_the_assistant_holds_an_open_loop_character_up_for_longer():
    """Relative targets with action 0 fall within about a third of a second on spinkick; a full-
    strength assistant (10/s) keeps the same starts up several times longer."""
    alone = _open_loop_steps(make())
    helped = _open_loop_steps(make(assist=10.0))
    assert sum(helped) > 2.5 * sum(alone), (alone, helped)


def test_the_force_pulls_the_root_back_with_the_spring_stiffness():
    """Lifting the character 0.1 m off its reference adds M w^2 0.1 N of downward pull, and
    nothing sideways; the strength scales it."""
    env = make(assist=10.0)
    task = env.unwrapped.task
    env.reset(seed=3)
    task._ref_now.sample(task.time)
    strength = np.ones(1)
    f0, _ = task.assist.force(task.state_ext[:, 0].copy(), task._ref_now, task.ref_root, strength)
    S = task.state_ext[:, 0].copy()
    S[:, JOINT_POS][:, 1] += 0.1
    f1, _ = task.assist.force(S, task._ref_now, task.ref_root, strength)
    mass = task.character.total_mass
    np.testing.assert_allclose(f1 - f0, [[0.0, -mass * 100.0 * 0.1, 0.0]], atol=1e-9)
    half, _ = task.assist.force(S, task._ref_now, task.ref_root, 0.5 * strength)
    np.testing.assert_allclose(half, 0.5 * f1, rtol=1e-12)


def test_strength_anneals_with_training_progress_and_is_fixed_per_episode():
    env = make(assist=10.0, assist_anneal_samples=1000)
    task = env.unwrapped.task
    for samples, strength in ((0, 1.0), (250, 0.75), (1000, 0.0), (5000, 0.0)):
        env.reset(seed=0, options={"total_samples": samples})
        assert task.assist_strength[0] == pytest.approx(strength)
    env.reset(seed=0, options={"total_samples": 500})
    for _ in range(5):
        env.step(np.zeros(env.action_space.shape))
    assert task.assist_strength[0] == pytest.approx(0.5)  # the episode keeps its start's strength


def test_an_annealed_assistant_changes_nothing():
    """Past its anneal, an assisted episode is bit for bit the unassisted one."""
    runs = []
    for kw in ({}, {"assist": 10.0, "assist_anneal_samples": 100}):
        env = make(**kw)
        env.reset(seed=2, options={"total_samples": 100})
        obs = [env.step(np.full(env.action_space.shape, 0.1))[0] for _ in range(10)]
        runs.append(np.array(obs))
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("kw", [{"mode": "test"}, {"kinematic": True}])
def test_test_episodes_and_playback_are_never_assisted(kw):
    env = make(assist=10.0, **kw)
    assert env.unwrapped.task.assist is None


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "strong", True])
def test_a_bad_assist_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="assist"):
        make(assist=bad)
    with pytest.raises(ValueError, match="assist_anneal_samples"):
        make(assist=10.0, assist_anneal_samples=bad if bad is not True else 0)
