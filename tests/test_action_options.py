"""The action options that are not DeepMimic's default: DM-2021 exp-map ball joints and PD targets
relative to the reference pose (mimic.envs.action), on the real humanoid and dog."""

import gymnasium as gym
import numpy as np
import pytest
from conftest import quat_err, ref_action
from scipy.spatial.transform import Rotation

import mimic  # noqa: F401  (registers the environments)
from mimic.envs.action import ActionMap
from mimic.kinematics.character import SPHERICAL
from mimic.sim.link_state import JOINT_POS, JOINT_ROT


def make(motion="humanoid3d_spinkick", **kw):
    return gym.make("mimic/Humanoid-v0", motion=motion, **kw)


@pytest.mark.parametrize("env_id, size", [("mimic/Humanoid-v0", 28), ("mimic/Dog-v0", 58)])
def test_exp_map_sizes_follow_dm2021(env_id, size):
    env = gym.make(env_id, action_rotation="exp_map")
    assert env.action_space.shape == (size,)
    mean, std = env.unwrapped.action_norm
    am = env.unwrapped.task.action_map
    assert np.allclose(std[am.ball_exp], np.pi) and np.allclose(mean[am.ball_exp], 0.0)
    assert np.allclose(am.high[am.ball_exp], 2 * np.pi)
    env.close()


def test_exp_map_targets_are_the_rotation_vectors_clamped_to_two_pi():
    env = make(kinematic=True, action_rotation="exp_map")
    am = env.unwrapped.task.action_map
    ch = env.unwrapped.character
    rng = np.random.default_rng(1)
    a = rng.uniform(-2.0, 2.0, (3, am.size))
    a[1, am.ball_exp[0]] = 0.0  # zero vector: identity
    a[2, am.ball_exp[1]] = (6.0, 6.0, 0.0)  # norm 8.5 > 2 pi: clamped along its axis
    targets = am.to_targets(a)
    balls = [n for n, j in enumerate(ch.actuated) if ch.joint_types[j] == SPHERICAL]
    for k in range(3):
        for b, n in enumerate(balls):
            e = a[k, am.ball_exp[b]]
            if np.linalg.norm(e) > 2 * np.pi:
                e = e / np.linalg.norm(e) * 2 * np.pi
            assert quat_err(targets[k][n], Rotation.from_rotvec(e).as_quat()) < 1e-9
    assert quat_err(targets[1][balls[0]], [0, 0, 0, 1.0]) < 1e-12
    env.close()


@pytest.mark.parametrize("rotation", ["axis_angle", "exp_map"])
def test_relative_targets_of_a_zero_action_are_the_reference_pose(rotation):
    env = make(pd_targets="relative", action_rotation=rotation)
    u = env.unwrapped
    am, ch = u.task.action_map, u.character
    assert np.allclose(
        am.mean,
        np.where(np.isin(np.arange(am.size), am.ball_axis[:, 2]), 0.2, 0.0) if rotation == "axis_angle" else 0.0,
    )
    ref = u.reference.batch(2)
    ref.sample(np.array([0.3, 1.1]))
    targets = am.to_targets(np.tile(am.mean, (2, 1)), ref)
    for k in range(2):
        for n, j in enumerate(ch.actuated):
            if ch.joint_types[j] == SPHERICAL:
                assert quat_err(targets[k][n], ref.local_rot[k, j]) < 1e-9
            else:
                assert targets[k][n] == pytest.approx([ref.hinge[k, j]])
    with pytest.raises(ValueError, match="reference"):
        am.to_targets(am.mean)
    env.close()


def test_relative_targets_compose_the_action_after_the_reference():
    env = make(pd_targets="relative")
    u = env.unwrapped
    am, ch = u.task.action_map, u.character
    ref = u.reference.batch(1)
    ref.sample(np.array([0.5]))
    a = np.random.default_rng(2).uniform(-0.5, 0.5, am.size)
    absolute = ActionMap(ch).to_targets(a)[0]  # the action alone, as an absolute target
    targets = am.to_targets(a, ref)[0]
    for n, j in enumerate(ch.actuated):
        if ch.joint_types[j] == SPHERICAL:
            want = Rotation.from_quat(ref.local_rot[0, j]) * Rotation.from_quat(absolute[n])
            assert quat_err(targets[n], want.as_quat()) < 1e-9
        else:
            column = am.hinge[am.layout[n][1]]
            assert targets[n] == pytest.approx([ref.hinge[0, j] + a[column]])
    env.close()


