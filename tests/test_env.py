"""The Gymnasium environment: spaces, observation, reward, episode logic (spec sections 4-7)."""

import ast
import warnings

import gymnasium as gym
import numpy as np
import pybullet as pb
import pytest
from conftest import DOG_CLIPS, HUMANOID_CLIPS, dm_ref, exact_lowest, pybullet_file, quat_err, ref_action
from scipy import stats
from scipy.spatial.transform import Rotation

import mimic  # noqa: F401  (registers the environments)
from mimic.kinematics.character import SPHERICAL

DT = 1.0 / 30.0


def make(motion="humanoid3d_walk", **kw):
    return gym.make("mimic/Humanoid-v0", motion=motion, **kw)


@pytest.fixture
def walk_kin():
    env = make(kinematic=True, mode="test")
    yield env
    env.close()


def heading_removal(q):
    d = Rotation.from_quat(q).apply([1.0, 0.0, 0.0])
    return Rotation.from_rotvec([0.0, -np.arctan2(-d[2], d[0]), 0.0])


def link_states(env):
    sim = env.unwrapped.sim
    return pb.getLinkStates(
        sim.body,
        list(range(sim.character.num_joints)),
        computeLinkVelocity=1,
        computeForwardKinematics=1,
        physicsClientId=sim.client,
    )


def fall_body_on_ground(env):
    u = env.unwrapped
    mask = u.task.fall_mask
    return any(
        c[3] >= 0 and mask[c[3]]
        for c in pb.getContactPoints(bodyA=u.sim.body, bodyB=u.world.ground, physicsClientId=u.sim.client)
    )


# ------------------------------------------------------------------------------ spaces


# spec 5.1: (joint, angle low, angle high, mean, std)
SPEC_ACTION = [
    ("chest", -4.8, 4.8, 0.0, 4.8),
    ("neck", -4.0, 4.0, 0.0, 4.0),
    ("right_hip", -7.78, 8.78, 0.0, 8.28),
    ("right_knee", -7.85, 4.71, -1.57, 6.28),
    ("right_ankle", -6.28, 6.28, 0.0, 6.28),
    ("right_shoulder", -12.56, 12.56, 0.0, 12.56),
    ("right_elbow", -4.71, 7.85, 1.57, 6.28),
    ("left_hip", -7.78, 8.78, 0.0, 8.28),
    ("left_knee", -7.85, 4.71, -1.57, 6.28),
    ("left_ankle", -6.28, 6.28, 0.0, 6.28),
    ("left_shoulder", -8.46, 10.1, 0.0, 9.28),
    ("left_elbow", -4.71, 7.85, 1.57, 6.28),
]


def test_spaces_and_action_normalisation(walk_kin):
    env = walk_kin
    assert env.observation_space.shape == (197,) and env.observation_space.dtype == np.float32
    space = env.action_space
    assert space.shape == (36,) and space.dtype == np.float32
    mean, std = env.unwrapped.action_norm
    i = 0
    for name, lo, hi, m, s in SPEC_ACTION:
        assert space.low[i] == pytest.approx(lo, abs=1e-5), name
        assert space.high[i] == pytest.approx(hi, abs=1e-5), name
        assert mean[i] == pytest.approx(m, abs=1e-9) and std[i] == pytest.approx(s, abs=1e-9), name
        if name.endswith(("knee", "elbow")):
            i += 1
            continue
        np.testing.assert_array_equal(space.low[i + 1 : i + 4], -1.0)  # axis
        np.testing.assert_array_equal(space.high[i + 1 : i + 4], 1.0)
        np.testing.assert_allclose(mean[i + 1 : i + 4], [0.0, 0.0, 0.2])  # axis mean (0, 0, 0.2)
        np.testing.assert_allclose(std[i + 1 : i + 4], 1.0)
        i += 4
    assert i == 36
    # angle bounds are m +- 2 (u - l) and std = 1 / scale = 2 (u - l): the range is two stds
    angle = [k for k in range(36) if space.high[k] != 1.0]
    assert len(angle) == 12
    np.testing.assert_allclose(space.high[angle] - space.low[angle], 2 * std[angle], rtol=1e-6)


