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
from mimic.kinematics.rotations import heading_frames, quat_to_matrix
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
        out = np.empty((K, self.size), np.float32)
        out[:, :2] = obs[:, :2]
        rot = out[:, 2 : 2 + 9 * J].reshape(K, J, 9)
        rot[..., 0:3] = pose[..., 0:3]
        rot[..., 3:9] = _six_d(pose[..., [4, 5, 6, 3]])  # w, x, y, z -> x, y, z, w
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


class TargetFrames:
    """MimicKit's target observation (its DeepMimic env's ``tar_obs_steps``): the reference at
    future control steps, seen from the simulated character, appended to the observation so the
    policy sees where the clip goes next instead of inferring it from the phase. Per step:

        [R_h (ref root - sim root) with y the reference root height (3),
         q_h * ref root rotation (6-D), each non-root joint's reference local rotation (6-D),
         the reference end effectors relative to its root, its heading removed (3 E)]

    Size per step 9 + 6 (J - 1) + 3 E: humanoid 105, dog 153. 6-D = the rotated y axis then the
    rotated x axis, as in the ``rotation="6d"`` layout. ``steps`` empty: no target observation
    (DeepMimic's default).
    """

    def __init__(self, character: Character, reference, steps=(), control_dt: float = 1 / 30):
        steps = tuple(steps)
        if not all(isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s >= 1 for s in steps):
            raise ValueError(f"target_obs_steps must be a list of control steps >= 1, not {list(steps)!r}")
        self.steps = steps
        self.offsets = np.array(steps, dtype=np.float64) * control_dt
        self.reference = reference
        J, E = character.num_joints, len(character.end_effectors)
        self.step_size = 9 + 6 * (J - 1) + 3 * E
        self.size = self.step_size * len(steps)
        self._bufs = {}

    def norm(self):
        """(mean, std, fixed): every entry starts at 0 / 1 and is re-estimated."""
        return np.zeros(self.size), np.ones(self.size), np.zeros(self.size, dtype=bool)

    def __call__(self, times, root_shift, root_pos, root_rot):
        """Target frames float32 [K, size] for characters at clock ``times`` [K] whose reference
        root is shifted by ``root_shift`` [K, 3] beyond the clip's own cycle drift, with
        simulated root position ``root_pos`` [K, 3] and rotation ``root_rot`` [K, 4] (x, y, z, w)."""
        K = len(times)
        out = np.empty((K, self.size), np.float32)
        if not self.steps:
            return out
        ref, rot_h, quat_h = self._buffers(K)
        heading_frames(root_rot, rot_h, quat_h)
        drift = self.reference.cycle_delta
        for i, dt in enumerate(self.offsets):
            cycles = ref.sample(times + dt)
            frame = out[:, i * self.step_size : (i + 1) * self.step_size]
            d = ref.root_pos + root_shift + cycles[:, None] * drift - root_pos
            frame[:, 0:3] = np.einsum("kij,kj->ki", rot_h, d)
            frame[:, 1] = ref.root_pos[:, 1] + root_shift[:, 1]
            J = ref.local_rot.shape[1]
            frame[:, 3:9] = _six_d(np.einsum("kij,kj->ki", quat_h, ref.local_rot[:, 0]))
            frame[:, 9 : 3 + 6 * J] = _six_d(ref.local_rot[:, 1:]).reshape(K, -1)
            frame[:, 3 + 6 * J :] = ref.ee_rel.reshape(K, -1)
        return out

    def _buffers(self, K):
        """(reference batch, heading matrices [K, 3, 3], heading quaternion matrices [K, 4, 4])."""
        if K not in self._bufs:
            self._bufs[K] = (self.reference.batch(K), np.zeros((K, 3, 3)), np.zeros((K, 4, 4)))
        return self._bufs[K]


def _six_d(q):
    """Unit quaternions [..., 4] (x, y, z, w) -> [..., 6]: q (0, 1, 0) then q (1, 0, 0)."""
    m = quat_to_matrix(q)
    return np.concatenate([m[..., :, 1], m[..., :, 0]], axis=-1)