@pytest.mark.parametrize("rotation", ["axis_angle", "exp_map"])
def test_residual_scale_shrinks_the_angle_of_a_normalised_action(rotation):
    """With residual_scale r, a normalised action moves the clip's targets by r times the angle it
    does at r = 1, about the same axis; zero is still the reference pose."""
    envs = {r: make(pd_targets="relative", action_rotation=rotation, residual_scale=r) for r in (1.0, 0.25)}
    maps = {r: env.unwrapped.task.action_map for r, env in envs.items()}
    ch = envs[1.0].unwrapped.character
    ref = envs[1.0].unwrapped.reference.batch(1)
    ref.sample(np.array([0.4]))
    a_n = np.random.default_rng(4).uniform(-0.1, 0.1, maps[1.0].size)  # normalised; angles < pi
    targets = {}
    for r, am in maps.items():
        targets[r] = am.to_targets((a_n / am.scale - am.offset)[None], ref)[0]
    for n, j in enumerate(ch.actuated):
        if ch.joint_types[j] == SPHERICAL:
            base = Rotation.from_quat(ref.local_rot[0, j]).inv()
            full, small = ((base * Rotation.from_quat(targets[r][n])).as_rotvec() for r in (1.0, 0.25))
            assert np.allclose(small, 0.25 * full, atol=1e-9)
        else:
            assert targets[0.25][n][0] - ref.hinge[0, j] == pytest.approx(0.25 * (targets[1.0][n][0] - ref.hinge[0, j]))
    std = {r: env.unwrapped.action_norm[1] for r, env in envs.items()}
    axis = np.zeros(maps[1.0].size, bool)
    axis[maps[1.0].ball_axis.ravel()] = True  # unit-axis entries keep their scale
    assert np.allclose(std[0.25][~axis], 0.25 * std[1.0][~axis]) and np.allclose(std[0.25][axis], std[1.0][axis])
    for env in envs.values():
        env.close()


@pytest.mark.parametrize("bad", [dict(residual_scale=0.0), dict(residual_scale=-1), dict(residual_scale="x")])
def test_bad_residual_scale_is_refused(bad):
    with pytest.raises(ValueError, match="residual_scale"):
        make(pd_targets="relative", **bad)


def test_residual_scale_needs_relative_targets():
    with pytest.raises(ValueError, match="residual_scale.*relative"):
        make(residual_scale=0.5)


def test_relative_zero_action_tracks_the_clip_longer_than_absolute_targets():
    """Open loop, the reference as PD target keeps the humanoid up longer than DeepMimic's
    initial (mid-range) action, and earns more per step: the point of the option."""
    lengths, rewards = {}, {}
    for mode in ("absolute", "relative"):
        env = make("humanoid3d_walk", mode="test", pd_targets=mode)
        a = env.unwrapped.action_norm[0].astype(np.float32)
        env.reset(seed=0)
        n, total = 0, 0.0
        while True:
            _, r, term, trunc, _ = env.step(a)
            n, total = n + 1, total + r
            if term or trunc:
                break
        lengths[mode], rewards[mode] = n, total / n
        env.close()
    assert lengths["relative"] > 1.5 * lengths["absolute"]
    assert rewards["relative"] > rewards["absolute"]


def test_absolute_reference_action_equals_relative_zero_action():
    """Driving the clip's pose as an absolute target (conftest.ref_action) and a zero relative
    action step the physics identically."""
    obs = {}
    for mode in ("absolute", "relative"):
        env = make("humanoid3d_walk", mode="test", pd_targets=mode)
        env.reset(seed=0)
        u = env.unwrapped
        for _ in range(5):
            t = u.time + u.control_dt
            a = ref_action(env, t) if mode == "absolute" else u.action_norm[0]
            o, *_ = env.step(np.asarray(a, dtype=np.float32))
        obs[mode] = o
        env.close()
    assert np.allclose(obs["absolute"], obs["relative"], atol=2e-3)


@pytest.mark.parametrize(
    "bad", [dict(action_rotation="euler"), dict(pd_targets="residual"), dict(obs_rotation="matrix")]
)
def test_unknown_action_options_are_refused_by_name(bad):
    with pytest.raises(ValueError, match=list(bad)[0].split("_")[-1]):
        make(**bad)


