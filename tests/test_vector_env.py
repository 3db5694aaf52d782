"""The vector environment: shapes, same-step autoreset, and equivalence with single environments."""

import gymnasium as gym
import numpy as np
import pytest
from conftest import ref_action
from gymnasium.vector import AutoresetMode

import mimic  # noqa: F401

N = 3


def make_vec(**kw):
    kw.setdefault("motion", "humanoid3d_walk")
    return gym.make_vec("mimic/Humanoid-v0", num_envs=N, vectorization_mode="vector_entry_point", **kw)


def make_single(**kw):
    kw.setdefault("motion", "humanoid3d_walk")
    return gym.make("mimic/Humanoid-v0", **kw)


def test_shapes_and_metadata():
    env = make_vec(kinematic=True)
    assert env.num_envs == N
    assert env.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    assert env.single_observation_space.shape == (197,)
    assert env.single_action_space.shape == (36,)
    assert env.observation_space.shape == (N, 197) and env.action_space.shape == (N, 36)
    obs, infos = env.reset(seed=0)
    assert obs.shape == (N, 197) and obs.dtype == np.float32
    obs, rew, term, trunc, infos = env.step(env.action_space.sample())
    assert obs.shape == (N, 197) and rew.shape == (N,) and term.shape == (N,) and trunc.shape == (N,)
    assert infos["reward_terms"].shape == (N, 5)
    np.testing.assert_allclose(infos["reward_terms"].sum(axis=1), rew)
    # action_norm is the single env's
    single = make_single(kinematic=True)
    for a, b in zip(env.unwrapped.action_norm, single.unwrapped.action_norm):
        np.testing.assert_array_equal(a, b)
    env.close()
    single.close()


def test_same_step_autoreset_puts_final_obs_in_infos():
    # training-mode episodes of 0.5 s (15 steps) at the start of annealing
    env = make_vec(kinematic=True, mode="train")
    single = make_single(kinematic=True, mode="train")
    t0 = 0.25
    obs, _ = env.reset(seed=3, options={"time": t0, "total_samples": 0})
    s_obs, _ = single.reset(options={"time": t0, "total_samples": 0})
    np.testing.assert_array_equal(obs, np.stack([s_obs] * N))
    acts = env.action_space.sample()
    for step in range(1, 16):
        obs, rew, term, trunc, infos = env.step(acts)
        s_obs, s_rew, s_term, s_trunc, _ = single.step(acts[0])
        if step < 15:
            assert not (term | trunc).any() and "_final_obs" not in infos
            np.testing.assert_array_equal(obs[0], s_obs)
    assert trunc.all() and not term.any() and s_trunc
    assert infos["_final_obs"].all()
    for k in range(N):
        np.testing.assert_array_equal(infos["final_obs"][k], s_obs)  # last obs of the episode
        assert rew[k] == pytest.approx(s_rew)
    # the returned observations start new episodes at random times (phase differs from the end)
    assert not np.allclose(obs[:, 0], s_obs[0])
    assert len(set(np.round(obs[:, 0], 6))) == N
    # and the new episodes run on
    obs, _, term, trunc, infos = env.step(acts)
    assert not (term | trunc).any() and "_final_obs" not in infos
    env.close()
    single.close()


def test_autoreset_only_the_finished_env():
    env = make_vec(motion="humanoid3d_kick", kinematic=True, mode="test")
    obs, _ = env.reset(seed=11)
    T = env.unwrapped.clip.duration
    starts = env.unwrapped.task.start.copy()
    assert len(set(starts)) == N
    first = int(np.argmax(starts))  # the latest start reaches the clip end first
    steps = int(np.ceil((T - starts[first]) * 30 - 1e-6))
    for step in range(1, steps + 1):
        obs, rew, term, trunc, infos = env.step(env.action_space.sample())
        if step < steps:
            assert not term.any()
    assert term[first] and infos["clip_end"][first]
    mask = infos["_final_obs"]
    assert mask[first] and mask.sum() == term.sum()
    for k in range(N):
        if not mask[k]:
            assert infos["final_obs"][k] is None
    assert infos["final_obs"][first].shape == (197,)
    env.close()


def test_vector_env_matches_single_envs_step_for_step():
    """Dynamic episodes from the same start time with different actions per env (reference PD
    targets plus noise of a different size per env): each vector slot must reproduce a single
    env driven with its actions, up to its first episode end (physics is per world)."""
    t0 = 0.6
    env = make_vec(mode="test")
    singles = [make_single(mode="test") for _ in range(N)]
    obs, _ = env.reset(seed=0, options={"time": t0})
    for k, s in enumerate(singles):
        s_obs, _ = s.reset(options={"time": t0})
        np.testing.assert_array_equal(obs[k], s_obs)
    _, std = singles[0].unwrapped.action_norm
    rng = np.random.default_rng(5)
    alive = np.ones(N, dtype=bool)
    compared = np.zeros(N, dtype=int)
    for step in range(1, 46):
        base = ref_action(singles[0], t0 + step / 30.0)
        acts = (base + std * rng.normal(scale=[0.0, 0.05, 0.3], size=(36, N)).T).astype(np.float32)
        obs, rew, term, trunc, infos = env.step(acts)
        for k in np.flatnonzero(alive):
            s_obs, s_rew, s_term, s_trunc, s_info = singles[k].step(acts[k])
            # batched numpy maths may differ from K = 1 in the last bits only
            assert rew[k] == pytest.approx(s_rew, rel=1e-12, abs=1e-12)
            assert term[k] == s_term and trunc[k] == s_trunc
            assert infos["fallen"][k] == s_info["fallen"]
            compared[k] += 1
            if s_term or s_trunc:
                assert infos["_final_obs"][k]
                np.testing.assert_allclose(infos["final_obs"][k], s_obs, rtol=1e-6, atol=1e-6)
                alive[k] = False
            else:
                np.testing.assert_allclose(obs[k], s_obs, rtol=1e-6, atol=1e-6)
        if not alive.any():
            break
    assert compared.min() >= 3 and compared.max() >= 25
    assert not alive[2]  # the noisiest one fell and was compared at its end
    # different actions really gave different states
    assert not np.allclose(singles[0].unwrapped.sim.query(), singles[1].unwrapped.sim.query())
    env.close()
    for s in singles:
        s.close()