def test_dog_action_space_follows_spec(dog):
    """Spec 5.1: dog ball joints have no limits -> angle bounds +-4 pi, std 4 pi; forearms like
    elbows (-4.71 / 7.85), legs like knees (-7.85 / 4.71)."""
    env = gym.make("mimic/Dog-v0", motion=str(dm_ref("motions", "dog3d_trot.txt")))
    space = env.action_space
    mean, std = env.unwrapped.action_norm
    assert space.shape == (76,) and env.observation_space.shape == (301,)
    i = 0
    for j in dog.actuated:
        name = dog.joint_names[j]
        if dog.joint_types[j] == SPHERICAL:
            assert (space.low[i], space.high[i]) == pytest.approx((-4 * np.pi, 4 * np.pi), abs=1e-5)
            assert std[i] == pytest.approx(4 * np.pi) and mean[i] == 0.0
            np.testing.assert_allclose(mean[i + 1 : i + 4], [0, 0, 0.2])
            i += 4
        else:
            lo, hi, m = (-4.71, 7.85, 1.57) if "forearm" in name else (-7.85, 4.71, -1.57)
            assert (space.low[i], space.high[i]) == pytest.approx((lo, hi), abs=1e-5), name
            assert mean[i] == pytest.approx(m) and std[i] == pytest.approx(6.28), name
            i += 1
    assert i == 76
    env.close()


def pb_port_list(method):
    """A hard-coded list returned by a method of pybullet's DeepMimic port (read, not imported)."""
    src = pybullet_file("pybullet_envs", "deep_mimic", "env", "pybullet_deep_mimic_env.py")
    for node in ast.walk(ast.parse(src.read_text())):
        if isinstance(node, ast.FunctionDef) and node.name == method:
            lists = [n for n in ast.walk(node) if isinstance(n, ast.List) and len(n.elts) == 36]
            return np.array(ast.literal_eval(lists[0]), dtype=float)
    pytest.skip(f"{method} not found in the pybullet port")


def test_action_normalisation_matches_pybullet_port(walk_kin):
    """Spec 5.1: the humanoid values are identical to the port's hard-coded arrays."""
    space = walk_kin.action_space
    mean, std = walk_kin.unwrapped.action_norm
    np.testing.assert_allclose(space.low, pb_port_list("build_action_bound_min"), atol=1e-5)
    np.testing.assert_allclose(space.high, pb_port_list("build_action_bound_max"), atol=1e-5)
    np.testing.assert_allclose(mean, -pb_port_list("build_action_offset"), atol=1e-9)
    np.testing.assert_allclose(1.0 / std, pb_port_list("build_action_scale"), rtol=1e-9)


def test_action_decoding_to_pd_targets():
    env = make(kinematic=True)
    am = env.unwrapped.task.action_map
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (2, 36))
    a[:, 0] = 0.7  # chest angle
    a[1, 1:4] = 0.0  # zero axis -> +z
    a[0, 4] = 100.0  # neck angle beyond its bound (4.0) is clipped
    targets = am.to_targets(a)
    ch = env.unwrapped.character
    for k in range(2):
        i = 0
        for n, j in enumerate(ch.actuated):
            if ch.joint_types[j] == SPHERICAL:
                ang = np.clip(a[k, i], am.low[i], am.high[i])
                axis = a[k, i + 1 : i + 4]
                axis = axis / np.linalg.norm(axis) if np.linalg.norm(axis) > 0 else np.array([0, 0, 1.0])
                assert quat_err(targets[k][n], Rotation.from_rotvec(ang * axis).as_quat()) < 1e-9
                i += 4
            else:
                assert targets[k][n] == pytest.approx([a[k, i]])
                i += 1
    neck_axis = a[0, 5:8] / np.linalg.norm(a[0, 5:8])
    assert quat_err(targets[0][1], Rotation.from_rotvec(4.0 * neck_axis).as_quat()) < 1e-9
    env.close()


