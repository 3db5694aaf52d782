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

import numpy as np

from mimic.kinematics.character import Character
from mimic.kinematics.rotations import cross_batch, quat_conj_mul_batch, quat_to_matrix_batch
from mimic.sim.link_state import ANG_VEL, JOINT_POS, JOINT_ROT, LIN_VEL

REWARD_TERMS = ("pose", "velocity", "end_effector", "root", "com")
_ROOT_TERM_WEIGHTS = np.array([1.0, 0.01, 0.001])  # position, velocity, angular velocity
DEFAULT_WEIGHTS = dict(pose=0.5, velocity=0.05, end_effector=0.15, root=0.2, com=0.1)


def default_scales(character: Character) -> dict:
    J = character.num_joints
    return dict(pose=2.0 / 15 * J, velocity=0.1 / 15 * J, end_effector=10.0, root=5.0, com=10.0)


class ImitationReward:
    """Batched over K characters. Call with the link states with the extra world row
    S_ext [K, J + 1, 27] (columns: mimic.sim.link_state), a ReferenceBatch, the reference root positions in
    the world [K, 3] and the sim heading matrices [K, 3, 3]; returns (reward [K], the weighted
    terms [K, 5] in REWARD_TERMS order)."""

    def __init__(self, character: Character, weights: dict | None = None, scales: dict | None = None):
        w = dict(DEFAULT_WEIGHTS)
        w.update(weights or {})
        s = default_scales(character)
        s.update(scales or {})
        for d, what in ((w, "weights"), (s, "scales")):
            unknown = set(d) - set(REWARD_TERMS)
            if unknown:
                raise ValueError(f"reward {what}: unknown terms {sorted(unknown)} (terms: {', '.join(REWARD_TERMS)})")
        self.weights = np.array([float(w[k]) for k in REWARD_TERMS])
        self.scales = np.array([float(s[k]) for k in REWARD_TERMS])
        J = self.J = character.num_joints
        self.joint_w = character.diff_weights.copy()
        # parent row of each joint in the state with the world row; the root's parent is the
        # world row J (identity rotation, at rest)
        self.parent_ext = np.where(character.parents < 0, J, character.parents)
        self.ee = character.end_effectors.copy()
        self.mass_frac = character.masses / character.total_mass
        self.root_com_offset = character.com_offset[0].copy()

    def __call__(self, S_ext, ref, ref_root_pos, R_h):
        K, J = S_ext.shape[0], self.J
        S = S_ext[:, :J]
        P = S_ext[:, self.parent_ext]
        jrot = S[..., JOINT_ROT]
        errs = np.empty((K, 5))
        # pose: angle between local joint rotations (root: world rotation) and the reference,
        # from the quaternion dot product: angle(a^-1 b) = 2 acos |<a, b>|
        local = quat_conj_mul_batch(P[..., JOINT_ROT], jrot)
        cos_half = np.abs(np.einsum("kji,kji->kj", local, ref.local_rot))
        ang = 2.0 * np.arccos(np.minimum(cos_half, 1.0))
        ang2 = ang * ang
        errs[:, 0] = ang2 @ self.joint_w
        # velocity: angular velocity relative to the parent, in the joint's own frame (R^T w)
        rot = quat_to_matrix_batch(jrot)
        rel = S[..., ANG_VEL] - P[..., ANG_VEL]
        local_w = (rel[..., None, :] @ rot)[..., 0, :]
        local_w[:, 0] = S[:, 0, ANG_VEL]  # root: world frame
        dv = local_w - ref.local_ang_vel
        errs[:, 1] = np.einsum("kji,kji->kj", dv, dv) @ self.joint_w
        # end effectors: root-relative, heading frame, height above the ground
        root = S[:, 0, JOINT_POS]
        e = S[:, self.ee, JOINT_POS] - root[:, None]
        e[..., 1] += root[:, None, 1]
        de = e @ R_h.transpose(0, 2, 1) - ref.ee_rel
        errs[:, 2] = np.einsum("kei,kei->k", de, de)
        # root: position, rotation, velocity of the root joint point (v_centre - w x arm)
        w0 = S[:, 0, ANG_VEL]
        arm = rot[:, 0] @ self.root_com_offset
        # rows: root position, root velocity, root angular velocity, centre-of-mass velocity
        d = np.stack(
            [
                root - ref_root_pos,
                S[:, 0, LIN_VEL] - cross_batch(w0, arm) - ref.root_lin_vel,
                w0 - ref.local_ang_vel[:, 0],
                self.mass_frac @ S[..., LIN_VEL] - ref.com_vel,
            ],
            axis=1,
        )
        sq = np.einsum("kri,kri->kr", d, d)
        errs[:, 3] = sq[:, :3] @ _ROOT_TERM_WEIGHTS + 0.1 * ang2[:, 0]
        errs[:, 4] = 0.1 * sq[:, 3]
        terms = self.weights * np.exp(-self.scales * errs)
        return terms.sum(axis=1), terms
