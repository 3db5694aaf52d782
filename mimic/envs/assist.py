"""A virtual assistant for training: an annealed spring-damper force on the root towards the
reference root, so that early training episodes stay up long enough to learn the whole clip.

The idea is the curriculum of virtual assistance of Yu, Turk & Liu (2018, "Learning Symmetric and
Low-Energy Locomotion", section 5): an external force on the pelvis holds the character while the
policy learns, and its strength is lowered to zero as training goes on, so the final policy
balances on its own. (Residual force control, Yuan & Kitani 2020, makes such a wrench a permanent,
learned part of the action; that is not physical and is not what this module does.)

The force, per character, computed at the start of each control step and held over its physics
steps, in the world frame, applied at the root body's centre:

    F = a * M * (w^2 (p_ref - p) + 2 w (v_ref - v))

with ``w`` the assistant's natural frequency (1/s; critically damped), M the character's mass, p the
root joint origin's position and v the root body centre's velocity (against the reference root's
position and velocity). Measuring both at the joint origin, and pushing there, was tried: open
loop it held six spinkick starts up for 122 steps in all, against 467. The strength ``a = max(0, 1 - samples /
anneal_samples)`` is fixed when an episode starts, from the training progress the samplers pass at
every reset, as the episode-length curriculum is. There is no torque: a torque held over a control
step on the pelvis alone (whose effective inertia, in a body held by its joints' PD, is about
1.3 kg m^2 for the humanoid) either overshoots or is too weak to matter, and a torque against the
clip's root angular velocity feeds its frame-to-frame noise to the pelvis (tried; it made falls
come sooner). Yu et al.'s assistant is a force too.

Only training episodes are assisted: test episodes, and so every test figure, never are.
"""

from __future__ import annotations

import numpy as np

from mimic.sim.link_state import BODY_POS, JOINT_POS, LIN_VEL


class RootAssist:
    """The annealed root force of a batch of characters (see the module doc)."""

    def __init__(self, character, frequency: float, anneal_samples: float):
        for name, v in (("assist", frequency), ("assist_anneal_samples", anneal_samples)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not np.isfinite(v) or v <= 0:
                raise ValueError(f"{name} must be a positive number, not {v!r}")
        self.frequency = float(frequency)
        self.anneal_samples = float(anneal_samples)
        self.mass = character.total_mass

    def strength(self, samples: int) -> float:
        """The assistant's strength in [0, 1] for an episode that starts after ``samples``."""
        return max(0.0, 1.0 - float(samples) / self.anneal_samples)

    def force(self, S_root, ref, ref_root, strength) -> tuple[np.ndarray, np.ndarray]:
        """(force [K, 3], point [K, 3]) in the world frame: the force on each root, applied at its
        body centre ``point``. ``S_root`` [K, 27] the simulated root link states, ``ref`` a
        ReferenceBatch at the same clock, ``ref_root`` [K, 3] the reference root in the world,
        ``strength`` [K]."""
        w = self.frequency
        a = np.asarray(strength, dtype=np.float64)[:, None] * self.mass
        dp = ref_root - S_root[:, JOINT_POS]
        dv = ref.root_lin_vel - S_root[:, LIN_VEL]
        return a * (w * w * dp + 2.0 * w * dv), S_root[:, BODY_POS].copy()


def root_assist(frequency, anneal_samples, character, mode, kinematic):
    """The assistant of a training task (None when off, in test mode or in playback)."""
    if frequency == 0 and not isinstance(frequency, bool):
        return None
    assist = RootAssist(character, frequency, anneal_samples)  # refuses bad values in any mode
    return assist if mode == "train" and not kinematic else None