def test_observation_by_hand(walk_kin):
    env = walk_kin
    u = env.unwrapped
    clip = u.clip
    t = 2.345  # second cycle
    obs, info = env.reset(options={"time": t})
    assert obs.dtype == np.float32 and obs.shape == (197,)
    assert info["time"] == t
    T = clip.duration
    assert obs[0] == pytest.approx((t / T) % 1.0, abs=1e-6)
    root, rot = clip.pose_at(t)
    assert obs[1] == pytest.approx(root[1], abs=1e-5)
    Rroot = Rotation.from_quat(rot[0])
    Rh = heading_removal(rot[0])
    # body 0: centre 0.07 above the root joint; world rotation, w >= 0
    np.testing.assert_allclose(obs[2:5], Rh.apply(Rroot.apply([0, 0.07, 0])), atol=1e-5)
    q = Rroot.as_quat(scalar_first=True)
    q = q if q[0] >= 0 else -q
    np.testing.assert_allclose(obs[5:9], q, atol=1e-5)
    ls = link_states(env)
    base = np.array(ls[0][4])  # root joint point in pybullet
    np.testing.assert_allclose(base, root, atol=1e-5)
    for i in (1, 5, 8):  # chest, right ankle, right wrist
        o = 2 + 7 * i
        np.testing.assert_allclose(obs[o : o + 3], Rh.apply(np.array(ls[i][0]) - base), atol=1e-5)
        qi = (Rh * Rotation.from_quat(ls[i][1])).as_quat(scalar_first=True)
        qi = qi if qi[0] >= 0 else -qi
        np.testing.assert_allclose(obs[o + 3 : o + 7], qi, atol=1e-5)
    assert (obs[2 + 3 : 2 + 105 : 7] >= 0).all()  # every w >= 0
    v0 = 2 + 105
    np.testing.assert_allclose(obs[v0 : v0 + 3], ls[0][6], atol=1e-5)  # world root velocity
    np.testing.assert_allclose(obs[v0 + 3 : v0 + 6], ls[0][7], atol=1e-5)
    for i in (1, 11):
        o = v0 + 6 * i
        np.testing.assert_allclose(obs[o : o + 3], Rh.apply(ls[i][6]), atol=1e-5)
        np.testing.assert_allclose(obs[o + 3 : o + 6], Rh.apply(ls[i][7]), atol=1e-5)
    # the root's world velocity is the clip's (root joint velocity + w x arm to the centre)
    lin, ang = clip.velocity_at(t)
    np.testing.assert_allclose(obs[v0 : v0 + 3], lin + np.cross(ang[0], Rroot.apply([0, 0.07, 0])), atol=1e-4)
    # obs_norm: phase fixed at mean 0.5 / std 0.5
    mean, std, fixed = u.obs_norm
    assert mean[0] == 0.5 and std[0] == 0.5 and fixed[0] and not fixed[1:].any()


def test_phase_stays_in_unit_interval(walk_kin):
    env = walk_kin
    env.reset(options={"time": env.unwrapped.clip.duration - 0.2})
    phases = []
    for _ in range(20):
        obs, _, _, _, info = env.step(env.action_space.sample())
        assert 0.0 <= obs[0] < 1.0
        assert obs[0] == pytest.approx(info["phase"], abs=1e-6)
        phases.append(info["phase"])
    assert min(phases) < 0.2 and max(phases) > 0.8  # the wrap happened


def test_world_settings_follow_deepmimic():
    """Spec 1.2 / 2.1 / 3: y-up, gravity -9.8 y, 240 Hz with 10 solver iterations, friction 0.9,
    the URDF at its own (metre) scale."""
    env = make()
    env.reset(seed=0)
    u = env.unwrapped
    cid = u.sim.client
    prm = pb.getPhysicsEngineParameters(physicsClientId=cid)
    assert (prm["gravityAccelerationX"], prm["gravityAccelerationY"], prm["gravityAccelerationZ"]) == pytest.approx(
        (0.0, -9.8, 0.0)
    )
    assert prm["fixedTimeStep"] == pytest.approx(1 / 240) and prm["numSolverIterations"] == 10
    assert u.task.substeps == 8 and u.control_dt == pytest.approx(1 / 30)
    _, ground_rot = pb.getBasePositionAndOrientation(u.world.ground, physicsClientId=cid)
    np.testing.assert_allclose(Rotation.from_quat(ground_rot).apply([0, 0, 1]), [0, 1, 0], atol=1e-9)
    assert pb.getDynamicsInfo(u.world.ground, -1, physicsClientId=cid)[1] == pytest.approx(0.9)
    for j in range(15):
        assert pb.getDynamicsInfo(u.sim.body, j, physicsClientId=cid)[1] == pytest.approx(0.9)
    root_shape = pb.getCollisionShapeData(u.sim.body, 0, physicsClientId=cid)[0]
    assert root_shape[3][0] == pytest.approx(0.09)  # sphere d 0.18 m
    total = sum(pb.getDynamicsInfo(u.sim.body, j, physicsClientId=cid)[0] for j in range(-1, 15))
    assert total == pytest.approx(45.0, abs=1e-3)
    env.close()


