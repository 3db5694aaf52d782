"""Early termination on tracking error (mimic.envs.tracking), in real pybullet episodes."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import mimic  # noqa: F401  (registers the environments)
from mimic.envs.tracking import TrackingTermination


def make(**kw):
    kw.setdefault("motion", "humanoid3d_spinkick")
    kw.setdefault("pd_targets", "relative")
    return gym.make("mimic/Humanoid-v0", **kw)


def _open_loop(env, t0, steps=300):
    """Action 0 (the clip, open loop) from clip time t0; the info of every step."""
    env.reset(seed=0, options={"time": t0})
    a = np.zeros(env.action_space.shape)
    infos = []
    for _ in range(steps):
        _, reward, term, trunc, info = env.step(a)
        infos.append((reward, term, trunc, info))
        if term or trunc:
            break
    return infos


@pytest.mark.parametrize("motion", ["humanoid3d_spinkick", "humanoid3d_walk"])
def test_the_reference_itself_has_no_tracking_error(motion):
    """In kinematic playback the character is the reference: root and end effectors agree in
    the world to a tenth of a millimetre, across cycle wraps (2.5 s of a ~1.3 s clip)."""
    env = make(motion=motion, kinematic=True, mode="test")
    task = env.unwrapped.task
    check = TrackingTermination(task.character, 1.0)
    env.reset(seed=0, options={"time": 0.4})
    errors = []
    for _ in range(75):
        env.step(np.zeros(env.action_space.shape))
        errors.append(check.errors(task.state_ext, task.ref, task.ref_root)[0])
    assert max(errors) < 1e-3


def test_a_drifting_training_episode_ends_deviated_before_it_falls():
    """Open loop on the spinkick, the feet leave the reference by 0.25 m within a few steps,
    long before the character falls (about 0.4 s): the episode ends there, as a termination that
    keeps its reward, flagged deviated and not fallen."""
    without = _open_loop(make(mode="train", anneal_samples=0), 0.3)
    assert without[-1][3]["fallen"] and not any(i["deviated"] for _, _, _, i in without)
    tracked = _open_loop(make(mode="train", anneal_samples=0, tracking_termination=0.25), 0.3)
    reward, term, trunc, info = tracked[-1]
    assert term and not trunc and info["deviated"] and not info["fallen"]
    assert reward > 0.0
    assert len(tracked) < len(without)


def test_the_error_grows_with_the_drift():
    """The measured error is what ends the episode: below the distance until the last step."""
    env = make(mode="train", anneal_samples=0, tracking_termination=0.4)
    task = env.unwrapped.task
    env.reset(seed=0, options={"time": 0.3})
    a = np.zeros(env.action_space.shape)
    errors = []
    while True:
        _, _, term, trunc, info = env.step(a)
        errors.append(task.tracking.errors(task.state_ext, task.ref, task.ref_root)[0])
        if term or trunc:
            break
    assert info["deviated"] and errors[-1] > 0.4 and max(errors[:-1]) <= 0.4


def test_test_episodes_and_the_default_never_end_deviated():
    for env in (make(mode="test", tracking_termination=0.25), make(mode="train", anneal_samples=0)):
        infos = _open_loop(env, 0.3)
        assert infos[-1][3]["fallen"]
        assert not any(i["deviated"] for _, _, _, i in infos)


def test_the_vector_env_reports_deviations():
    env = gym.make_vec(
        "mimic/Humanoid-v0",
        num_envs=2,
        vectorization_mode="vector_entry_point",
        motion="humanoid3d_spinkick",
        pd_targets="relative",
        anneal_samples=0,
        tracking_termination=0.25,
    )
    env.reset(seed=0)
    seen = np.zeros(2, dtype=bool)
    for _ in range(30):
        _, _, term, _, info = env.step(np.zeros(env.action_space.shape))
        assert not (info["deviated"] & ~term).any()
        seen |= info["deviated"]
    assert seen.all()
    env.close()


@pytest.mark.parametrize("bad", [-0.5, "far", True, float("nan")])
def test_a_bad_distance_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="tracking_termination"):
        make(tracking_termination=bad)
