"""Quaternion conventions and small vectorised rotation kernels.

Conventions (the one place they are decided):

* Inside mimic every quaternion is stored **x, y, z, w** (scalar last), the order of pybullet and of
  ``scipy.spatial.transform.Rotation``. DeepMimic clip files store **w, x, y, z**; they are converted
  exactly once, when a clip is read or written, with :func:`wxyz_to_xyzw` / :func:`xyzw_to_wxyz`.
* The world is **y-up** like DeepMimic (gravity -y, heading measured about +y, +x forward, +z right).
  Data from z-up sources (most BVH exporters are y-up, but robotics data is often z-up) goes through
  :func:`zup_to_yup_vec` / :func:`zup_to_yup_quat`, a rotation of -90 degrees about x.

The kernels below are hand-written numpy rather than ``scipy.spatial.transform.Rotation`` because
they run inside the per-control-step reward and observation code, where a Rotation object's
construction and validation overhead would cost more than the maths itself.
Everything offline (clip loading, BVH import, tests) may use scipy freely; the tests check these
kernels against scipy.
"""

from __future__ import annotations

import numpy as np

# --------------------------------------------------------------------------------------------
# Orders and axes
# --------------------------------------------------------------------------------------------


def wxyz_to_xyzw(q):
    """DeepMimic (w, x, y, z) -> mimic/pybullet/scipy (x, y, z, w). Works on [..., 4]."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 1:4], q[..., 0:1]], axis=-1)


def xyzw_to_wxyz(q):
    """mimic/pybullet/scipy (x, y, z, w) -> DeepMimic (w, x, y, z). Works on [..., 4]."""
    q = np.asarray(q, dtype=np.float64)
    return np.concatenate([q[..., 3:4], q[..., 0:3]], axis=-1)


# Rotation taking z-up coordinates to y-up ones: -90 degrees about x maps (x, y, z) -> (x, z, -y).
_ZUP_TO_YUP = np.array([-np.sqrt(0.5), 0.0, 0.0, np.sqrt(0.5)])


def zup_to_yup_vec(v):
    """A z-up vector/point [..., 3] expressed in the y-up world: (x, y, z) -> (x, z, -y)."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 0], v[..., 2], -v[..., 1]], axis=-1)


def yup_to_zup_vec(v):
    """Inverse of :func:`zup_to_yup_vec`: (x, y, z) -> (x, -z, y)."""
    v = np.asarray(v, dtype=np.float64)
    return np.stack([v[..., 0], -v[..., 2], v[..., 1]], axis=-1)


def zup_to_yup_quat(q):
    """A world orientation [..., 4] (xyzw) in z-up coordinates, re-expressed in the y-up world.

    The change of basis conjugates the rotation: q_y = r q_z r^-1 with r the z-up -> y-up rotation.
    """
    return quat_mul(quat_mul(_ZUP_TO_YUP, q), quat_conj(_ZUP_TO_YUP))


def yup_to_zup_quat(q):
    """Inverse of :func:`zup_to_yup_quat`."""
    return quat_mul(quat_mul(quat_conj(_ZUP_TO_YUP), q), _ZUP_TO_YUP)


# --------------------------------------------------------------------------------------------
# Kernels on [..., 4] xyzw arrays and [..., 3] vectors
# --------------------------------------------------------------------------------------------


def quat_mul(a, b):
    """Hamilton product a*b (apply b, then a) for broadcastable [..., 4] xyzw arrays."""
    ax, ay, az, aw = a[..., 0], a[..., 1], a[..., 2], a[..., 3]
    bx, by, bz, bw = b[..., 0], b[..., 1], b[..., 2], b[..., 3]
    return np.stack(
        [
            aw * bx + ax * bw + ay * bz - az * by,
            aw * by - ax * bz + ay * bw + az * bx,
            aw * bz + ax * by - ay * bx + az * bw,
            aw * bw - ax * bx - ay * by - az * bz,
        ],
        axis=-1,
    )


