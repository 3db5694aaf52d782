"""DeepMimic's imitation reward (C++ cSceneImitate::CalcRewardImitate), vectorised.

    r = 0.5 exp(-k_p pose_err) + 0.05 exp(-k_v vel_err) + 0.15 exp(-10 ee_err)
        + 0.2 exp(-5 root_err) + 0.1 exp(-10 com_err),   k_p = 2 J / 15, k_v = 0.1 J / 15

pose_err  = sum_j w_j angle(q_j^sim, q_j^ref)^2       (root: world rotation; joints: local)
vel_err   = sum_j w_j |w_j^sim - w_j^ref|^2           (root: world; joints: local frame)
ee_err    = sum_e |P^sim(e) - P^ref(e)|^2             P = R_heading (x_e - x_root, y_e, z_e - z_root)
root_err  = |p^sim - p^ref|^2 + 0.1 angle(root)^2 + 0.01 |v^sim - v^ref|^2 + 0.001 |w^sim - w^ref|^2
com_err   = 0.1 |v_com^sim - v_com^ref|^2

with w_j the normalised DiffWeights, x_e end-effector *joint* positions, p and v the root joint's
position and velocity (ground at y = 0). Unlike the pybullet port, the COM term is on, end
effectors are root-relative in the heading frame, and the root position is the synced reference.
"""
from __future__ import annotations

import math

import numpy as np

from mimic.kinematics.character import Character
from mimic.kinematics.rotations import quat_conj_mul_batch, quat_to_matrix_batch

REWARD_TERMS = ('pose', 'velocity', 'end_effector', 'root', 'com')
DEFAULT_WEIGHTS = dict(pose=0.5, velocity=0.05, end_effector=0.15, root=0.2, com=0.1)


def default_scales(character: Character) -> dict:
    J = character.num_joints
    return dict(pose=2.0 / 15 * J, velocity=0.1 / 15 * J, end_effector=10.0, root=5.0, com=10.0)


class ImitationReward:
    """Call with the simulated link state [J, 27] (SimCharacter.query), the sampled reference
    (ReferenceMotion views), the reference root position in the world, and the sim heading
    matrix; returns (reward, per-term rewards as a tuple in REWARD_TERMS order)."""

    def __init__(self, character: Character, weights: dict | None = None,
                 scales: dict | None = None):
        w = dict(DEFAULT_WEIGHTS)
        w.update(weights or {})
        s = default_scales(character)
        s.update(scales or {})
        for d, what in ((w, 'weights'), (s, 'scales')):
            unknown = set(d) - set(REWARD_TERMS)
            if unknown:
                raise ValueError(f'reward {what}: unknown terms {sorted(unknown)} '
                                 f'(terms: {", ".join(REWARD_TERMS)})')
        self.weights = tuple(float(w[k]) for k in REWARD_TERMS)
        self.scales = tuple(float(s[k]) for k in REWARD_TERMS)
        J = character.num_joints
        self.joint_w = character.diff_weights.copy()
        # parent row of each joint in SimCharacter.state_ext; the root's parent is the extra
        # "world" row J (identity rotation, at rest)
        self.parent_ext = np.where(character.parents < 0, J, character.parents)
        self.ee = character.end_effectors.copy()
        self.mass_frac = character.masses / character.total_mass
        self.root_com_offset = character.com_offset[0].tolist()

    def __call__(self, S_ext, ref, ref_root_pos, R_h):
        """S_ext: SimCharacter.state_ext ([J + 1, 27]: link states + the world row)."""
        S = S_ext[:-1]
        P = S_ext[self.parent_ext]
        jrot = S[:, 17:21]
        # pose: angle between local joint rotations (root: world rotation) and the reference,
        # from the quaternion dot product: angle(a^-1 b) = 2 acos |<a, b>|
        local = quat_conj_mul_batch(P[:, 17:21], jrot)
        cos_half = np.abs(np.einsum('ij,ij->i', local, ref.local_rot))
        ang = 2.0 * np.arccos(np.minimum(cos_half, 1.0))
        ang2 = ang * ang
        pose_err = float(self.joint_w @ ang2)
        # velocity: angular velocity relative to the parent, in the joint's own frame
        rot = quat_to_matrix_batch(jrot)
        local_w = np.einsum('nji,nj->ni', rot, S[:, 24:27] - P[:, 24:27])
        local_w[0] = S[0, 24:27]                       # root: world frame
        dv = local_w - ref.local_ang_vel
        vel_err = float(self.joint_w @ np.einsum('ij,ij->i', dv, dv))
        # end effectors: root-relative, heading frame, height above the ground
        s0 = S[0].tolist()
        rx, ry, rz = s0[14:17]
        e = S[self.ee, 14:17] - (rx, 0.0, rz)
        de = e @ R_h.T - ref.ee_rel
        ee_err = float(np.einsum('ij,ij->', de, de))
        # root (plain floats: 3-vectors are cheaper in Python than in numpy)
        px, py, pz = ref_root_pos.tolist()
        ox, oy, oz = self.root_com_offset
        r0 = rot[0].tolist()
        ax = r0[0][0] * ox + r0[0][1] * oy + r0[0][2] * oz   # arm root joint -> root body centre
        ay = r0[1][0] * ox + r0[1][1] * oy + r0[1][2] * oz
        az = r0[2][0] * ox + r0[2][1] * oy + r0[2][2] * oz
        wx, wy, wz = s0[24:27]
        vx, vy, vz = ref.root_lin_vel.tolist()
        dvx = s0[21] - (wy * az - wz * ay) - vx          # root joint velocity = v_c - w x arm
        dvy = s0[22] - (wz * ax - wx * az) - vy
        dvz = s0[23] - (wx * ay - wy * ax) - vz
        qx, qy, qz = ref.local_ang_vel[0].tolist()
        root_err = ((rx - px) ** 2 + (ry - py) ** 2 + (rz - pz) ** 2 + 0.1 * float(ang2[0])
                    + 0.01 * (dvx * dvx + dvy * dvy + dvz * dvz)
                    + 0.001 * ((wx - qx) ** 2 + (wy - qy) ** 2 + (wz - qz) ** 2))
        # centre-of-mass velocity
        dc = self.mass_frac @ S[:, 21:24] - ref.com_vel
        com_err = 0.1 * float(dc @ dc)

        wp, wv, we, wr, wc = self.weights
        kp, kv, ke, kr, kc = self.scales
        terms = (wp * math.exp(-kp * pose_err), wv * math.exp(-kv * vel_err),
                 we * math.exp(-ke * ee_err), wr * math.exp(-kr * root_err),
                 wc * math.exp(-kc * com_err))
        return terms[0] + terms[1] + terms[2] + terms[3] + terms[4], terms
