"""The compiled per-step kernels (mimic/envs/_kernels.c, mimic/sim/_linkstate.c) against their
numpy twins, on real simulated states: the same numbers, whichever path an install ends up with."""

import itertools
import os

import gymnasium as gym
import numpy as np
import pybullet as pb
import pytest
from conftest import dm_ref

import mimic  # noqa: F401
from mimic.envs import kernels
from mimic.kinematics.rotations import heading_frames

needs_kernels = pytest.mark.skipif(
    not kernels.available(), reason=f"compiled kernels not built: {kernels.UNAVAILABLE_REASON}"
)


def test_kernels_are_built_where_required():
    """CI sets MIMIC_REQUIRE_KERNELS=1 so that a broken build fails loudly rather than silently
    running the slower numpy path; elsewhere the numpy fallback is a supported configuration."""
    if os.environ.get("MIMIC_REQUIRE_KERNELS") != "1":
        pytest.skip("MIMIC_REQUIRE_KERNELS is not set")
    assert kernels.available(), kernels.UNAVAILABLE_REASON
    from mimic.sim import character

    assert character._flatten is not None


def numpy_score(task, S_ext, ref, ref_root):
    K = S_ext.shape[0]
    rot_h, quat_h = np.zeros((K, 3, 3)), np.zeros((K, 4, 4))
    heading_frames(S_ext[:, 0, 17:21], rot_h, quat_h)
    reward, terms = task.reward_fn(S_ext, ref, ref_root, rot_h)
    obs = task.observer(S_ext[:, :-1], ref.phase, rot_h, quat_h)
    return obs, reward, terms


def compiled_score(task, S_ext, ref, ref_root):
    K = S_ext.shape[0]
    obs = np.full((K, task.observer.size), np.nan, np.float32)
    terms, reward = np.full((K, 5), np.nan), np.full(K, np.nan)
    kernels.CompiledImitation(task.reward_fn, task.observer, task.reference)(S_ext, ref, ref_root, obs, terms, reward)
    return obs, reward, terms


def drive(motion, steps, noise, seed=0, num=4):
    """Real states: a vector env under noisy actions (falls, tumbles, resets included)."""
    env = gym.make_vec(
        "mimic/Humanoid-v0",
        num_envs=num,
        vectorization_mode="vector_entry_point",
        motion=motion,
        anneal_samples=0,
        early_termination=False,
    )
    env.reset(seed=seed)
    mean, std = env.action_norm
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        env.step(mean + noise * std * rng.standard_normal((num, len(mean))))
        yield env.task


@needs_kernels
@pytest.mark.parametrize(
    "motion,noise", [("humanoid3d_spinkick", 0.05), ("humanoid3d_cartwheel", 0.5), ("humanoid3d_walk", 2.0)]
)
def test_compiled_reward_and_observation_match_numpy(motion, noise):
    rewards = []
    for task in drive(motion, 40, noise):
        # perturb the reference root so the root term is not trivially at its optimum
        ref_root = task.ref_root + np.array([0.1, -0.05, 0.2])
        o_np, r_np, t_np = numpy_score(task, task.state_ext, task.ref, ref_root)
        o_c, r_c, t_c = compiled_score(task, task.state_ext, task.ref, ref_root)
        np.testing.assert_allclose(o_c, o_np, rtol=1e-5, atol=1e-5)
        # rtol 1e-6: the pose angle is acos of a cosine near 1, which magnifies the rounding
        # differences of the two quaternion products to ~1e-7 relative
        np.testing.assert_allclose(t_c, t_np, rtol=1e-6, atol=1e-10)
        np.testing.assert_allclose(r_c, r_np, rtol=1e-6, atol=1e-10)
        rewards.append(r_c)
    rewards = np.concatenate(rewards)
    assert rewards.std() > 0.02  # the states covered a range of rewards, not one point


@needs_kernels
def test_compiled_kernels_match_numpy_on_the_dog():
    path = dm_ref("motions", "dog3d_canter.txt")
    env = gym.make_vec(
        "mimic/Dog-v0", num_envs=2, vectorization_mode="vector_entry_point", motion=str(path), early_termination=False
    )
    env.reset(seed=1)
    mean, std = env.action_norm
    rng = np.random.default_rng(1)
    task = env.task
    for _ in range(20):
        env.step(mean + 0.3 * std * rng.standard_normal((2, len(mean))))
        a = numpy_score(task, task.state_ext, task.ref, task.ref_root)
        b = compiled_score(task, task.state_ext, task.ref, task.ref_root)
        for x, y in zip(b, a):
            np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5)