def test_check_env_passes_with_only_the_expected_warnings():
    from gymnasium.utils.env_checker import check_env

    env = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env.unwrapped, skip_render_check=True)
    msgs = [str(w.message) for w in caught]
    # expected: DeepMimic's action bounds are not [-1, 1] (policies use action_norm) and the
    # observation is unbounded
    expected = ("symmetric and normalized", "minimum value is -infinity", "maximum value is infinity")
    unexpected = [m for m in msgs if not any(e in m for e in expected)]
    assert not unexpected, unexpected
    env.close()


def test_reset_places_the_character_on_the_reference():
    env = make(mode="test")  # dynamic
    u = env.unwrapped
    clip = u.clip
    ch = u.character
    for t in (0.2, 0.9):
        env.reset(options={"time": t})
        root, rot = clip.pose_at(t)
        ls = link_states(env)
        fk_low = min(ls[j][0][1] for j in range(ch.num_joints))  # sanity: above ground
        assert fk_low > 0
        np.testing.assert_allclose(np.array(ls[0][4])[[0, 2]], root[[0, 2]], atol=1e-6)
        assert ls[0][4][1] == pytest.approx(root[1], abs=0.05)
        for j in range(1, ch.num_joints):
            local = Rotation.from_quat(ls[ch.parents[j]][5]).inv() * Rotation.from_quat(ls[j][5])
            assert quat_err(local.as_quat(), rot[j]) < 1e-5
    env.close()


def test_reset_lifts_a_penetrating_pose_clear_of_the_ground():
    """Spec 7: RSI lifts the body out of the ground (+0.001 pad) in dynamic episodes only."""
    dyn = make("humanoid3d_backflip", mode="test")
    kin = make("humanoid3d_backflip", mode="test", kinematic=True)
    clip = dyn.unwrapped.clip
    ch = dyn.unwrapped.character
    lifted = 0
    for t in (0.15, 0.62, 0.93, 1.24, 1.55):
        root, _ = clip.pose_at(t)
        lows = {}
        for name, env in (("dyn", dyn), ("kin", kin)):
            env.reset(options={"time": t})
            ls = link_states(env)
            lows[name] = exact_lowest(ch.urdf_path, np.array([s[4] for s in ls]), np.array([s[5] for s in ls]))
            lows[name + "_root"] = np.array(ls[0][4])
        np.testing.assert_allclose(lows["kin_root"], root, atol=1e-6)  # playback: never moved
        np.testing.assert_allclose(lows["dyn_root"][[0, 2]], root[[0, 2]], atol=1e-6)
        if lows["kin"] < 0.0:
            lifted += 1
            assert lows["dyn"] == pytest.approx(0.001, abs=1e-6)
            assert lows["dyn_root"][1] == pytest.approx(root[1] + 0.001 - lows["kin"], abs=1e-6)
        else:
            assert lows["dyn_root"][1] == pytest.approx(root[1], abs=1e-6)
    assert 0 < lifted < 5  # both cases were seen
    dyn.close()
    kin.close()


