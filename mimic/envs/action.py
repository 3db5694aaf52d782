"""DeepMimic's DM-2019 action: PD targets, [angle, axis x, y, z] per ball joint, angle per hinge.

Bounds, offset and scale follow C++ cCtCtrlUtil (with ENABLE_PD_SPHERE_AXIS): for a hinge with
limits [l, u], bounds m +- 2(u - l) with m = (l + u)/2, offset -m, scale 0.5/(u - l); for a ball
joint the angle uses l = min of its per-axis lows, u = max of its highs (+-pi when it has none),
offset 0; axis entries have bounds [-1, 1], offset (0, 0, -0.2) and scale 1. A policy's normalised
output a_n maps to the action a = a_n / scale - offset.
"""
from __future__ import annotations

import numpy as np

from mimic.kinematics.character import REVOLUTE, SPHERICAL, Character


class ActionMap:
    def __init__(self, character: Character):
        low, high, offset, scale = [], [], [], []
        self.ball_angle, self.ball_axis, self.hinge = [], [], []
        layout = []  # per actuated joint: ('ball', k) or ('hinge', k)
        for j in character.actuated:
            jt = character.joint_types[j]
            lim = character.joint_limits[j]
            if lim is None:
                l, u = -np.pi, np.pi
            elif jt == SPHERICAL:
                l, u = float(np.min(lim[0])), float(np.max(lim[1]))
            else:
                l, u = float(lim[0]), float(lim[1])
            m, span = 0.5 * (l + u), u - l
            i = len(low)
            low.append(m - 2 * span)
            high.append(m + 2 * span)
            scale.append(0.5 / span)
            if jt == SPHERICAL:
                offset.append(0.0)
                low += [-1.0] * 3
                high += [1.0] * 3
                offset += [0.0, 0.0, -0.2]
                scale += [1.0] * 3
                layout.append(('ball', len(self.ball_angle)))
                self.ball_angle.append(i)
                self.ball_axis.append([i + 1, i + 2, i + 3])
            elif jt == REVOLUTE:
                offset.append(-m)
                layout.append(('hinge', len(self.hinge)))
                self.hinge.append(i)
        self.low = np.array(low)
        self.high = np.array(high)
        self.offset = np.array(offset)
        self.scale = np.array(scale)
        self.size = len(low)
        self.ball_angle = np.array(self.ball_angle, dtype=int)
        self.ball_axis = np.array(self.ball_axis, dtype=int).reshape(-1, 3)
        self.hinge = np.array(self.hinge, dtype=int)
        self.layout = layout  # per actuated joint: ("ball" | "hinge", index)
        nb = len(self.ball_angle)
        # position of each actuated joint's target in concat(ball quats, hinge angles)
        self._order = [k if kind == 'ball' else nb + k for kind, k in layout]

    @property
    def mean(self):
        """Action that a normalised 0 maps to (the policy's output mean at initialisation)."""
        return -self.offset

    @property
    def std(self):
        return 1.0 / self.scale

    def to_targets(self, actions) -> list:
        """Actions [K, size] (or [size] for one character) -> per character, the stable-PD
        targets (xyzw quaternion or [angle] per actuated joint, in joint order)."""
        a = np.asarray(actions, dtype=np.float64).reshape(-1, self.size)
        a = np.minimum(np.maximum(a, self.low), self.high)
        K = a.shape[0]
        axis = a[:, self.ball_axis]
        n = np.sqrt(np.einsum('kji,kji->kj', axis, axis))
        if n.min() < 1e-8:  # DeepMimic uses +z for a zero axis
            zero = n < 1e-8
            axis[zero] = (0.0, 0.0, 1.0)
            n[zero] = 1.0
        half = 0.5 * a[:, self.ball_angle]
        quats = np.empty(half.shape + (4,))
        np.multiply(axis, (np.sin(half) / n)[..., None], out=quats[..., :3])
        np.cos(half, out=quats[..., 3])
        qs = quats.tolist()
        hs = a[:, self.hinge].tolist()
        order = self._order
        out = []
        for k in range(K):
            items = qs[k] + [[v] for v in hs[k]]
            out.append([items[i] for i in order])
        return out