def quat_conj(q):
    """Conjugate (= inverse for unit quaternions)."""
    q = np.asarray(q, dtype=np.float64)
    return q * np.array([-1.0, -1.0, -1.0, 1.0])


def quat_normalize(q):
    q = np.asarray(q, dtype=np.float64)
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def quat_rotate(q, v):
    """Rotate vectors v [..., 3] by unit quaternions q [..., 4] (broadcasting)."""
    qv = q[..., :3]
    w = q[..., 3:4]
    t = 2.0 * np.cross(qv, v)
    return v + w * t + np.cross(qv, t)


def quat_to_matrix(q):
    """Unit quaternions [..., 4] -> rotation matrices [..., 3, 3]."""
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    xx, yy, zz = x * x, y * y, z * z
    xy, xz, yz = x * y, x * z, y * z
    wx, wy, wz = w * x, w * y, w * z
    m = np.stack(
        [
            1 - 2 * (yy + zz),
            2 * (xy - wz),
            2 * (xz + wy),
            2 * (xy + wz),
            1 - 2 * (xx + zz),
            2 * (yz - wx),
            2 * (xz - wy),
            2 * (yz + wx),
            1 - 2 * (xx + yy),
        ],
        axis=-1,
    )
    return m.reshape(q.shape[:-1] + (3, 3))


def quat_angle(q):
    """Rotation angle in [0, pi] of unit quaternions [..., 4] (sign-invariant)."""
    return 2.0 * np.arctan2(np.linalg.norm(q[..., :3], axis=-1), np.abs(q[..., 3]))


def quat_from_axis_angle(axis, angle):
    """Quaternion for a rotation of ``angle`` about ``axis`` ([..., 3], normalised here).

    A zero axis gives the rotation about +z, as DeepMimic's action decoding does.
    """
    axis = np.asarray(axis, dtype=np.float64)
    angle = np.asarray(angle, dtype=np.float64)
    n = np.linalg.norm(axis, axis=-1, keepdims=True)
    zero = n[..., 0] < 1e-12
    axis = np.where(zero[..., None], np.array([0.0, 0.0, 1.0]), axis / np.where(n > 0, n, 1.0))
    h = 0.5 * angle[..., None]
    return np.concatenate([axis * np.sin(h), np.cos(h)], axis=-1)


def quat_to_rotvec(q):
    """Unit quaternions [..., 4] -> rotation vectors (axis * angle, angle in [0, pi]) [..., 3]."""
    q = np.where(q[..., 3:4] < 0, -q, q)  # shortest arc
    s = np.linalg.norm(q[..., :3], axis=-1, keepdims=True)
    angle = 2.0 * np.arctan2(s, q[..., 3:4])
    # angle / sin(angle/2), with the small-angle limit 2
    scale = np.where(s > 1e-12, angle / np.where(s > 1e-12, s, 1.0), 2.0)
    return q[..., :3] * scale


def quat_from_rotvec(r):
    """Rotation vectors [..., 3] -> unit quaternions [..., 4]."""
    r = np.asarray(r, dtype=np.float64)
    angle = np.linalg.norm(r, axis=-1, keepdims=True)
    h = 0.5 * angle
    # sin(h)/angle with the small-angle limit 1/2
    k = np.where(angle > 1e-12, np.sin(h) / np.where(angle > 1e-12, angle, 1.0), 0.5)
    return np.concatenate([r * k, np.cos(h)], axis=-1)


def quat_from_euler(angles, axes: str):
    """Intrinsic Euler angles (radians) [..., len(axes)] about ``axes`` (e.g. 'ZXY': R = Rz Rx Ry,
    as BVH channel orders mean) -> unit quaternions [..., 4]. Hand-written for speed: scipy's
    ``Rotation.from_euler`` would be most of a long BVH import (bench/bvh_import.py); tests
    check it against scipy."""
    angles = np.asarray(angles, dtype=np.float64)
    out = None
    for k, axis in enumerate(axes.lower()):
        h = 0.5 * angles[..., k]
        q = np.zeros(h.shape + (4,))
        q[..., "xyz".index(axis)] = np.sin(h)
        q[..., 3] = np.cos(h)
        out = q if out is None else quat_mul(out, q)
    return out