@pytest.mark.parametrize("env_id, size", [("mimic/Humanoid-v0", 227), ("mimic/Dog-v0", 347)])
def test_6d_observation_follows_dm2021(env_id, size):
    """Each body's quaternion becomes its rotated y then x axis; everything else is unchanged."""
    envs = {r: gym.make(env_id, obs_rotation=r, mode="test") for r in ("quat", "6d")}
    obs = {r: env.reset(seed=3)[0] for r, env in envs.items()}
    a = envs["quat"].unwrapped.action_norm[0].astype(np.float32)
    for _ in range(3):
        obs = {r: env.step(a)[0] for r, env in envs.items()}
    q, d = obs["quat"], obs["6d"]
    assert d.shape == (size,) and envs["6d"].observation_space.shape == (size,)
    J = envs["quat"].unwrapped.character.num_joints
    pose_q, pose_d = q[2 : 2 + 7 * J].reshape(J, 7), d[2 : 2 + 9 * J].reshape(J, 9)
    R = Rotation.from_quat(pose_q[:, [4, 5, 6, 3]]).as_matrix()  # w, x, y, z -> xyzw
    assert np.allclose(pose_d[:, 3:6], R[:, :, 1], atol=1e-5)  # q (0, 1, 0)
    assert np.allclose(pose_d[:, 6:9], R[:, :, 0], atol=1e-5)  # q (1, 0, 0)
    assert np.allclose(pose_d[:, :3], pose_q[:, :3]) and np.allclose(d[:2], q[:2])
    assert np.allclose(d[2 + 9 * J :], q[2 + 7 * J :])
    mean, std, fixed = envs["6d"].unwrapped.obs_norm
    assert mean.shape == (size,) and fixed[0] and not fixed[1:].any()
    for env in envs.values():
        env.close()


@pytest.mark.parametrize("env_id, base, per_step", [("mimic/Humanoid-v0", 197, 105), ("mimic/Dog-v0", 301, 153)])
def test_target_obs_appends_one_block_per_future_step(env_id, base, per_step):
    env = gym.make(env_id, target_obs_steps=[1, 2, 3])
    assert env.observation_space.shape == (base + 3 * per_step,)
    obs, _ = env.reset(seed=2)
    assert obs.shape == (base + 3 * per_step,) and np.isfinite(obs).all()
    mean, std, fixed = env.unwrapped.obs_norm
    assert mean.shape == obs.shape and fixed[0] and not fixed[base:].any()
    env.close()


def test_target_obs_is_the_reference_ahead_seen_from_the_character():
    """Kinematic playback puts the character on the reference, so the frame one step ahead at t is
    the character's own root move, rotation and joint rotations at t + dt; the frame two steps
    ahead at t is the one-step frame at t + dt, for the parts that do not depend on the root."""
    env = make(kinematic=True, target_obs_steps=[1, 2])
    u = env.unwrapped
    J, n = u.character.num_joints, u.task.targets.step_size
    env.reset(seed=5)
    a = u.action_norm[0].astype(np.float32)
    for _ in range(4):
        obs, *_ = env.step(a)
    root0 = u.task.state_ext[0, 0].copy()
    obs1, *_ = env.step(a)
    root1 = u.task.state_ext[0, 0]
    one, two = obs[197 : 197 + n], obs[197 + n :]
    pos0, rot0 = root0[JOINT_POS], Rotation.from_quat(root0[JOINT_ROT])
    heading = Rotation.from_rotvec([0.0, -quat_heading(rot0), 0.0])
    d = heading.apply(root1[JOINT_POS] - pos0)
    assert np.allclose(one[[0, 2]], d[[0, 2]], atol=1e-5) and np.isclose(one[1], root1[JOINT_POS][1], atol=1e-5)
    m = (heading * Rotation.from_quat(root1[JOINT_ROT])).as_matrix()
    assert np.allclose(one[3:9], np.concatenate([m[:, 1], m[:, 0]]), atol=1e-5)
    later = obs1[197 : 197 + n]
    assert np.allclose(two[9:], later[9:], atol=1e-5)  # joint rotations and end effectors
    assert not np.allclose(one[9 : 9 + 6 * (J - 1)], later[9 : 9 + 6 * (J - 1)], atol=1e-3)
    env.close()


def quat_heading(rot):
    d = rot.apply([1.0, 0.0, 0.0])
    return np.arctan2(-d[2], d[0])


@pytest.mark.parametrize("steps", [[0], [1.5], "123", [True]])
def test_target_obs_steps_must_be_positive_whole_steps(steps):
    with pytest.raises(ValueError, match="target_obs_steps"):
        make(target_obs_steps=steps)
