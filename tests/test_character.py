"""Characters: the humanoid/dog descriptions against the spec (section 2) and DeepMimic's files,
the URDF as pybullet loads it, and forward kinematics against pybullet's own link states."""

import json

import numpy as np
import pybullet as pb
import pytest
from conftest import dm_ref, exact_lowest, quat_err
from scipy.spatial.transform import Rotation

from mimic.kinematics.character import FIXED, REVOLUTE, ROOT, SPHERICAL
from mimic.kinematics.fk import forward_kinematics, lowest_point

# spec section 2.1: (name, type, parent, torque limit, DiffWeight, kp)
HUMANOID = [
    ("root", ROOT, -1, 0, 1.0, 0),
    ("chest", SPHERICAL, 0, 200, 0.5, 1000),
    ("neck", SPHERICAL, 1, 50, 0.3, 100),
    ("right_hip", SPHERICAL, 0, 200, 0.5, 500),
    ("right_knee", REVOLUTE, 3, 150, 0.3, 500),
    ("right_ankle", SPHERICAL, 4, 90, 0.2, 400),
    ("right_shoulder", SPHERICAL, 1, 100, 0.3, 400),
    ("right_elbow", REVOLUTE, 6, 60, 0.2, 300),
    ("right_wrist", FIXED, 7, None, 0.0, 0),
    ("left_hip", SPHERICAL, 0, 200, 0.5, 500),
    ("left_knee", REVOLUTE, 9, 150, 0.3, 500),
    ("left_ankle", SPHERICAL, 10, 90, 0.2, 400),
    ("left_shoulder", SPHERICAL, 1, 100, 0.3, 400),
    ("left_elbow", REVOLUTE, 12, 60, 0.2, 300),
    ("left_wrist", FIXED, 13, None, 0.0, 0),
]
HUMANOID_MASSES = [6.0, 14.0, 2.0, 4.5, 3.0, 1.0, 1.5, 1.0, 0.5, 4.5, 3.0, 1.0, 1.5, 1.0, 0.5]
HUMANOID_ATTACH = {
    "chest": (0, 0.236151, 0),
    "neck": (0, 0.223894, 0),
    "right_hip": (0, 0, 0.084887),
    "left_hip": (0, 0, -0.084887),
    "right_knee": (0, -0.421546, 0),
    "right_ankle": (0, -0.40987, 0),
    "right_shoulder": (-0.02405, 0.2435, 0.18311),
    "left_shoulder": (-0.02405, 0.2435, -0.18311),
    "right_elbow": (0, -0.274788, 0),
    "right_wrist": (0, -0.258947, 0),
}
HUMANOID_COM = {
    "root": (0, 0.07, 0),
    "chest": (0, 0.12, 0),
    "neck": (0, 0.175, 0),
    "right_hip": (0, -0.21, 0),
    "right_knee": (0, -0.20, 0),
    "right_ankle": (0.045, -0.0225, 0),
    "right_shoulder": (0, -0.14, 0),
    "right_elbow": (0, -0.12, 0),
    "right_wrist": (0, 0, 0),
}
HUMANOID_BALL_LIMITS = {
    "chest": [(-1.2, 1.2)] * 3,
    "neck": [(-1, 1)] * 3,
    "right_hip": [(-1.2, 1.2), (-1, 1), (-1.57, 2.57)],
    "left_hip": [(-1.2, 1.2), (-1, 1), (-1.57, 2.57)],
    "right_ankle": [(-1, 1), (-1, 1), (-1.57, 1.57)],
    "left_ankle": [(-1, 1), (-1, 1), (-1.57, 1.57)],
    "right_shoulder": [(-3.14, 0.5), (-1.5, 1.5), (-0.7, 3.14)],
    "left_shoulder": [(-0.5, 3.14), (-1.5, 1.5), (-0.7, 3.14)],
}
PB_TYPES = {SPHERICAL: pb.JOINT_SPHERICAL, REVOLUTE: pb.JOINT_REVOLUTE, FIXED: pb.JOINT_FIXED}


# ------------------------------------------------------------------------ the description