def test_vector_reset_seed_is_reproducible():
    a, b = make_vec(kinematic=True), make_vec(kinematic=True)
    oa, _ = a.reset(seed=42)
    ob, _ = b.reset(seed=42)
    np.testing.assert_array_equal(oa, ob)
    assert len(set(np.round(oa[:, 0], 6))) == N  # per-env streams differ
    oc, _ = a.reset(seed=43)
    assert not np.array_equal(oa, oc)
    a.close()
    b.close()


def test_disabled_autoreset_and_masked_reset():
    env = make_vec(kinematic=True, mode="train", autoreset_mode=AutoresetMode.DISABLED)
    assert env.metadata["autoreset_mode"] == AutoresetMode.DISABLED
    single = make_single(kinematic=True, mode="train")
    env.reset(seed=[1, 2, 3], options={"time": 0.2, "total_samples": 0})
    acts = env.action_space.sample()
    for _ in range(15):  # 0.5 s episodes
        obs, rew, term, trunc, infos = env.step(acts)
    assert trunc.all() and "final_obs" not in infos  # no autoreset: the caller resets
    ended = obs.copy()
    mask = np.array([True, False, True])
    new, _ = env.reset(seed=[10, None, 12], options={"reset_mask": mask, "time": 0.9})
    s_obs, _ = single.reset(options={"time": 0.9})
    np.testing.assert_array_equal(new[0], s_obs)
    np.testing.assert_array_equal(new[2], s_obs)
    np.testing.assert_array_equal(new[1], ended[1])  # untouched
    # per-episode seeds: a masked reset with seed s gives the start time a fresh env with seed s
    # gets in slot 0
    env.reset(seed=[10, None, 12], options={"reset_mask": np.array([True, False, False])})
    other = make_vec(kinematic=True)
    other.reset(seed=10)
    assert env.unwrapped.task.start[0] == other.unwrapped.task.start[0]
    env.close()
    other.close()
    single.close()


def test_disabled_mode_does_not_simulate_ended_characters():
    """DISABLED: a character whose episode ended is frozen until it is reset (not simulated, zero
    reward, no end flags, its last observation), and the others run exactly as they would with it
    still simulated."""
    kw = dict(mode="train", autoreset_mode=AutoresetMode.DISABLED)
    frozen, busy = make_vec(**kw), make_vec(**kw)
    for env in (frozen, busy):
        env.reset(seed=[1, 2, 3], options={"time": 0.3, "total_samples": 0})
    rng = np.random.default_rng(0)
    space = frozen.single_action_space
    mean, half = (space.low + space.high) / 2, (space.high - space.low) / 2
    acts = (mean + 0.05 * half * rng.standard_normal((N, 36))).astype(np.float32)
    ended = np.zeros(N, bool)
    for _ in range(15):  # 0.5 s training episodes: all end by step 15
        out_f, out_b = frozen.step(acts), busy.step(acts)
        np.testing.assert_array_equal(out_f[0], out_b[0])
        assert not (ended & (out_f[2] | out_f[3])).any()  # an ended character ends only once
        ended |= out_f[2] | out_f[3]
    assert ended.all()
    # restart characters 0 and 2 in both; in `busy` also character 1 (in `frozen` it stays ended)
    frozen.reset(seed=[4, None, 6], options={"reset_mask": np.array([True, False, True])})
    busy.reset(seed=[4, 5, 6], options={"reset_mask": np.array([True, True, True])})
    task = frozen.unwrapped.task
    last_obs, pose = out_f[0][1].copy(), task.state_ext[1].copy()
    samples, alive, stepped = task.samples, np.array([True, False, True]), 0
    for _ in range(10):
        obs_f, rew_f, term_f, trunc_f, inf_f = frozen.step(acts)
        obs_b, rew_b, term_b, trunc_b, inf_b = busy.step(acts)
        stepped += alive.sum()
        alive &= ~(term_f | trunc_f)
        np.testing.assert_array_equal(obs_f[1], last_obs)
        assert rew_f[1] == 0.0 and not term_f[1] and not trunc_f[1] and not inf_f["reward_terms"][1].any()
        for k in (0, 2):  # the others: bit-identical to `busy`
            np.testing.assert_array_equal(obs_f[k], obs_b[k])
            assert rew_f[k] == rew_b[k] and term_f[k] == term_b[k] and trunc_f[k] == trunc_b[k]
    np.testing.assert_array_equal(task.state_ext[1], pose)  # its world did not move
    assert task.samples == samples + stepped > samples  # progress counts simulated steps only
    # reset: it runs again
    obs, _ = frozen.reset(seed=[None, 9, None], options={"reset_mask": np.array([False, True, False])})
    obs2 = frozen.step(acts)[0]
    assert not np.array_equal(obs2[1], obs[1])
    frozen.close()
    busy.close()
