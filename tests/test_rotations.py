"""Rotation conventions and the hand-written quaternion kernels, checked against scipy."""

import numpy as np
import pytest
from conftest import quat_err
from scipy.spatial.transform import Rotation, Slerp

from mimic.kinematics import rotations as R

RNG = np.random.default_rng(1234)


def rand_quats(n, rng=RNG):
    return Rotation.random(n, random_state=rng).as_quat()  # xyzw, scipy's order


# ------------------------------------------------------------------------------------ orders


def test_wxyz_xyzw_round_trip_and_meaning():
    q = rand_quats(50)
    wxyz = R.xyzw_to_wxyz(q)
    np.testing.assert_array_equal(wxyz[:, 0], q[:, 3])  # w moves to the front
    np.testing.assert_array_equal(R.wxyz_to_xyzw(wxyz), q)
    # the same rotation according to scipy's scalar-first reader
    np.testing.assert_allclose(
        Rotation.from_quat(wxyz, scalar_first=True).as_matrix(), Rotation.from_quat(q).as_matrix(), atol=1e-12
    )
    np.testing.assert_array_equal(R.wxyz_to_xyzw([1.0, 0.0, 0.0, 0.0]), [0, 0, 0, 1])
    assert R.xyzw_to_wxyz(q.reshape(5, 10, 4)).shape == (5, 10, 4)  # any leading shape


# ------------------------------------------------------------------------------ z-up / y-up


ZUP_TO_YUP = Rotation.from_euler("x", -90, degrees=True)  # the documented change of basis


def test_zup_yup_vectors_round_trip_and_up_maps_to_up():
    v = RNG.normal(size=(20, 3))
    np.testing.assert_allclose(R.yup_to_zup_vec(R.zup_to_yup_vec(v)), v, atol=1e-15)
    np.testing.assert_allclose(R.zup_to_yup_vec(R.yup_to_zup_vec(v)), v, atol=1e-15)
    np.testing.assert_allclose(R.zup_to_yup_vec(v), ZUP_TO_YUP.apply(v), atol=1e-12)
    np.testing.assert_allclose(R.zup_to_yup_vec([0.0, 0.0, 1.0]), [0, 1, 0])  # up is up
    np.testing.assert_allclose(R.zup_to_yup_vec([1.0, 0.0, 0.0]), [1, 0, 0])  # forward kept
    # a right-handed change of basis: determinant +1
    M = np.stack([R.zup_to_yup_vec(e) for e in np.eye(3)], axis=1)
    assert np.linalg.det(M) == pytest.approx(1.0)


def test_zup_yup_quaternions_round_trip_and_conjugation():
    q = rand_quats(20)
    np.testing.assert_allclose(quat_err(R.yup_to_zup_quat(R.zup_to_yup_quat(q)), q), 0, atol=1e-12)
    np.testing.assert_allclose(quat_err(R.zup_to_yup_quat(R.yup_to_zup_quat(q)), q), 0, atol=1e-12)
    # rotating in z-up then converting == converting then rotating in y-up
    v = RNG.normal(size=(20, 3))
    qy = R.zup_to_yup_quat(q)
    np.testing.assert_allclose(
        Rotation.from_quat(qy).apply(R.zup_to_yup_vec(v)), R.zup_to_yup_vec(Rotation.from_quat(q).apply(v)), atol=1e-12
    )
    # a turn about z-up's up axis becomes a turn about y (y-up's up) by the same angle
    yaw = Rotation.from_euler("z", 0.7).as_quat()
    assert quat_err(R.zup_to_yup_quat(yaw), Rotation.from_euler("y", 0.7).as_quat()) < 1e-12
    # z-up identity (standing upright) stays identity
    assert quat_err(R.zup_to_yup_quat(np.array([0.0, 0, 0, 1])), [0, 0, 0, 1]) < 1e-12


# ------------------------------------------------------------------------------------ kernels