def test_humanoid_description_matches_spec(humanoid):
    ch = humanoid
    assert ch.joint_names == [r[0] for r in HUMANOID]
    np.testing.assert_array_equal(ch.joint_types, [r[1] for r in HUMANOID])
    np.testing.assert_array_equal(ch.parents, [r[2] for r in HUMANOID])
    assert ch.total_mass == pytest.approx(45.0)
    np.testing.assert_allclose(ch.masses, HUMANOID_MASSES)
    for j, (_, _jt, _, tlim, dw, kp) in enumerate(HUMANOID):
        if tlim is not None:
            assert ch.torque_limits[j] == tlim, ch.joint_names[j]
        assert ch.diff_weights[j] == pytest.approx(dw / 4.8), ch.joint_names[j]
        assert ch.kp[j] == kp and ch.kd[j] == pytest.approx(kp / 10)
    assert ch.diff_weights.sum() == pytest.approx(1.0)
    for name, a in HUMANOID_ATTACH.items():
        np.testing.assert_allclose(ch.attach[ch.index(name)], a, atol=1e-9, err_msg=name)
    for name, c in HUMANOID_COM.items():
        np.testing.assert_allclose(ch.com_offset[ch.index(name)], c, atol=1e-9, err_msg=name)
    for name in ("right_knee", "left_knee"):
        assert tuple(ch.joint_limits[ch.index(name)]) == pytest.approx((-3.14, 0.0))
    for name in ("right_elbow", "left_elbow"):
        assert tuple(ch.joint_limits[ch.index(name)]) == pytest.approx((0.0, 3.14))
    for name, lim in HUMANOID_BALL_LIMITS.items():
        low, high = ch.joint_limits[ch.index(name)]
        np.testing.assert_allclose(np.stack([low, high], axis=1), lim, err_msg=name)
    assert [ch.joint_names[e] for e in ch.end_effectors] == ["right_ankle", "right_wrist", "left_ankle", "left_wrist"]
    assert ch.pose_size == 43 and len(ch.actuated) == 12
    # mechanical DoF: 6 + 3 per ball + 1 per hinge = 34
    assert 6 + 3 * len(ch.joints_of_type(SPHERICAL)) + len(ch.joints_of_type(REVOLUTE)) == 34


def test_fall_contact_bodies_and_clip_exceptions(humanoid):
    ch = humanoid
    names = ch.joint_names
    default = {n for n in names if n not in ("right_ankle", "left_ankle")}
    assert {names[j] for j in np.flatnonzero(ch.fall_contact)} == default
    cart = ch.fall_contact_for_clip("humanoid3d_cartwheel")
    assert {names[j] for j in np.flatnonzero(cart)} == default - {"right_wrist", "left_wrist"}
    crawl = ch.fall_contact_for_clip("humanoid3d_crawl")
    assert {names[j] for j in np.flatnonzero(crawl)} == {"root", "chest", "neck"}
    for stem in ("humanoid3d_roll", "humanoid3d_getup_facedown", "humanoid3d_getup_faceup"):
        assert not ch.fall_contact_for_clip(stem).any()
    np.testing.assert_array_equal(ch.fall_contact_for_clip("humanoid3d_walk"), ch.fall_contact)


def test_dog_description_matches_spec(dog):
    assert dog.num_joints == 23
    assert dog.total_mass == pytest.approx(29.25)
    assert dog.pose_size == 83
    assert len(dog.joints_of_type(SPHERICAL)) == 18 and len(dog.joints_of_type(REVOLUTE)) == 4
    assert sorted(dog.joint_names[e] for e in dog.end_effectors) == sorted(
        ["left_finger", "right_finger", "left_toe", "right_toe"]
    )
    assert dog.diff_weights[0] == pytest.approx(1.0 / 7.05)
    allowed = {dog.joint_names[j] for j in np.flatnonzero(~dog.fall_contact)}
    assert allowed == {"left_finger", "right_finger", "left_toe", "right_toe"}


@pytest.mark.parametrize("name,dm_file", [("humanoid", "humanoid3d.txt"), ("dog", "dog3d.txt")])
def test_description_matches_deepmimic_character_file(name, dm_file, request):
    ch = request.getfixturevalue(name)
    data = json.loads(dm_ref("characters", dm_file).read_text())
    joints = data["Skeleton"]["Joints"]
    bodies = data["BodyDefs"]
    assert [j["Name"] for j in joints] == ch.joint_names
    assert [j["Parent"] for j in joints] == ch.parents.tolist()
    types = {"none": ROOT, "spherical": SPHERICAL, "revolute": REVOLUTE, "fixed": FIXED}
    assert [types[j["Type"]] for j in joints] == ch.joint_types.tolist()
    dw = np.array([j["DiffWeight"] for j in joints], dtype=float)
    np.testing.assert_allclose(ch.diff_weights, dw / dw.sum())
    for k, j in enumerate(joints):
        if k > 0:
            np.testing.assert_allclose(
                ch.attach[k], [j["AttachX"], j["AttachY"], j["AttachZ"]], atol=1e-6, err_msg=j["Name"]
            )
        if ch.joint_types[k] in (SPHERICAL, REVOLUTE):
            assert ch.torque_limits[k] == pytest.approx(j["TorqueLim"]), j["Name"]
        if ch.joint_types[k] == REVOLUTE:
            assert tuple(ch.joint_limits[k]) == pytest.approx((j["LimLow0"], j["LimHigh0"]))
        if ch.joint_types[k] == SPHERICAL and j["LimLow0"] <= j["LimHigh0"]:
            low, high = ch.joint_limits[k]
            np.testing.assert_allclose(low, [j["LimLow0"], j["LimLow1"], j["LimLow2"]])
            np.testing.assert_allclose(high, [j["LimHigh0"], j["LimHigh1"], j["LimHigh2"]])
        assert bool(j["IsEndEffector"]) == (k in ch.end_effectors.tolist()), j["Name"]
    np.testing.assert_allclose(ch.masses, [b["Mass"] for b in bodies])
    np.testing.assert_allclose(ch.com_offset, [[b["AttachX"], b["AttachY"], b["AttachZ"]] for b in bodies], atol=1e-6)