@pytest.mark.parametrize("t, lifted", [(0.66, True), (0.03, True), (0.3, False)])
def test_reset_keeps_the_reference_root_velocity_when_it_lifts_the_pose(t, lifted):
    """The walk's reference sinks 3-5 mm into the ground at its heel strikes (0.63-0.69 s and
    0.00-0.06 s): the reset lifts it there, and the root keeps the clip's velocity (pybullet's
    resetBasePositionAndOrientation alone would zero it: the character would start with its root
    stopped and its limbs moving, and from those starts the walk fell)."""
    env = make("humanoid3d_walk", mode="test")
    u = env.unwrapped
    env.reset(options={"time": t})
    root, _ = u.clip.pose_at(t)
    lin_ref, ang_ref = u.clip.velocity_at(t)
    pos, _ = pb.getBasePositionAndOrientation(u.sim.body, physicsClientId=u.sim.client)
    assert (pos[1] > root[1] + 1e-4) == lifted
    lin, ang = pb.getBaseVelocity(u.sim.body, physicsClientId=u.sim.client)
    np.testing.assert_allclose(lin, lin_ref, atol=1e-9)
    np.testing.assert_allclose(ang, ang_ref[0], atol=1e-9)
    assert np.linalg.norm(lin_ref) > 0.8  # the walk moves forward at 0.8-1.25 m/s
    env.close()


@pytest.mark.parametrize("depth", [0.0005, 0.02])
def test_ground_penetration_is_how_deep_the_lowest_shape_lies(depth):
    """SimCharacter.ground_penetration: 0 while the body is clear of the ground, then the depth
    of its lowest collision shape (parsed from the URDF here) once it is pushed into it."""
    env = make("humanoid3d_walk", mode="test")
    u = env.unwrapped
    env.reset(options={"time": 0.3})
    ls = link_states(env)
    low = exact_lowest(u.character.urdf_path, np.array([s[4] for s in ls]), np.array([s[5] for s in ls]))
    assert low > 0
    pb.performCollisionDetection(physicsClientId=u.sim.client)
    assert u.sim.ground_penetration() == 0.0
    u.sim.shift_root(-(low + depth))
    pb.performCollisionDetection(physicsClientId=u.sim.client)
    assert u.sim.ground_penetration() == pytest.approx(depth, abs=1e-5)
    env.close()


# ------------------------------------------------------------------------------ playback


def playback(env, steps_cap=120):
    u = env.unwrapped
    T, loop = u.clip.duration, u.clip.loop
    n = min(int(np.ceil(2 * T / DT)), steps_cap)
    t0 = (T - 0.5 * n * DT) % T if loop else 0.0  # a loop crosses a cycle wrap mid-way
    env.reset(options={"time": t0})
    rewards = []
    for _ in range(n):
        _, r, term, trunc, info = env.step(env.action_space.sample())
        rewards.append(r)
        terms = info["reward_terms"]
        assert sum(terms.values()) == pytest.approx(r)
        for k, w in zip(
            ("pose", "velocity", "end_effector", "root", "com"), (0.5, 0.05, 0.15, 0.2, 0.1)
        ):  # spec 6.1 weights, each term ~full
            assert w * 0.99 <= terms[k] <= w + 1e-12, k
        if term or trunc:
            assert not loop and info["clip_end"] and not info["fallen"]
            break
    return np.array(rewards)


@pytest.mark.parametrize("stem", HUMANOID_CLIPS)
def test_kinematic_playback_earns_full_reward(stem):
    env = make(stem, kinematic=True, mode="test")
    r = playback(env)
    env.close()
    assert len(r) >= 30
    assert r.mean() >= 0.99 and r.min() >= 0.99


@pytest.mark.parametrize("stem", DOG_CLIPS)
def test_kinematic_playback_dog_clips(stem):
    path = dm_ref("motions", f"{stem}.txt")
    env = gym.make("mimic/Dog-v0", motion=str(path), kinematic=True, mode="test")
    assert env.observation_space.shape == (301,) and env.action_space.shape == (76,)
    r = playback(env)
    env.close()
    assert r.mean() >= 0.99 and r.min() >= 0.99


# ------------------------------------------------------------------------------ reward


