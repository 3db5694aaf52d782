"""Early termination on tracking error: a training episode ends as a failure once the character
has drifted too far from its reference, before it falls.

The idea is MimicKit's pose termination (``pose_termination``, spec section 7: any body more than
1 m from its reference body) and the tighter thresholds of later tracking work (PHC, Luo et al.
2023: 0.25 m mean body distance; BeyondMimic, Liao et al. 2025: anchor and end-effector height
errors). Here the distance is measured on the bodies the reference table already holds: the root
and the end effectors (DeepMimic's ankles and wrists), in the world frame, so it costs a few numpy
calls per control step and no wider table. A character whose root or any end effector is more than
``distance`` metres from the reference's is done.

The reference end effectors are stored root-relative in the reference's heading frame (x, z) with
their height (y) absolute (mimic.kinematics.reference); they are turned back into the world with
the reference root's heading and position.
"""

from __future__ import annotations

import numpy as np

from mimic.kinematics.rotations import heading_removal_quat, quat_conj, quat_rotate
from mimic.sim.link_state import JOINT_POS


class TrackingTermination:
    """``done = tracking_error > distance`` for a batch of characters."""

    def __init__(self, character, distance: float):
        if isinstance(distance, bool) or not isinstance(distance, (int, float)) or not distance > 0:
            raise ValueError(f"tracking_termination must be a distance in metres > 0, not {distance!r}")
        self.distance = float(distance)
        self.ee = np.asarray(character.end_effectors, dtype=int)

    def errors(self, S_ext, ref, ref_root) -> np.ndarray:
        """[K] the largest distance (m) of the root and the end effectors from the reference's.
        ``S_ext`` [K, J(+1), 27] link states, ``ref`` a ReferenceBatch, ``ref_root`` [K, 3] the
        reference root in the world."""
        root = S_ext[:, 0, JOINT_POS]
        root_err = np.linalg.norm(root - ref_root, axis=1)
        if not len(self.ee):
            return root_err
        back = quat_conj(heading_removal_quat(ref.local_rot[:, 0]))  # reference heading frame -> world
        ref_ee = quat_rotate(back[:, None], ref.ee_rel)
        ref_ee[..., 0] += ref_root[:, None, 0]
        ref_ee[..., 2] += ref_root[:, None, 2]
        ee_err = np.linalg.norm(S_ext[:, self.ee, JOINT_POS] - ref_ee, axis=2).max(axis=1)
        return np.maximum(root_err, ee_err)

    def __call__(self, S_ext, ref, ref_root) -> np.ndarray:
        """[K] bool: which characters have drifted beyond the distance."""
        return self.errors(S_ext, ref, ref_root) > self.distance