def test_quat_mul_and_batches_match_scipy():
    a, b = rand_quats(64), rand_quats(64)
    expect = (Rotation.from_quat(a) * Rotation.from_quat(b)).as_quat()
    assert quat_err(R.quat_mul(a, b), expect) < 1e-12
    assert quat_err(R.quat_mul_batch(a, b), expect) < 1e-12
    # the batch kernel is the same Hamilton product, sign included
    np.testing.assert_allclose(R.quat_mul_batch(a, b), R.quat_mul(a, b), atol=1e-14)
    inv_ab = (Rotation.from_quat(a).inv() * Rotation.from_quat(b)).as_quat()
    assert quat_err(R.quat_conj_mul_batch(a, b), inv_ab) < 1e-12
    # broadcasting of quat_mul: one quaternion times a batch
    one_times_many = (Rotation.from_quat(a[0]) * Rotation.from_quat(b)).as_quat()
    assert quat_err(R.quat_mul(a[0], b), one_times_many) < 1e-12
    # Hamilton order: a*b applies b first
    v = RNG.normal(size=3)
    np.testing.assert_allclose(
        R.quat_rotate(R.quat_mul(a[:1], b[:1]), v)[0],
        Rotation.from_quat(a[0]).apply(Rotation.from_quat(b[0]).apply(v)),
        atol=1e-12,
    )


def test_rotate_and_matrices_match_scipy():
    q = rand_quats(40)
    v = RNG.normal(size=(40, 3))
    np.testing.assert_allclose(R.quat_rotate(q, v), Rotation.from_quat(q).apply(v), atol=1e-12)
    mats = Rotation.from_quat(q).as_matrix()
    np.testing.assert_allclose(R.quat_to_matrix(q), mats, atol=1e-12)
    np.testing.assert_allclose(R.quat_to_matrix_batch(q), mats, atol=1e-12)
    np.testing.assert_allclose(R.quat_to_matrix_batch(-q), mats, atol=1e-12)  # sign-invariant


def test_rotvec_conversions_match_scipy_including_small_and_half_turn_angles():
    rv = np.concatenate(
        [
            RNG.normal(size=(30, 3)),
            RNG.normal(size=(5, 3)) * 1e-9,  # tiny angles
            np.zeros((1, 3)),  # identity
        ]
    )
    ax = RNG.normal(size=(5, 3))
    ax /= np.linalg.norm(ax, axis=1, keepdims=True)
    rv = np.concatenate([rv, ax * (np.pi - 1e-6)])  # near a half turn
    rv = Rotation.from_rotvec(rv).as_rotvec()  # angles in [0, pi]
    q = R.quat_from_rotvec(rv)
    assert quat_err(q, Rotation.from_rotvec(rv).as_quat()) < 1e-12
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-14)
    np.testing.assert_allclose(R.quat_to_rotvec(q), rv, atol=1e-9)
    # either sign of the quaternion gives the same (shortest) rotation vector
    np.testing.assert_allclose(R.quat_to_rotvec(-q), rv, atol=1e-9)
    qs = rand_quats(30)
    np.testing.assert_allclose(R.quat_to_rotvec(qs), Rotation.from_quat(qs).as_rotvec(), atol=1e-10)
    np.testing.assert_allclose(R.quat_angle(qs), Rotation.from_quat(qs).magnitude(), atol=1e-10)


def test_axis_angle_matches_scipy_and_zero_axis_means_z():
    axis = RNG.normal(size=(10, 3)) * 3.0  # unnormalised on purpose
    angle = RNG.uniform(-4, 4, size=10)
    expect = Rotation.from_rotvec(axis / np.linalg.norm(axis, axis=1, keepdims=True) * angle[:, None])
    assert quat_err(R.quat_from_axis_angle(axis, angle), expect.as_quat()) < 1e-12
    assert quat_err(R.quat_from_axis_angle(np.zeros(3), 0.5), Rotation.from_rotvec([0, 0, 0.5]).as_quat()) < 1e-12


@pytest.mark.parametrize("t", [0.0, 0.1, 0.5, 0.77, 1.0])
def test_slerp_matches_scipy(t):
    q0, q1 = rand_quats(25), rand_quats(25)
    q1[::2] *= -1  # opposite hemispheres must still take the short way
    got = R.quat_slerp(q0, q1, np.full(25, t))
    for k in range(25):
        s = Slerp([0.0, 1.0], Rotation.from_quat([q0[k], q1[k]]))
        assert quat_err(got[k], s([t]).as_quat()) < 1e-9
    # nearly identical rotations (the sin(theta) ~ 0 branch)
    tiny = (Rotation.from_quat(q0) * Rotation.from_rotvec(RNG.normal(size=(25, 3)) * 1e-11)).as_quat()
    np.testing.assert_allclose(np.linalg.norm(R.quat_slerp(q0, tiny, np.full(25, t)), axis=-1), 1.0)
    assert quat_err(R.quat_slerp(q0, tiny, np.full(25, t)), q0) < 1e-9