class RewardProbe:
    """Puts the simulated character in a chosen state and evaluates the env's reward function
    against the reference at time t."""

    def __init__(self, env, t):
        self.env, self.t = env, t
        u = env.unwrapped
        env.reset(options={"time": t})
        self.task, self.sim, self.clip = u.task, u.sim, u.clip
        self.root, self.rot = self.clip.pose_at(t)
        self.lin, self.ang = self.clip.velocity_at(t)
        self.hinge = self.clip.hinge_angles_at(t)
        self.ref = self.task.reference.batch(1)
        cycles = self.ref.sample(np.array([t]))
        self.ref_root = self.ref.root_pos + cycles[:, None] * self.task.reference.cycle_delta

    def __call__(self, root=None, rot=None, hinge=None, lin=None, ang=None):
        root = self.root if root is None else root
        rot = self.rot if rot is None else rot
        hinge = self.hinge if hinge is None else hinge
        lin = self.lin if lin is None else lin
        ang = self.ang if ang is None else ang
        self.sim.set_state(root, rot[0], rot, hinge, lin, ang[0], ang)
        self.sim.query()
        Rh = heading_removal(rot[0]).as_matrix()[None]
        r, terms = self.task.reward_fn(self.task.state_ext, self.ref, self.ref_root, Rh)
        return float(r[0]), dict(zip(("pose", "velocity", "end_effector", "root", "com"), terms[0]))


W = {"pose": 0.5, "velocity": 0.05, "end_effector": 0.15, "root": 0.2, "com": 0.1}


def test_reward_is_one_on_the_reference_and_falls_with_perturbation(walk_kin):
    probe = RewardProbe(walk_kin, 0.7)
    ch = walk_kin.unwrapped.character
    r0, t0 = probe()
    assert r0 == pytest.approx(1.0, abs=1e-4)
    for k, w in W.items():
        assert t0[k] == pytest.approx(w, rel=1e-4)
    chest = ch.index("chest")
    w_chest = 0.5 / 4.8
    axis = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
    last = (r0, t0)
    for theta in (0.05, 0.1, 0.2, 0.4, 0.8):
        rot = probe.rot.copy()
        rot[chest] = (Rotation.from_quat(rot[chest]) * Rotation.from_rotvec(theta * axis)).as_quat()
        r, terms = probe(rot=rot)
        # spec 6.1: pose term 0.5 exp(-2 * w_chest * theta^2) (root and other joints unchanged)
        assert terms["pose"] == pytest.approx(0.5 * np.exp(-2.0 * w_chest * theta**2), rel=1e-5)
        assert terms["pose"] < last[1]["pose"] and terms["end_effector"] < last[1]["end_effector"]
        assert terms["root"] == pytest.approx(t0["root"], rel=1e-6)  # root untouched
        assert terms["velocity"] == pytest.approx(t0["velocity"], rel=1e-6)
        assert r < last[0]
        last = (r, terms)


def test_each_reward_term_follows_its_formula(walk_kin):
    probe = RewardProbe(walk_kin, 1.9)
    ch = walk_kin.unwrapped.character
    _, t0 = probe()
    chest = ch.index("chest")
    knee = ch.index("right_knee")
    prev = {k: t0[k] for k in W}
    for s in (0.1, 0.3, 0.6, 1.0):
        # joint angular velocity: vel_err = w_j |delta|^2, scale 0.1
        ang = probe.ang.copy()
        ang[chest] += [s, 0.0, 0.0]
        _, terms = probe(ang=ang)
        assert terms["velocity"] == pytest.approx(0.05 * np.exp(-0.1 * (0.5 / 4.8) * s * s), rel=1e-5)
        assert terms["pose"] == pytest.approx(t0["pose"], rel=1e-6)
        assert terms["velocity"] < prev["velocity"]
        prev["velocity"] = terms["velocity"]
        # hinge: angle error of a revolute joint counts like a ball joint's angle
        hinge = probe.hinge.copy()
        rot = probe.rot.copy()
        hinge[knee] -= 0.5 * s
        rot[knee] = Rotation.from_rotvec([0, 0, hinge[knee]]).as_quat()
        _, terms = probe(rot=rot, hinge=hinge)
        w_knee = 0.3 / 4.8
        assert terms["pose"] == pytest.approx(0.5 * np.exp(-2.0 * w_knee * (0.5 * s) ** 2), rel=1e-5)
        assert terms["pose"] < prev["pose"] and terms["end_effector"] < prev["end_effector"]
        prev["pose"], prev["end_effector"] = terms["pose"], terms["end_effector"]
        # root position: root_err = |d|^2; end effectors are root-relative so unchanged
        root = probe.root + [s * 0.3, 0.0, -s * 0.4]
        _, terms = probe(root=root)
        assert terms["root"] == pytest.approx(0.2 * np.exp(-5.0 * (s * 0.5) ** 2), rel=1e-5)
        assert terms["end_effector"] == pytest.approx(t0["end_effector"], rel=1e-6)
        assert terms["root"] < prev["root"]
        prev["root"] = terms["root"]
        # whole-body velocity: every body moves with the root -> COM error 0.1 |v|^2, root 0.01 |v|^2
        lin = probe.lin + [0.0, 0.0, s]
        _, terms = probe(lin=lin)
        assert terms["com"] == pytest.approx(0.1 * np.exp(-10.0 * 0.1 * s * s), rel=1e-5)
        assert terms["root"] == pytest.approx(0.2 * np.exp(-5.0 * 0.01 * s * s), rel=1e-5)
        assert terms["com"] < prev["com"]
        prev["com"] = terms["com"]


