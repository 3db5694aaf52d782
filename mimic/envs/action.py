"""The action: stable-PD targets, one per actuated joint, from the policy's normalised output.

Two choices, both per character (``ActionMap(character, rotation=..., pd_targets=...)``):

``rotation='axis_angle'`` (default, DeepMimic's DM-2019 layout): [angle, axis x, y, z] per ball
joint, angle per hinge.

Bounds, offset and scale follow C++ cCtCtrlUtil (with ENABLE_PD_SPHERE_AXIS): for a hinge with
limits [l, u], bounds m +- 2(u - l) with m = (l + u)/2, offset -m, scale 0.5/(u - l); for a ball
joint the angle uses l = min of its per-axis lows, u = max of its highs (+-pi when it has none),
offset 0; axis entries have bounds [-1, 1], offset (0, 0, -0.2) and scale 1. A policy's normalised
output a_n maps to the action a = a_n / scale - offset.

``rotation='exp_map'`` (DM-2021): a 3-D exponential map per ball joint, bounds +-2 pi per component,
offset 0, scale 1/pi, the vector's norm clamped to 2 pi; hinges as above.

``pd_targets='absolute'`` (default, DeepMimic): the action is the PD target itself.
``pd_targets='relative'``: the target is the reference pose at the next control step composed with
the action (ball joints: q_ref * q_action; hinges: angle_ref + action). Action 0 then tracks the clip
open loop, so the mean of every entry is 0 (hinges lose their mid-range offset); scales and
bounds are as for absolute targets times ``residual_scale`` (default 1; e.g. 0.25 makes a normalised
unit a quarter of the angle, so the policy's fixed exploration noise and its initial output perturb
the clip by a quarter as much), and the target is not clipped to the joint limits. Callers pass
the reference as ``to_targets(actions, reference)``: any object with ``local_rot`` [K, J, 4]
(xyzw) and ``hinge`` [K, J] arrays, e.g. a ReferenceBatch.
"""

from __future__ import annotations

import numpy as np

from mimic.kinematics.character import REVOLUTE, SPHERICAL, Character
from mimic.kinematics.rotations import quat_mul_batch

ROTATIONS = ("axis_angle", "exp_map")
PD_TARGETS = ("absolute", "relative")