def quat_slerp(q0, q1, t):
    """Spherical interpolation along the shortest arc; t broadcasts as [...]."""
    q0 = np.asarray(q0, dtype=np.float64)
    q1 = np.asarray(q1, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)[..., None]
    dot = np.sum(q0 * q1, axis=-1, keepdims=True)
    q1 = np.where(dot < 0, -q1, q1)
    dot = np.abs(dot)
    theta = np.arccos(np.clip(dot, -1.0, 1.0))
    sin = np.sin(theta)
    small = sin < 1e-9
    safe = np.where(small, 1.0, sin)
    w0 = np.where(small, 1.0 - t, np.sin((1.0 - t) * theta) / safe)
    w1 = np.where(small, t, np.sin(t * theta) / safe)
    return quat_normalize(w0 * q0 + w1 * q1)


def heading_angle(q):
    """DeepMimic heading of orientations q [..., 4]: h = atan2(-d_z, d_x) with d = q * (1, 0, 0)."""
    d = quat_rotate(q, np.array([1.0, 0.0, 0.0]))
    return np.arctan2(-d[..., 2], d[..., 0])


def heading_removal_quat(q):
    """Rotation about +y by -heading(q): applied to q, it faces the character along +x."""
    h = heading_angle(q)
    half = -0.5 * h
    zeros = np.zeros_like(half)
    return np.stack([zeros, np.sin(half), zeros, np.cos(half)], axis=-1)


# --------------------------------------------------------------------------------------------
# Hot-path kernels for [n, 4] batches: two numpy calls each (an outer product and a matmul with
# a constant tensor) instead of the ~20 element-wise calls of quat_mul, which matters at a few
# microseconds per call inside a 30 Hz control loop.
# --------------------------------------------------------------------------------------------


def _product_tensor(conj_a: bool) -> np.ndarray:
    eye = np.eye(4)
    left = quat_conj(eye) if conj_a else eye
    return np.stack([quat_mul(left[i], eye) for i in range(4)]).reshape(16, 4)


def _rotation_matrix_tensor() -> np.ndarray:
    """K [16, 9] with R(q).ravel() = (q q^T).ravel() @ K for unit q (R is quadratic in q)."""

    def homogeneous(q):  # (w^2 - |v|^2) I + 2 v v^T + 2 w [v]x, valid for any scale of q
        v, w = q[:3], q[3]
        vx = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
        return (w * w - v @ v) * np.eye(3) + 2 * np.outer(v, v) + 2 * w * vx

    K = np.zeros((4, 4, 9))
    eye = np.eye(4)
    for a in range(4):
        for b in range(4):
            if a == b:
                K[a, b] = homogeneous(eye[a]).ravel()
            else:  # polarisation of the quadratic form, split evenly between (a, b) and (b, a)
                both = homogeneous(eye[a] + eye[b]) - homogeneous(eye[a]) - homogeneous(eye[b])
                K[a, b] = 0.5 * both.ravel()
    return K.reshape(16, 9)


def _cross_tensor() -> np.ndarray:
    """E [9, 3] with cross(a, b) = (a b^T).ravel() @ E (the Levi-Civita symbol)."""
    E = np.zeros((3, 3, 3))
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        E[j, k, i], E[k, j, i] = 1.0, -1.0
    return E.reshape(9, 3)


_MUL16 = _product_tensor(conj_a=False)
_CONJ_MUL16 = _product_tensor(conj_a=True)
_ROTMAT16 = _rotation_matrix_tensor()
_CROSS9 = _cross_tensor()