# ------------------------------------------------------------------------------ episodes


@pytest.mark.parametrize("policy", ["zero", "random"])
def test_fall_terminates_with_zero_reward(policy):
    env = make(mode="test")
    env.action_space.seed(4)
    env.reset(seed=4, options={"time": 0.3})
    for step in range(1, 91):  # 3 s
        a = np.zeros(36, np.float32) if policy == "zero" else env.action_space.sample()
        _, r, term, trunc, info = env.step(a)
        touching = fall_body_on_ground(env)
        assert term == info["fallen"] == touching, step  # terminated iff a fall body touches
        if term:
            break
    assert term and info["fallen"] and not trunc and not info["clip_end"]
    assert r == 0.0 and all(v == 0.0 for v in info["reward_terms"].values())
    env.close()


def test_non_looping_clip_ends_with_clip_end():
    env = make("humanoid3d_kick", kinematic=True, mode="test")
    T = env.unwrapped.clip.duration
    env.reset(options={"time": 0.0})
    expect = int(np.ceil(T / DT - 1e-6))  # first step with t >= T
    for step in range(1, expect + 1):
        _, r, term, trunc, info = env.step(env.action_space.sample())
        if step < expect:
            assert not term and not trunc, step
    assert term and info["clip_end"] and not info["fallen"] and not trunc
    assert r > 0.99
    env.close()


def count_steps_to_end(env, cap):
    for step in range(1, cap + 1):
        _, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            return step, term, trunc
    return cap + 1, False, False


def test_test_mode_truncates_at_20_seconds(walk_kin):
    walk_kin.reset(options={"time": 0.4})
    assert count_steps_to_end(walk_kin, 620) == (600, False, True)


def test_train_mode_episode_length_anneals():
    env = make(kinematic=True, mode="train", anneal_samples=1000)
    env.reset(options={"time": 0.1, "total_samples": 0})
    assert count_steps_to_end(env, 30) == (15, False, True)  # 0.5 s
    # lambda = (500 / 1000)^4: limit 0.5 + 0.0625 * 19.5 = 1.71875 s -> step 52
    env.reset(options={"time": 0.1, "total_samples": 500})
    assert count_steps_to_end(env, 80) == (52, False, True)
    env.reset(options={"time": 0.1, "total_samples": 1000})
    assert count_steps_to_end(env, 620) == (600, False, True)  # 20 s
    env.reset(options={"time": 0.1, "total_samples": 10**9})
    assert count_steps_to_end(env, 620) == (600, False, True)
    env.close()


def test_step_schedule_holds_short_episodes_then_jumps_to_full_length():
    env = make(kinematic=True, mode="train", anneal_samples=1000, anneal_schedule="step")
    for samples, expected in ((0, 15), (999, 15), (1000, 600), (10**9, 600)):  # 0.5 s, then 20 s
        env.reset(options={"time": 0.1, "total_samples": samples})
        assert count_steps_to_end(env, 620) == (expected, False, True), samples
    env.close()