class ActionMap:
    def __init__(
        self,
        character: Character,
        rotation: str = "axis_angle",
        pd_targets: str = "absolute",
        residual_scale: float = 1.0,
    ):
        _check_options(rotation, pd_targets, residual_scale)
        self.rotation, self.pd_targets = rotation, pd_targets
        self.relative = pd_targets == "relative"
        self.residual_scale = r = float(residual_scale)
        low, high, offset, scale = [], [], [], []
        self.ball_angle, self.ball_axis, self.ball_exp, self.hinge = [], [], [], []
        self.ball_joint, self.hinge_joint = [], []  # joint ids, for the reference's rows
        layout = []  # per actuated joint: ('ball', k) or ('hinge', k)
        for j in character.actuated:
            jt = character.joint_types[j]
            l, u = _angle_range(jt, character.joint_limits[j])
            m, span = 0.5 * (l + u), u - l
            i = len(low)
            if jt == SPHERICAL and rotation == "exp_map":
                low += [-2 * np.pi * r] * 3
                high += [2 * np.pi * r] * 3
                offset += [0.0] * 3
                scale += [1 / (np.pi * r)] * 3
                self.ball_exp.append([i, i + 1, i + 2])
            elif jt == SPHERICAL:
                low += [(m - 2 * span) * r] + [-1.0] * 3  # r = 1 unless relative: the range scaled about 0
                high += [(m + 2 * span) * r] + [1.0] * 3
                offset += [0.0, 0.0, 0.0, -0.2]
                scale += [0.5 / (span * r)] + [1.0] * 3
                self.ball_angle.append(i)
                self.ball_axis.append([i + 1, i + 2, i + 3])
            elif jt == REVOLUTE:
                centre = 0.0 if self.relative else m
                low.append(centre - 2 * span * r)
                high.append(centre + 2 * span * r)
                offset.append(-centre)
                scale.append(0.5 / (span * r))
                self.hinge.append(i)
                self.hinge_joint.append(j)
            if jt == SPHERICAL:
                layout.append(("ball", len(self.ball_joint)))
                self.ball_joint.append(j)
            else:
                layout.append(("hinge", len(self.hinge) - 1))
        self.low, self.high, self.offset, self.scale = (np.array(v) for v in (low, high, offset, scale))
        self.size = len(low)
        for name in ("ball_angle", "hinge", "ball_joint", "hinge_joint"):
            setattr(self, name, np.array(getattr(self, name), dtype=int))
        self.ball_axis = np.array(self.ball_axis, dtype=int).reshape(-1, 3)
        self.ball_exp = np.array(self.ball_exp, dtype=int).reshape(-1, 3)
        self.layout = layout  # per actuated joint: ("ball" | "hinge", index)
        nb = len(self.ball_joint)
        # position of each actuated joint's target in concat(ball quats, hinge angles)
        self._order = [k if kind == "ball" else nb + k for kind, k in layout]

    @property
    def mean(self):
        """Action that a normalised 0 maps to (the policy's output mean at initialisation)."""
        return -self.offset

    @property
    def std(self):
        return 1.0 / self.scale

    @property
    def compilable(self) -> bool:
        """Whether the compiled twin (mimic.envs.kernels.CompiledActionMap) computes this map."""
        return self.rotation == "axis_angle" and not self.relative

    def to_targets(self, actions, reference=None) -> list:
        """Actions [K, size] (or [size] for one character) -> per character, the stable-PD
        targets (xyzw quaternion or [angle] per actuated joint, in joint order). ``reference``
        (needed with relative targets): the reference pose to compose with, batch size K."""
        a = np.asarray(actions, dtype=np.float64).reshape(-1, self.size)
        a = np.minimum(np.maximum(a, self.low), self.high)
        quats = self._ball_quats(a)
        hinges = a[:, self.hinge]
        if self.relative:
            if reference is None:
                raise ValueError("relative PD targets need the reference pose (to_targets(a, ref))")
            quats = quat_mul_batch(np.ascontiguousarray(reference.local_rot[:, self.ball_joint]), quats)
            hinges = hinges + reference.hinge[:, self.hinge_joint]
        qs = quats.tolist()
        hs = hinges.tolist()
        order = self._order
        out = []
        for k in range(a.shape[0]):
            items = qs[k] + [[v] for v in hs[k]]
            out.append([items[i] for i in order])
        return out

    def _ball_quats(self, a):
        """Ball-joint rotations [K, balls, 4] (xyzw) of clipped actions a [K, size]."""
        if self.rotation == "exp_map":
            e = a[:, self.ball_exp]
            angle = np.sqrt(np.einsum("kji,kji->kj", e, e))
            clamp = np.minimum(angle, 2 * np.pi)  # DM-2021 clamps the exp map's norm to 2 pi
            axis = e / np.where(angle > 1e-12, angle, 1.0)[..., None]
            half = 0.5 * clamp
            sin_half = np.where(angle > 1e-12, np.sin(half), 0.0)
            return np.concatenate([axis * sin_half[..., None], np.cos(half)[..., None]], axis=-1)
        axis = a[:, self.ball_axis]
        n = np.sqrt(np.einsum("kji,kji->kj", axis, axis))
        if n.min() < 1e-8:  # DeepMimic uses +z for a zero axis
            zero = n < 1e-8
            axis[zero] = (0.0, 0.0, 1.0)
            n[zero] = 1.0
        half = 0.5 * a[:, self.ball_angle]
        quats = np.empty(half.shape + (4,))
        np.multiply(axis, (np.sin(half) / n)[..., None], out=quats[..., :3])
        np.cos(half, out=quats[..., 3])
        return quats


def _angle_range(joint_type, limits):
    """(low, high) angle of a joint for the action's bounds: a hinge's limits; a ball joint's
    lowest and highest per-axis limit; +-pi without limits."""
    if limits is None:
        return -np.pi, np.pi
    if joint_type == SPHERICAL:
        return float(np.min(limits[0])), float(np.max(limits[1]))
    return float(limits[0]), float(limits[1])


def _check_options(rotation, pd_targets, residual_scale):
    if rotation not in ROTATIONS:
        raise ValueError(f"rotation must be one of {ROTATIONS}, not {rotation!r}")
    if pd_targets not in PD_TARGETS:
        raise ValueError(f"pd_targets must be one of {PD_TARGETS}, not {pd_targets!r}")
    if not (isinstance(residual_scale, (int, float)) and residual_scale > 0):
        raise ValueError(f"residual_scale must be a positive number, not {residual_scale!r}")
    if residual_scale != 1.0 and pd_targets != "relative":
        raise ValueError("residual_scale scales relative PD targets: it needs pd_targets='relative'")
