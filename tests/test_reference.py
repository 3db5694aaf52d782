"""ReferenceMotion's precomputed table against the exact clip evaluation and independent maths."""

import numpy as np
import pytest
from conftest import quat_err
from scipy.spatial.transform import Rotation

from mimic.kinematics.fk import forward_kinematics
from mimic.kinematics.reference import ReferenceMotion

STEMS = ["humanoid3d_walk", "humanoid3d_roll", "humanoid3d_backflip", "humanoid3d_kick", "humanoid3d_spin"]


@pytest.fixture(scope="module")
def refs(clips):
    cache = {}

    def get(stem):
        if stem not in cache:
            cache[stem] = ReferenceMotion(clips(stem))
        return cache[stem]

    return get


def sample_times(clip, n=40, seed=0):
    rng = np.random.default_rng(seed)
    T = clip.duration
    t = rng.uniform(-0.0 if not clip.loop else -T, 3 * T, n)
    # frame times, exact ends and a few past-the-end times
    return np.concatenate([t, clip.frame_times[:5], [0.0, T, T + 0.4, 2 * T - 1e-9]])


def heading_removal(q):
    """Rotation about y by -h, h = atan2(-d_z, d_x), d = q (1, 0, 0) -- with scipy."""
    d = Rotation.from_quat(q).apply([1.0, 0.0, 0.0])
    return Rotation.from_rotvec([0.0, -np.arctan2(-d[2], d[0]), 0.0])


@pytest.mark.parametrize("stem", STEMS)
def test_sample_matches_clip_evaluation(stem, refs):
    ref = refs(stem)
    clip = ref.clip
    for t in sample_times(clip):
        c = ref.sample(float(t))
        assert c == (int(np.floor(t / clip.duration)) if clip.loop else 0)
        root, rot = clip.pose_at(t)
        lin, ang = clip.velocity_at(t)
        np.testing.assert_allclose(ref.root_pos + c * clip.cycle_delta, root, atol=1e-6)
        assert quat_err(ref.local_rot, rot) < 1e-6, t
        np.testing.assert_allclose(ref.hinge, clip.hinge_angles_at(t), atol=1e-6)
        np.testing.assert_allclose(ref.root_lin_vel, lin, atol=1e-6)
        np.testing.assert_allclose(ref.local_ang_vel, ang, atol=1e-6)
        assert ref.phase(float(t)) == pytest.approx(float(clip.phase(t)), abs=1e-12)


@pytest.mark.parametrize("stem", ["humanoid3d_walk", "humanoid3d_backflip", "humanoid3d_roll", "humanoid3d_kick"])
def test_end_effector_table_is_fk_in_the_heading_frame(stem, refs, humanoid):
    ref = refs(stem)
    clip = ref.clip
    ee = humanoid.end_effectors
    assert [humanoid.joint_names[e] for e in ee] == ["right_ankle", "right_wrist", "left_ankle", "left_wrist"]
    checked = 0
    for t in sample_times(clip, n=30, seed=3):
        ref.sample(float(t))
        root, rot = clip.pose_at(t)
        d = Rotation.from_quat(rot[0]).apply([1.0, 0.0, 0.0])
        if np.hypot(d[0], d[2]) < 0.3:
            # root x axis nearly vertical: the heading (hence the frame) turns very fast and a
            # table lookup between grid points is only good to millimetres
            continue
        checked += 1
        fk = forward_kinematics(humanoid, root, rot)
        rel = fk["joint_pos"][ee] - root
        rel[:, 1] = fk["joint_pos"][ee, 1]  # height above the ground (y = 0)
        expect = heading_removal(rot[0]).apply(rel)
        # grid interpolation of fast end-effector arcs: measured <= 1.7e-4 m over all clips
        np.testing.assert_allclose(ref.ee_rel, expect, atol=5e-4)
    assert checked >= 20


def body_com(character, root, rot):
    fk = forward_kinematics(character, root, rot)
    return character.masses @ fk["com_pos"] / character.masses.sum()


def interval_velocity(clip, f, eps=1e-7):
    """Forward-difference velocities of interval f (root world, joints local), from pose_at
    just inside the interval, with scipy."""
    ta, tb = clip.frame_times[f] + eps, clip.frame_times[f + 1] - eps
    ra, qa = clip.pose_at(ta)
    rb, qb = clip.pose_at(tb)
    Ra, Rb = Rotation.from_quat(qa), Rotation.from_quat(qb)
    ang = np.zeros((len(qa), 3))
    ang[0] = (Rb[0] * Ra[0].inv()).as_rotvec()
    ang[1:] = (Ra[1:].inv() * Rb[1:]).as_rotvec()
    return (rb - ra) / (tb - ta), ang / (tb - ta)