# ------------------------------------------------------------------------ pybullet


@pytest.fixture
def client():
    cid = pb.connect(pb.DIRECT)
    yield cid
    pb.disconnect(physicsClientId=cid)


def load(cid, character, inertia_from_file=True):
    flags = pb.URDF_MAINTAIN_LINK_ORDER | (pb.URDF_USE_INERTIA_FROM_FILE if inertia_from_file else 0)
    return pb.loadURDF(str(character.urdf_path), [0, 2, 0], flags=flags, physicsClientId=cid)


@pytest.mark.parametrize("name", ["humanoid", "dog"])
def test_pybullet_loads_urdf_unscaled_in_id_order(name, client, request):
    ch = request.getfixturevalue(name)
    body = load(client, ch)
    n = pb.getNumJoints(body, physicsClientId=client)
    assert n == ch.num_joints == (15 if name == "humanoid" else 23)
    mass = pb.getDynamicsInfo(body, -1, physicsClientId=client)[0]
    for j in range(n):
        info = pb.getJointInfo(body, j, physicsClientId=client)
        assert info[12].decode() == ch.joint_names[j]  # link j is ID j
        if j == 0:
            assert info[2] == pb.JOINT_FIXED and info[16] == -1  # root hangs off the base
        else:
            assert info[2] == PB_TYPES[ch.joint_types[j]]
            assert info[16] == ch.parents[j]
            # no globalScaling: the joint origin is the metre-sized attach offset (pybullet
            # reports it from the parent's centre of mass)
            np.testing.assert_allclose(info[14], ch.attach[j] - ch.com_offset[ch.parents[j]], atol=1e-6)
        if ch.joint_types[j] == REVOLUTE:
            assert (info[8], info[9]) == pytest.approx(tuple(ch.joint_limits[j]))
            np.testing.assert_allclose(info[13], [0, 0, 1])  # hinge about local z
            assert info[10] == pytest.approx(ch.torque_limits[j])
        mass += pb.getDynamicsInfo(body, j, physicsClientId=client)[0]
    assert mass == pytest.approx(45.0 if name == "humanoid" else 29.25, abs=1e-3)
    if name == "humanoid":
        # metre-sized collision shapes: root sphere diameter 0.18, thigh capsule 0.30 x r 0.055
        root = pb.getCollisionShapeData(body, 0, physicsClientId=client)[0]
        assert root[2] == pb.GEOM_SPHERE and root[3][0] == pytest.approx(0.09)
        thigh = pb.getCollisionShapeData(body, 3, physicsClientId=client)[0]
        assert thigh[2] == pb.GEOM_CAPSULE and thigh[3][:2] == pytest.approx((0.30, 0.055))
        foot = pb.getCollisionShapeData(body, 5, physicsClientId=client)[0]
        assert foot[2] == pb.GEOM_BOX and foot[3] == pytest.approx((0.177, 0.055, 0.09))


@pytest.mark.parametrize("name", ["humanoid", "dog"])
def test_urdf_inertia_is_what_bullet_computes_from_the_collision_shapes(name, client, request):
    """Spec 2.1 / 10.8: DeepMimic's inertia comes from the collision shapes. The URDF's inertia
    (used with URDF_USE_INERTIA_FROM_FILE) must match what pybullet computes from the shapes."""
    ch = request.getfixturevalue(name)
    from_file = load(client, ch, inertia_from_file=True)
    computed = load(client, ch, inertia_from_file=False)
    worst = []
    for j in range(ch.num_joints):
        a = np.array(pb.getDynamicsInfo(from_file, j, physicsClientId=client)[2])
        b = np.array(pb.getDynamicsInfo(computed, j, physicsClientId=client)[2])
        rel = np.abs(a - b) / b
        worst.append((float(rel.max()), ch.joint_names[j], a.round(6).tolist(), b.round(6).tolist()))
    bad = [w for w in worst if w[0] > 0.03]
    assert not bad, f"URDF inertia vs pybullet-from-shapes differs > 3%: {bad}"


