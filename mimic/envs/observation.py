"""DeepMimic's DM-2019 observation (cCtController::RecordState with the phase_rot controller).

    [phase, root height,
     for each body i: R_h (x_i - p_root) (3), q_h * q_i as w, x, y, z with w >= 0 (4),
     for each body i: R_h v_i (3), R_h w_i (3)]

x_i, q_i, v_i, w_i are body-centre position, rotation, linear and angular velocity; p_root is the
root joint position; R_h / q_h remove the root's heading. Body 0 keeps its *world* rotation and
velocities (RecordWorldRootRot), which the pybullet port does not. Size 2 + 13 J (humanoid 197).
"""
from __future__ import annotations

import numpy as np

from mimic.kinematics.character import Character
from mimic.sim.link_state import ANG_VEL, BODY_POS, BODY_ROT, BODY_ROT_WXYZ, JOINT_POS, LIN_VEL, VELOCITY


class ObservationBuilder:
    """Batched over K characters: __call__(S [K, J, 27], phase [K], R_h [K, 3, 3], H [K, 4, 4])
    returns float32 observations [K, 2 + 13 J]."""

    def __init__(self, character: Character):
        self.J = character.num_joints
        self.size = 2 + 13 * self.J
        self._bufs = {}

    def norm(self):
        """(mean, std, fixed) for a trainer's normaliser: DeepMimic maps the phase with offset
        -0.5 and scale 2 and never re-estimates it; everything else starts at 0 / 1."""
        mean = np.zeros(self.size)
        std = np.ones(self.size)
        fixed = np.zeros(self.size, dtype=bool)
        mean[0], std[0], fixed[0] = 0.5, 0.5, True
        return mean, std, fixed

    def _buffers(self, K):
        if K not in self._bufs:
            J = self.J
            buf = np.zeros((K, self.size))
            self._bufs[K] = (buf, buf[:, 2:2 + 7 * J].reshape(K, J, 7),
                             buf[:, 2 + 7 * J:].reshape(K, J, 6))
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
        pose[:, 0, 3:7] = S[:, 0, BODY_ROT_WXYZ]                # world root rotation
        neg = pose[..., 3] < 0.0                             # w >= 0
        pose[neg, 3:7] *= -1.0
        np.matmul(S[..., LIN_VEL], RT, out=vel[..., 0:3])
        np.matmul(S[..., ANG_VEL], RT, out=vel[..., 3:6])
        vel[:, 0] = S[:, 0, VELOCITY]                           # world root velocities
        return buf.astype(np.float32)


_WXYZ = [3, 0, 1, 2]