def com_rate_along(character, root, rot, lin, ang, h=1e-6):
    """d/dh of the whole-body COM when the pose moves with constant velocities (root world,
    joints local) -- a central finite difference of mass-weighted FK body centres."""

    def advanced(s):
        r = Rotation.from_quat(rot)
        q = np.empty_like(rot)
        q[0] = (Rotation.from_rotvec(s * ang[0]) * r[0]).as_quat()
        q[1:] = (r[1:] * Rotation.from_rotvec(s * ang[1:])).as_quat()
        return body_com(character, root + s * lin, q)

    return (advanced(h) - advanced(-h)) / (2 * h)


@pytest.mark.parametrize("stem", ["humanoid3d_walk", "humanoid3d_backflip", "humanoid3d_roll"])
def test_com_velocity_matches_finite_difference_of_the_centre_of_mass(stem, refs, humanoid):
    ref = refs(stem)
    clip = ref.clip
    h = 1e-5
    rng = np.random.default_rng(7)
    for f in rng.choice(clip.num_frames - 2, 8, replace=False):
        # At a frame time the reference velocity is the forward difference of the interval that
        # starts there, i.e. the right derivative of the pose: a plain finite difference of the
        # whole-body centre of mass at small h must match.
        t = clip.frame_times[f]
        ref.sample(float(t))
        fd = (body_com(humanoid, *clip.pose_at(t + h)) - body_com(humanoid, *clip.pose_at(t))) / h
        assert np.linalg.norm(ref.com_vel - fd) <= 0.05 * np.linalg.norm(fd) + 0.05
        np.testing.assert_allclose(ref.com_vel, fd, atol=2e-3 + 1e-3 * np.linalg.norm(fd))
        # Inside an interval DeepMimic lerps the velocity rows of interval f and f+1 at the
        # interpolated pose; the COM velocity is linear in them, so it is the same lerp of the
        # COM rates obtained by moving the current pose with either row.
        b = rng.uniform(0.1, 0.9)
        t = clip.frame_times[f] + b * clip.dts[f]
        ref.sample(float(t))
        root, rot = clip.pose_at(t)
        v0 = com_rate_along(humanoid, root, rot, *interval_velocity(clip, f))
        v1 = com_rate_along(humanoid, root, rot, *interval_velocity(clip, f + 1))
        central = (body_com(humanoid, *clip.pose_at(t + h)) - body_com(humanoid, *clip.pose_at(t - h))) / (2 * h)
        np.testing.assert_allclose(v0, central, atol=1e-3)  # interval f moves with row f
        np.testing.assert_allclose(ref.com_vel, (1 - b) * v0 + b * v1, atol=2e-3)


@pytest.mark.parametrize("stem", ["humanoid3d_walk", "humanoid3d_kick", "humanoid3d_roll"])
@pytest.mark.parametrize("size", [1, 2, 17])  # small batches take a scalar path
def test_batch_sample_equals_per_time_sample(stem, size, refs):
    ref = refs(stem)
    times = sample_times(ref.clip, n=9, seed=9)[:size]
    assert len(times) == size
    batch = ref.batch(size)
    cycles = batch.sample(times).copy()
    for k, t in enumerate(times):
        c = ref.sample(float(t))
        assert cycles[k] == c
        assert batch.phase[k] == pytest.approx(ref.phase(float(t)), abs=1e-12)
        for name in ("root_pos", "local_rot", "local_ang_vel", "root_lin_vel", "ee_rel", "com_vel", "hinge"):
            np.testing.assert_allclose(
                getattr(batch, name)[k], getattr(ref, name), atol=1e-12, err_msg=f"{name} at t={t}"
            )


def test_non_looping_reference_is_at_rest_past_the_end(refs):
    ref = refs("humanoid3d_kick")
    T = ref.duration
    ref.sample(T - 0.3)
    assert np.abs(ref.com_vel).sum() > 0
    ref.sample(T + 0.25)
    assert not ref.root_lin_vel.any() and not ref.local_ang_vel.any() and not ref.com_vel.any()
    root, rot = ref.clip.pose_at(T)
    np.testing.assert_allclose(ref.root_pos, root, atol=1e-9)
    assert ref.phase(T + 0.25) == 1.0