# ------------------------------------------------------------------------------------ heading


def dm_heading(q):
    """DeepMimic's heading, computed with scipy: h = atan2(-d_z, d_x), d = q (1, 0, 0)."""
    d = Rotation.from_quat(q).apply([1.0, 0.0, 0.0])
    d = np.atleast_2d(d)
    return np.arctan2(-d[:, 2], d[:, 0])


def test_heading_angle_definition():
    q = rand_quats(50)
    np.testing.assert_allclose(R.heading_angle(q), dm_heading(q), atol=1e-12)
    # a pure turn about +y by a (|a| < pi) has heading a; facing +x is heading 0, +z is -pi/2
    for a in (-2.5, -0.3, 0.0, 1.0, 3.0):
        assert R.heading_angle(Rotation.from_euler("y", a).as_quat()) == pytest.approx(a, abs=1e-12)
    facing_right = Rotation.from_euler("y", -np.pi / 2).as_quat()  # x axis -> +z
    np.testing.assert_allclose(Rotation.from_quat(facing_right).apply([1, 0, 0]), [0, 0, 1], atol=1e-12)
    assert R.heading_angle(facing_right) == pytest.approx(-np.pi / 2)
    # heading ignores pitch and roll about the character's own axes
    q_tilt = (Rotation.from_euler("y", 0.4) * Rotation.from_euler("z", 0.5) * Rotation.from_euler("x", 0.3)).as_quat()
    assert R.heading_angle(q_tilt) == pytest.approx(0.4, abs=1e-12)


def test_heading_removal_quat_faces_plus_x():
    q = rand_quats(50)
    h = dm_heading(q)
    qh = R.heading_removal_quat(q)
    assert quat_err(qh, Rotation.from_rotvec(np.outer(-h, [0, 1, 0])).as_quat()) < 1e-12
    d = (Rotation.from_quat(qh) * Rotation.from_quat(q)).apply([1.0, 0.0, 0.0])
    np.testing.assert_allclose(d[:, 2], 0.0, atol=1e-12)
    assert (d[:, 0] > 0).all()
    np.testing.assert_allclose(R.heading_angle(R.quat_mul(qh, q)), 0.0, atol=1e-12)


def _check_heading_frame(q, rot, H):
    h = dm_heading(q)[0]
    expect = Rotation.from_rotvec([0, -h, 0])
    np.testing.assert_allclose(rot, expect.as_matrix(), atol=1e-10)
    p = rand_quats(6)
    for pk in p:  # H @ p is q_h * p
        assert quat_err(H @ pk, (expect * Rotation.from_quat(pk)).as_quat()) < 1e-9
        np.testing.assert_allclose(np.linalg.norm(H @ pk), 1.0, atol=1e-12)


@pytest.mark.parametrize("yaw", [0.0, 0.3, -1.2, 2.9, np.pi - 1e-7, np.pi, -np.pi + 1e-7])
def test_heading_frame_and_batched_frames_match_scipy(yaw):
    q = (Rotation.from_euler("y", yaw) * Rotation.from_rotvec(RNG.normal(size=3) * 0.3)).as_quat()
    rot, H = R.heading_frame(q)
    _check_heading_frame(q, rot, H)
    qs = np.concatenate([q[None], rand_quats(7)])
    rots, Hs = np.zeros((8, 3, 3)), np.zeros((8, 4, 4))
    R.heading_frames(qs, rots, Hs)
    for k in range(8):
        _check_heading_frame(qs[k], rots[k], Hs[k])
        r1, h1 = R.heading_frame(qs[k])
        np.testing.assert_allclose(rots[k], r1, atol=1e-12)
        np.testing.assert_allclose(Hs[k], h1, atol=1e-12)