def place(cid, body, ch, root, rot, hinge, lin=None, ang=None):
    pb.resetBasePositionAndOrientation(body, root.tolist(), rot[0].tolist(), physicsClientId=cid)
    act = [int(j) for j in ch.actuated]
    pos = [rot[j].tolist() if ch.joint_types[j] == SPHERICAL else [hinge[j]] for j in act]
    if lin is None:
        pb.resetJointStatesMultiDof(body, act, pos, physicsClientId=cid)
        return
    pb.resetBaseVelocity(body, lin.tolist(), ang[0].tolist(), physicsClientId=cid)
    vel = [ang[j].tolist() if ch.joint_types[j] == SPHERICAL else [ang[j][2]] for j in act]
    pb.resetJointStatesMultiDof(body, act, pos, vel, physicsClientId=cid)


@pytest.mark.parametrize(
    "stem,t",
    [("humanoid3d_walk", 0.4), ("humanoid3d_backflip", 0.83), ("humanoid3d_cartwheel", 1.37), ("humanoid3d_roll", 0.5)],
)
def test_forward_kinematics_agrees_with_pybullet(stem, t, clips, humanoid, client):
    ch = humanoid
    clip = clips(stem)
    body = load(client, ch)
    root, rot = clip.pose_at(t)
    lin, ang = clip.velocity_at(t)
    hinge = clip.hinge_angles_at(t)
    place(client, body, ch, root, rot, hinge, lin, ang)
    fk = forward_kinematics(ch, root, rot, lin, ang)
    ls = pb.getLinkStates(
        body, list(range(ch.num_joints)), computeLinkVelocity=1, computeForwardKinematics=1, physicsClientId=client
    )
    np.testing.assert_allclose(fk["joint_pos"], [s[4] for s in ls], atol=1e-6)  # joint frames
    np.testing.assert_allclose(fk["com_pos"], [s[0] for s in ls], atol=1e-6)  # body centres
    assert quat_err(fk["joint_rot"], [s[5] for s in ls]) < 1e-6
    np.testing.assert_allclose(fk["ang_vel"], [s[7] for s in ls], atol=1e-6)
    np.testing.assert_allclose(fk["com_vel"], [s[6] for s in ls], atol=1e-6)
    v = np.array([s[6] for s in ls])
    np.testing.assert_allclose(fk["char_com_vel"], ch.masses @ v / 45.0, atol=1e-6)
    # the clip's rotations really are the joints' local rotations: parent^-1 * child
    for j in range(1, ch.num_joints):
        p = ch.parents[j]
        local = Rotation.from_quat(ls[p][5]).inv() * Rotation.from_quat(ls[j][5])
        assert quat_err(local.as_quat(), rot[j]) < 1e-6


def test_lowest_point_agrees_with_pybullet(clips, humanoid, client):
    ch = humanoid
    body = load(client, ch)
    rng = np.random.default_rng(2)
    for stem in ("humanoid3d_backflip", "humanoid3d_roll", "humanoid3d_cartwheel", "humanoid3d_getup_faceup"):
        clip = clips(stem)
        for t in rng.uniform(0, clip.duration, 5):
            root, rot = clip.pose_at(t)
            place(client, body, ch, root, rot, clip.hinge_angles_at(t))
            ls = pb.getLinkStates(body, list(range(ch.num_joints)), computeForwardKinematics=1, physicsClientId=client)
            jp = np.array([s[4] for s in ls])
            jr = np.array([s[5] for s in ls])
            low = lowest_point(ch, jp, jr)
            aabb = min(pb.getAABB(body, j, physicsClientId=client)[0][1] for j in range(ch.num_joints))
            assert aabb - 1e-6 <= low <= aabb + 0.03, (stem, t)  # AABBs are conservative
            assert low == pytest.approx(exact_lowest(ch.urdf_path, jp, jr), abs=1e-6)
            fk = forward_kinematics(ch, root, rot)  # same from mimic's FK
            assert lowest_point(ch, fk["joint_pos"], fk["joint_rot"]) == pytest.approx(low, abs=1e-6)
