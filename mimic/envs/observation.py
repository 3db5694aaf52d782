"""DeepMimic's DM-2019 observation (cCtController::RecordState with the phase_rot controller).

    [phase, root height,
     for each body i: R_h (x_i - p_root) (3), q_h * q_i as w, x, y, z with w >= 0 (4),
     for each body i: R_h v_i (3), R_h w_i (3)]

x_i, q_i, v_i, w_i are body-centre position, rotation, linear and angular velocity; p_root is the
root joint position; R_h / q_h remove the root's heading. Body 0 keeps its *world* rotation and
velocities (RecordWorldRootRot), which the pybullet port does not. Size 2 + 13 J (humanoid 197).

``rotation='6d'`` gives DM-2021's layout instead: each rotation as 6 numbers, the rotated y axis
(normal) then the rotated x axis (tangent), continuous where a quaternion's sign flip is not. Size
2 + 15 J (humanoid 227, dog 347). It is computed from the quaternion layout (``expand``), so the
compiled kernel that writes the DM-2019 layout serves both.
"""

from __future__ import annotations

import numpy as np

from mimic.kinematics.character import Character
from mimic.sim.link_state import ANG_VEL, BODY_POS, BODY_ROT, BODY_ROT_WXYZ, JOINT_POS, LIN_VEL, VELOCITY

ROTATIONS = ("quat", "6d")


class ObservationBuilder:
    """Batched over K characters: __call__(S [K, J, 27], phase [K], R_h [K, 3, 3], H [K, 4, 4])
    returns float32 observations [K, size]: 2 + 13 J (quaternions) or 2 + 15 J (6-D rotations)."""

    def __init__(self, character: Character, rotation: str = "quat"):
        if rotation not in ROTATIONS:
            raise ValueError(f"obs_rotation must be one of {ROTATIONS}, not {rotation!r}")
        self.J = J = character.num_joints
        self.rotation = rotation
        self.quat_size = 2 + 13 * J  # the DM-2019 layout, computed first
        self.size = self.quat_size if rotation == "quat" else 2 + 15 * J
        self._bufs = {}

    def norm(self):
        """(mean, std, fixed) for a trainer's normaliser: DeepMimic maps the phase with offset
        -0.5 and scale 2 and never re-estimates it; everything else starts at 0 / 1."""
        mean = np.zeros(self.size)
        std = np.ones(self.size)
        fixed = np.zeros(self.size, dtype=bool)
        mean[0], std[0], fixed[0] = 0.5, 0.5, True
        return mean, std, fixed

    def expand(self, obs):
        """DM-2019 observations [K, 2 + 13 J] -> this builder's layout (the same array for
        quaternions; float32 [K, 2 + 15 J] with 6-D rotations)."""
        if self.rotation == "quat":
            return obs
        K, J = obs.shape[0], self.J
        pose = obs[:, 2 : 2 + 7 * J].reshape(K, J, 7)
        w, x, y, z = (pose[..., i] for i in range(3, 7))
        out = np.empty((K, self.size), np.float32)
        out[:, :2] = obs[:, :2]
        rot = out[:, 2 : 2 + 9 * J].reshape(K, J, 9)
        rot[..., 0:3] = pose[..., 0:3]
        rot[..., 3] = 2 * (x * y - w * z)  # q (0, 1, 0): the normal
        rot[..., 4] = 1 - 2 * (x * x + z * z)
        rot[..., 5] = 2 * (y * z + w * x)
        rot[..., 6] = 1 - 2 * (y * y + z * z)  # q (1, 0, 0): the tangent
        rot[..., 7] = 2 * (x * y + w * z)
        rot[..., 8] = 2 * (x * z - w * y)
        out[:, 2 + 9 * J :] = obs[:, 2 + 7 * J :]
        return out

    def _buffers(self, K):
        if K not in self._bufs:
            J = self.J
            buf = np.zeros((K, self.quat_size))
            self._bufs[K] = (buf, buf[:, 2 : 2 + 7 * J].reshape(K, J, 7), buf[:, 2 + 7 * J :].reshape(K, J, 6))
        return self._bufs[K]

    def __call__(self, S, phase, R_h, H):
        K = S.shape[0]
        buf, pose, vel = self._buffers(K)
        root = S[:, 0, JOINT_POS]
        buf[:, 0] = phase
        buf[:, 1] = root[:, 1]
        RT = R_h.transpose(0, 2, 1)
        np.matmul(S[..., BODY_POS] - root[:, None], RT, out=pose[..., 0:3])
        # q_h * q_i, rows of H reordered so the product comes out as w, x, y, z
        np.matmul(S[..., BODY_ROT], H[:, _WXYZ].transpose(0, 2, 1), out=pose[..., 3:7])
        pose[:, 0, 3:7] = S[:, 0, BODY_ROT_WXYZ]  # world root rotation
        neg = pose[..., 3] < 0.0  # w >= 0
        pose[neg, 3:7] *= -1.0
        np.matmul(S[..., LIN_VEL], RT, out=vel[..., 0:3])
        np.matmul(S[..., ANG_VEL], RT, out=vel[..., 3:6])
        vel[:, 0] = S[:, 0, VELOCITY]  # world root velocities
        return self.expand(buf.astype(np.float32))


_WXYZ = [3, 0, 1, 2]