@needs_kernels
def test_compiled_heading_handles_a_vertical_root():
    """Root facing straight up (no heading) and heading exactly pi: the guarded branches."""
    task = next(drive("humanoid3d_walk", 1, 0.0, num=3))
    S = task.state_ext.copy()
    up = np.array([0.0, 0.0, np.sin(np.pi / 4), np.cos(np.pi / 4)])  # x axis -> +y
    S[0, 0, 17:21] = up
    S[1, 0, 17:21] = [0.0, 1.0, 0.0, 0.0]  # heading pi
    a = numpy_score(task, S, task.ref, task.ref_root)
    b = compiled_score(task, S, task.ref, task.ref_root)
    for x, y in zip(b, a):
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


@needs_kernels
def test_compiled_pd_targets_match_numpy():
    env = gym.make("mimic/Humanoid-v0", motion="humanoid3d_walk")
    am = env.unwrapped.task.action_map
    rng = np.random.default_rng(0)
    a = rng.uniform(-15, 15, (5, am.size))  # far outside the bounds on purpose
    a[1, am.ball_axis[2]] = 0.0  # a zero axis -> +z
    a[2] = am.mean
    fast = kernels.CompiledActionMap(am).to_targets(a.astype(np.float32))
    ref = am.to_targets(a.astype(np.float32))
    assert len(fast) == len(ref) == 5
    for f, r in zip(fast, ref):
        assert [len(x) for x in f] == [len(x) for x in r]
        np.testing.assert_allclose(np.concatenate(f), np.concatenate(r), rtol=1e-12, atol=1e-15)
    env.close()


@needs_kernels
def test_compiled_kernels_reject_wrong_sizes():
    task = next(drive("humanoid3d_walk", 1, 0.0, num=2))
    comp = kernels.CompiledImitation(task.reward_fn, task.observer, task.reference)
    obs = np.empty((2, task.observer.size - 1), np.float32)
    with pytest.raises(ValueError, match="obs"):
        comp(task.state_ext, task.ref, task.ref_root, obs, np.empty((2, 5)), np.empty(2))
    with pytest.raises(ValueError, match="S_ext"):
        comp(
            task.state_ext[:, :-1].copy(),
            task.ref,
            task.ref_root,
            np.empty((2, task.observer.size), np.float32),
            np.empty((2, 5)),
            np.empty(2),
        )
    amap = kernels.CompiledActionMap(task.action_map)
    with pytest.raises(ValueError, match="action"):
        amap.to_targets(np.zeros((2, task.action_map.size - 1)))


def test_link_state_copy_matches_pybullet():
    """SimCharacter.query (compiled copy when built) gives exactly pybullet's link states."""
    from mimic.sim import character as simchar

    task = next(drive("humanoid3d_run", 3, 0.3, num=1))
    sim = task.sims[0]
    S = sim.query().copy()
    ls = pb.getLinkStates(
        sim.body, sim.links, computeLinkVelocity=1, computeForwardKinematics=1, physicsClientId=sim.client
    )
    flat = np.array(list(itertools.chain.from_iterable(itertools.chain.from_iterable(ls))))
    np.testing.assert_array_equal(S.ravel(), flat)
    if simchar._flatten is not None:
        out = np.empty(S.size - 1)
        with pytest.raises(ValueError, match="more than"):
            simchar._flatten(ls, out)


@pytest.mark.parametrize("motion", ["humanoid3d_walk", "humanoid3d_backflip", "humanoid3d_roll"])
@pytest.mark.parametrize("size", [1, 5])
def test_compiled_reference_lookup_matches_numpy(motion, size, monkeypatch):
    """ReferenceBatch.sample: the compiled lookup (when built) against the numpy one, on looping
    and non-looping clips, at frame times, inside frames, before the start and past the end."""
    from mimic.kinematics import reference as refmod

    if refmod._compiled_sample is None:
        pytest.skip("compiled reference lookup not built")
    env = gym.make("mimic/Humanoid-v0", motion=motion)
    ref = env.unwrapped.reference
    T = ref.duration
    rng = np.random.default_rng(0)
    times = np.concatenate(
        [ref.clip.frame_times, rng.uniform(-0.1, 3.5 * T, 40), [0.0, T, 2 * T, T - 1e-12, 3 * T + 1e-9]]
    )
    fast, slow = ref.batch(size), ref.batch(size)
    for i in range(0, len(times) - size + 1, size):
        t = times[i : i + size]
        c_fast = fast.sample(t).copy()
        with monkeypatch.context() as m:
            m.setattr(refmod, "_compiled_sample", None)
            c_slow = slow.sample(t).copy()
        np.testing.assert_array_equal(c_fast, c_slow)
        np.testing.assert_allclose(fast.phase, slow.phase, rtol=0, atol=1e-12)
        np.testing.assert_allclose(fast.buf, slow.buf, rtol=1e-12, atol=1e-12)
    env.close()