def _outer(a, b, n):
    return (a[..., :, None] * b[..., None, :]).reshape(a.shape[:-1] + (n,))


def quat_mul_batch(a, b):
    """a * b for [..., 4] arrays of equal shape."""
    return _outer(a, b, 16) @ _MUL16


def quat_conj_mul_batch(a, b):
    """conj(a) * b for [..., 4] arrays of equal shape: the rotation from a to b in a's frame."""
    return _outer(a, b, 16) @ _CONJ_MUL16


def quat_to_matrix_batch(q):
    """[..., 4] unit quaternions -> [..., 3, 3] rotation matrices."""
    return (_outer(q, q, 16) @ _ROTMAT16).reshape(q.shape[:-1] + (3, 3))


def cross_batch(a, b):
    """cross(a, b) for [..., 3] arrays of equal shape (np.cross costs ~10x more on small ones)."""
    return _outer(a, b, 9) @ _CROSS9


def heading_frame(q):
    """Heading-removal rotation of one orientation q (xyzw) as (3x3 matrix, [4, 4] matrix H such
    that q_h * p == H @ p for any quaternion p). Scalar maths: this runs once per step."""
    x, y, z, w = q
    # d = q * (1, 0, 0);  h = atan2(-d_z, d_x);  R_h = rotation about y by -h
    dx = 1.0 - 2.0 * (y * y + z * z)
    dz = 2.0 * (x * z - w * y)
    n = (dx * dx + dz * dz) ** 0.5
    if n < 1e-12:
        c, s = 1.0, 0.0
    else:
        c, s = dx / n, dz / n  # cos(-h), sin(-h)
    rot = np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])
    # half angle of -h from its cosine and sine
    hc = ((1.0 + c) * 0.5) ** 0.5
    hs = (s / (2.0 * hc)) if hc > 1e-9 else 1.0
    # q_h = (0, hs, 0, hc); q_h * p as a matrix on p = (x, y, z, w)
    H = np.array([[hc, 0.0, hs, 0.0], [0.0, hc, 0.0, hs], [-hs, 0.0, hc, 0.0], [0.0, -hs, 0.0, hc]])
    return rot, H


def heading_frames(q, rot_out, quat_out):
    """Batched :func:`heading_frame`: for root orientations q [K, 4] fill the heading-removal
    matrices rot_out [K, 3, 3] and the left-multiplication matrices quat_out [K, 4, 4]."""
    x, y, z, w = q[:, 0], q[:, 1], q[:, 2], q[:, 3]
    dx = 1.0 - 2.0 * (y * y + z * z)
    dz = 2.0 * (x * z - w * y)
    n = np.sqrt(dx * dx + dz * dz)
    if n.min() < 1e-12:  # facing straight up or down: no heading, use identity
        flat = n < 1e-12
        dx, dz, n = np.where(flat, 1.0, dx), np.where(flat, 0.0, dz), np.where(flat, 1.0, n)
    c = dx / n  # cos(-h)
    s = dz / n  # sin(-h)
    rot_out[:, 0, 0] = c
    rot_out[:, 0, 2] = s
    rot_out[:, 2, 0] = -s
    rot_out[:, 2, 2] = c
    rot_out[:, 1, 1] = 1.0
    hc = np.sqrt(0.5 + 0.5 * c)  # cos(-h/2) >= 0
    if hc.min() < 1e-9:  # heading exactly pi: half angle pi/2
        hs = np.where(hc < 1e-9, 1.0, s / (2.0 * np.maximum(hc, 1e-9)))
    else:
        hs = s / (2.0 * hc)  # sin(-h/2)
    quat_out[:, 0, 0] = hc
    quat_out[:, 0, 2] = hs
    quat_out[:, 1, 1] = hc
    quat_out[:, 1, 3] = hs
    quat_out[:, 2, 0] = -hs
    quat_out[:, 2, 2] = hc
    quat_out[:, 3, 1] = -hs
    quat_out[:, 3, 3] = hc
