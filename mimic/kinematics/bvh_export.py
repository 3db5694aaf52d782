"""A mimic character's motion as BVH: the skeleton from the character, rotations from a pose.

The BVH skeleton has one joint per ball or hinge joint of the character, named as in the
character, with the character's attachment offsets (metres, y-up, facing +x, so rest = the
character's rest pose); fixed joints (the humanoid's wrists) and the far ends of leaf bodies are
End Sites. Every joint has ``Zrotation Xrotation Yrotation`` channels (Euler angles in degrees,
R = Rz Rx Ry), the root also ``Xposition Yposition Zposition``. A hinge is written as a rotation
about z. ``characters/joint_maps/<character>_mimic.yaml`` maps such a file back onto the
character, so ``import_clip.py`` reads mimic's exports.
"""

from __future__ import annotations

import numpy as np

from mimic.kinematics.bvh import BVH
from mimic.kinematics.character import FIXED, Character

ROTATION_ORDER = "ZXY"


def bvh_joints(ch: Character) -> list:
    """Character joints that become BVH joints (all but the fixed ones), in ID order."""
    return [j for j in range(ch.num_joints) if ch.joint_types[j] != FIXED]


def motion_to_bvh(ch: Character, root_pos, local_rot, frame_time: float) -> BVH:
    """A BVH of poses root_pos [F, 3] and local_rot [F, J, 4] (mimic's clip layout, xyzw)."""
    from scipy.spatial.transform import Rotation

    joints = bvh_joints(ch)
    index = {j: k for k, j in enumerate(joints)}
    parents = np.array([index[ch.parents[j]] if ch.parents[j] >= 0 else -1 for j in joints])
    offsets = np.array([ch.attach[j] if ch.parents[j] >= 0 else np.zeros(3) for j in joints])
    rot_ch = [f"{a}rotation" for a in ROTATION_ORDER]
    channels = [(["Xposition", "Yposition", "Zposition"] if k == 0 else []) + rot_ch for k in range(len(joints))]
    ends = []
    for k, j in enumerate(joints):
        kids = [c for c in range(ch.num_joints) if ch.parents[c] == j]
        for c in kids:
            if ch.joint_types[c] == FIXED:
                ends.append((k, np.array(ch.attach[c], float)))
        if not kids:  # a leaf body: its far end, twice its centre
            ends.append((k, 2.0 * np.asarray(ch.com_offset[j], float)))
    local_rot = np.asarray(local_rot, np.float64)
    F = len(local_rot)
    euler = (
        Rotation.from_quat(local_rot[:, joints].reshape(-1, 4))
        .as_euler(ROTATION_ORDER, degrees=True)
        .reshape(F, len(joints), 3)
    )
    motion = np.concatenate([np.asarray(root_pos, np.float64), euler.reshape(F, -1)], axis=1)
    return BVH(
        path=None,
        names=[ch.joint_names[j] for j in joints],
        parents=parents,
        offsets=offsets,
        channels=channels,
        end_sites=ends,
        frame_time=float(frame_time),
        motion=motion,
    )
