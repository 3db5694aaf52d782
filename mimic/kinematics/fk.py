"""Forward kinematics of a character, batched over any leading dimensions (numpy only).

Positions and rotations of every joint frame and body centre from a pose, and, given velocities,
the world angular velocity of every body, the linear velocity of every joint point and body
centre, and the centre-of-mass velocity (what DeepMimic's cRBDUtil::CalcCoM computes).
Joint angular velocities follow the clip convention: root in the world frame, other joints in the
joint's own (child) frame, which is also pybullet's convention for spherical joint velocities.
"""

from __future__ import annotations

import numpy as np

from mimic.kinematics import rotations as R
from mimic.kinematics.character import Character


def forward_kinematics(character: Character, root_pos, local_rot, root_lin_vel=None, local_ang_vel=None):
    """Returns a dict of arrays with leading shape ``root_pos.shape[:-1]``:

    joint_pos [..., J, 3], joint_rot [..., J, 4] (world), com_pos [..., J, 3] (body centres),
    and when velocities are given: ang_vel [..., J, 3] (world), joint_vel [..., J, 3],
    com_vel [..., J, 3] (body centres) and char_com_vel [..., 3] (whole character).
    """
    root_pos = np.asarray(root_pos, dtype=np.float64)
    local_rot = np.asarray(local_rot, dtype=np.float64)
    lead = root_pos.shape[:-1]
    J = character.num_joints
    parents = character.parents
    jpos = np.zeros(lead + (J, 3))
    jrot = np.zeros(lead + (J, 4))
    jpos[..., 0, :] = root_pos
    jrot[..., 0, :] = local_rot[..., 0, :]
    with_vel = root_lin_vel is not None and local_ang_vel is not None
    if with_vel:
        local_ang_vel = np.asarray(local_ang_vel, dtype=np.float64)
        angv = np.zeros(lead + (J, 3))
        jvel = np.zeros(lead + (J, 3))
        angv[..., 0, :] = local_ang_vel[..., 0, :]
        jvel[..., 0, :] = root_lin_vel
    for j in range(1, J):
        p = parents[j]
        arm = R.quat_rotate(jrot[..., p, :], character.attach[j])
        jrot[..., j, :] = R.quat_mul(jrot[..., p, :], local_rot[..., j, :])
        jpos[..., j, :] = jpos[..., p, :] + arm
        if with_vel:
            angv[..., j, :] = angv[..., p, :] + R.quat_rotate(jrot[..., j, :], local_ang_vel[..., j, :])
            jvel[..., j, :] = jvel[..., p, :] + np.cross(angv[..., p, :], arm)
    com_arm = R.quat_rotate(jrot, character.com_offset)
    out = dict(joint_pos=jpos, joint_rot=jrot, com_pos=jpos + com_arm)
    if with_vel:
        cvel = jvel + np.cross(angv, com_arm)
        out.update(
            ang_vel=angv,
            joint_vel=jvel,
            com_vel=cvel,
            char_com_vel=np.einsum("...jk,j->...k", cvel, character.masses) / character.total_mass,
        )
    return out


def shape_bottoms(character: Character, joint_pos, joint_rot) -> np.ndarray:
    """Lowest y of each collision shape [..., S] (shape s belongs to link
    ``character.shape_link[s]``), for joint frames in the world (joint_pos [..., J, 3],
    joint_rot [..., J, 4] xyzw), batched over any leading dimensions."""
    q = np.asarray(joint_rot)[..., character.shape_link, :]
    x, y, z, w = q[..., 0], q[..., 1], q[..., 2], q[..., 3]
    # only the y-row of each link rotation matters: R[1, :] = (2(xy + wz), 1 - 2(x^2 + z^2),
    # 2(yz - wx)) for a unit quaternion
    y_row = np.stack([2.0 * (x * y + w * z), 1.0 - 2.0 * (x * x + z * z), 2.0 * (y * z - w * x)], axis=-1)
    centre_y = np.asarray(joint_pos)[..., character.shape_link, 1] + (y_row * character.shape_origin).sum(axis=-1)
    # the world y-row of each shape's own axes: |(R_link R_shape)[1, i]| scales half extent i
    axes_y = np.einsum("...si,sij->...sj", y_row, character.shape_rot)
    extent = character.shape_radius + (np.abs(axes_y) * character.shape_half).sum(axis=-1)
    return centre_y - extent


def link_bottoms(character: Character, joint_pos, joint_rot) -> np.ndarray:
    """Lowest y of each link's collision shapes [..., J] (+inf for a link without shapes)."""
    bottoms = shape_bottoms(character, joint_pos, joint_rot)
    out = np.full(bottoms.shape[:-1] + (character.num_joints,), np.inf)
    for s, link in enumerate(character.shape_link):
        out[..., link] = np.minimum(out[..., link], bottoms[..., s])
    return out


def lowest_point(character: Character, joint_pos, joint_rot) -> float:
    """Lowest y reached by the character's collision shapes, for joint frames in the world
    (joint_pos [J, 3], joint_rot [J, 4] xyzw) -- used to lift a pose out of the ground."""
    return float(np.min(shape_bottoms(character, joint_pos, joint_rot)))