def test_short_episodes_cut_that_fraction_of_training_episodes_evenly():
    kw = dict(kinematic=True, time_limit=1.0, anneal_samples=0, short_episodes=0.75, short_episode_limit=0.2)
    train, test = make(mode="train", **kw), make(mode="test", **kw)
    lengths = {}
    for name, env in (("train", train), ("test", test)):
        lengths[name] = []
        for _ in range(8):
            env.reset(options={"time": 0.1})
            steps, term, trunc = count_steps_to_end(env, 40)
            assert trunc and not term
            lengths[name].append(steps)
        env.close()
    assert lengths["train"] == [30, 6, 6, 6, 30, 6, 6, 6]  # 1 s, then three of every four cut at 0.2 s
    assert lengths["test"] == [30] * 8  # test episodes keep their full length


@pytest.mark.parametrize("fraction", [1.0, -0.1, True, "0.5"])
def test_short_episode_fraction_outside_0_to_1_is_refused(fraction):
    with pytest.raises(ValueError, match="short_episodes"):
        make(kinematic=True, short_episodes=fraction)


@pytest.mark.parametrize("schedule", ["linear", "", None])
def test_unknown_anneal_schedule_is_refused(schedule):
    with pytest.raises(ValueError, match="anneal_schedule"):
        make(kinematic=True, mode="train", anneal_schedule=schedule)


def test_same_seed_same_episode_different_seed_different_start():
    envs = [make(mode="test") for _ in range(3)]
    obs = [e.reset(seed=s) for e, s in zip(envs, (7, 7, 8))]
    assert obs[0][1]["time"] == obs[1][1]["time"] != obs[2][1]["time"]
    np.testing.assert_array_equal(obs[0][0], obs[1][0])
    rng = np.random.default_rng(1)
    mean, std = envs[0].unwrapped.action_norm
    for _ in range(25):
        a = (mean + 0.1 * std * rng.normal(size=36)).astype(np.float32)
        s0 = envs[0].step(a)
        s1 = envs[1].step(a)
        np.testing.assert_array_equal(s0[0], s1[0])
        assert s0[1:4] == s1[1:4]
        if s0[2] or s0[3]:
            break
    for e in envs:
        e.close()


def test_reference_root_resyncs_to_the_sim_at_cycle_wrap():
    env = make(mode="test")
    u = env.unwrapped
    clip = u.clip
    T = clip.duration
    t0 = T - 5.5 * DT
    env.reset(options={"time": t0})
    prev_phase, wrapped_at = None, None
    for step in range(1, 12):
        t = t0 + step * DT
        _, _, term, _, info = env.step(ref_action(env, t))
        assert not term, "fell before the wrap"
        sim_root = u.sim.query()[0, 14:17].copy()
        ref_root = u.task.ref_root[0].copy()
        if prev_phase is not None and info["phase"] < prev_phase:
            wrapped_at = step
            np.testing.assert_allclose(ref_root[[0, 2]], sim_root[[0, 2]], atol=1e-9)
            # height stays the clip's
            assert ref_root[1] == pytest.approx(clip.pose_at(t)[0][1], abs=1e-5)
            sync = ref_root.copy()
        elif wrapped_at is None:
            assert np.abs(ref_root[[0, 2]] - sim_root[[0, 2]]).max() > 1e-6  # drifted apart
            # before the wrap the reference is the clip itself
            np.testing.assert_allclose(ref_root, clip.pose_at(t)[0], atol=1e-5)
        else:
            # after the wrap the shift is kept: the reference moves as the clip does
            moved = clip.pose_at(t)[0] - clip.pose_at(t0 + wrapped_at * DT)[0]
            np.testing.assert_allclose(ref_root, sync + moved, atol=1e-5)
        prev_phase = info["phase"]
    assert wrapped_at is not None
    env.close()


def test_rsi_start_times_are_uniform():
    env = make(kinematic=True, mode="test")
    T = env.unwrapped.clip.duration
    times = [env.reset(seed=0)[1]["time"]] + [env.reset()[1]["time"] for _ in range(199)]
    times = np.array(times)
    assert times.min() >= 0.0 and times.max() <= T
    assert times.min() < 0.05 * T and times.max() > 0.95 * T
    assert times.mean() == pytest.approx(T / 2, abs=0.1 * T)  # 5 sigma of the mean
    assert stats.kstest(times / T, "uniform").pvalue > 1e-3
    env.close()
