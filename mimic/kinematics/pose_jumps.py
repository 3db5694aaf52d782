"""Pose jumps in a clip: finding them and blending them out.

A *pose jump* is a frame step in which a joint turns far more than in the steps on either side of
it: a seam where two pieces of capture were joined (DeepMimic's ``humanoid3d_walk`` is two
mirrored half-cycles, and between frames 18 and 19 its left shoulder turns 28.8 deg against 0.5
and 0.8 deg in the neighbouring steps). The clip's forward-difference velocities turn such a step
into a spike (15 rad/s there), and the reward asks the character to follow it.

:func:`find_pose_jumps` reports the steps whose rotation is both ``min_deg`` or more and ``ratio``
times the mean of the neighbouring steps. :func:`blend_pose_jump` removes one by offset blending,
the usual way of joining motion pieces (Kovar, Gleicher & Pighin 2002, section 3.3): the step's
excess over the mean of its neighbours is spread over ``window`` frames on each side, half before
and half after, with a raised-cosine taper, so the frames far from the seam keep their pose and
velocities. Joint rotations take the offset as a rotation vector in the joint's local frame, the
root rotation in the world, hinges as an angle, the root position as a vector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimic.kinematics import rotations as R
from mimic.kinematics.character import REVOLUTE, SPHERICAL
from mimic.kinematics.clip import MotionClip, clip_from_dict, pose_frames, rotation_steps


@dataclass(frozen=True)
class PoseJump:
    """Joint ``joint`` turns ``step_deg`` from ``frame`` to ``frame + 1`` against ``neighbour_deg``
    (the mean of the steps just before and just after)."""

    frame: int
    joint: str
    step_deg: float
    neighbour_deg: float


def frame_steps(clip: MotionClip) -> np.ndarray:
    """[S, J, 3]: each joint's rotation from frame f to f + 1 as a rotation vector
    (:func:`mimic.kinematics.clip.rotation_steps`). A looping clip has one more row, S = N: its
    wrap, from the last frame to frame 0 of the next cycle, which take the same instant."""
    rot = _wrapped(clip.local_rot, clip.loop)
    hinge = _wrapped(clip.hinge_angle, clip.loop)
    return rotation_steps(clip.character, rot[:-1], rot[1:], hinge[:-1], hinge[1:])


def root_steps(clip: MotionClip) -> np.ndarray:
    """[S, 3]: the root position's step from frame f to f + 1 (rows as in :func:`frame_steps`)."""
    pos = clip.root_pos
    if clip.loop:
        pos = np.concatenate([pos, pos[:1] + clip.cycle_delta])
    return np.diff(pos, axis=0)


def _wrapped(x: np.ndarray, loop: bool) -> np.ndarray:
    return np.concatenate([x, x[:1]]) if loop else x


def find_pose_jumps(clip: MotionClip, ratio: float = 4.0, min_deg: float = 8.0) -> list[PoseJump]:
    """The steps where a joint turns at least ``min_deg`` and ``ratio`` times the mean of the
    steps on either side (steps at a non-looping clip's ends are compared with their one
    neighbour; a looping clip's steps wrap)."""
    angle = np.degrees(np.linalg.norm(frame_steps(clip), axis=-1))  # [S, J]
    neighbours = _neighbour_mean(angle, clip.loop)
    jumps = []
    for f, j in np.argwhere((angle >= min_deg) & (angle >= ratio * neighbours)):
        name = clip.character.joint_names[j]
        jumps.append(PoseJump(int(f), name, float(angle[f, j]), float(neighbours[f, j])))
    return jumps


def _neighbour_mean(x: np.ndarray, loop: bool) -> np.ndarray:
    """Mean of rows f - 1 and f + 1 of x; at the ends the one neighbour (or the wrapped one)."""
    if loop:
        return 0.5 * (np.roll(x, 1, axis=0) + np.roll(x, -1, axis=0))
    before = np.concatenate([x[1:2], x[:-1]])
    after = np.concatenate([x[1:], x[-2:-1]])
    return 0.5 * (before + after)


def blend_pose_jump(clip: MotionClip, frame: int, window: int = 4) -> MotionClip:
    """A copy of ``clip`` whose step from ``frame`` to ``frame + 1`` moves like its neighbours:
    the excess is spread over ``window`` frames each side. In a looping clip, ``frame`` = N - 1
    is the wrap: its step takes no time, so all of it is excess, and the last frame and frame 0
    meet half way. The window must fit in the clip (in a looping clip it wraps around)."""
    n, last = clip.num_frames, frame == clip.num_frames - 1
    fits = window >= 1 and (2 * window + 2 <= n if clip.loop else frame - window >= 0 and frame + window + 1 < n)
    if not fits or not 0 <= frame < n - (0 if clip.loop else 1):
        raise ValueError(
            f"{clip.name}: a {window}-frame blend around the step after frame {frame} does not fit "
            f"in the clip's {n} frames"
        )
    steps, pos_steps = frame_steps(clip), root_steps(clip)
    rot_excess = steps[frame] if last else _excess(steps, frame)  # [J, 3]
    pos_excess = pos_steps[frame] if last else _excess(pos_steps, frame)  # [3]
    root_pos, local_rot = clip.root_pos.copy(), clip.local_rot.copy()
    hinge_angle = clip.hinge_angle.copy()
    ch = clip.character
    ball, hinge = ch.joint_types == SPHERICAL, ch.joint_types == REVOLUTE
    for f, w in _offset_weights(frame, window, n):
        rot = w * rot_excess  # [J, 3]
        root_pos[f] += w * pos_excess
        local_rot[f, 0] = R.quat_mul(R.quat_from_rotvec(rot[0]), local_rot[f, 0])
        local_rot[f, ball] = R.quat_mul(local_rot[f, ball], R.quat_from_rotvec(rot[ball]))
        hinge_angle[f, hinge] += rot[hinge, 2]
    frames = pose_frames(ch, clip.dts, root_pos, local_rot, hinge_angle)
    data = {"Loop": "wrap" if clip.loop else "none", "Frames": frames}
    return clip_from_dict(data, ch, name=clip.name, path=clip.path)


def blend_pose_jumps(clip: MotionClip, window: int = 4) -> tuple[MotionClip, list[int]]:
    """``clip`` with every step that :func:`find_pose_jumps` reports blended (one blend per step,
    all joints at once, in frame order), and those steps' frames."""
    seams = sorted({j.frame for j in find_pose_jumps(clip)})
    for frame in seams:
        clip = blend_pose_jump(clip, frame, window)
    return clip, seams


def _excess(steps: np.ndarray, frame: int) -> np.ndarray:
    """The step at ``frame`` less the mean of the steps just before and after it (wrapping)."""
    s = len(steps)
    return steps[frame] - 0.5 * (steps[(frame - 1) % s] + steps[(frame + 1) % s])


def _offset_weights(frame: int, window: int, n: int):
    """(frame index, weight) pairs: frames up to ``frame`` move forward by up to half the excess,
    frames after it back by up to half, tapering to nothing ``window`` frames away (indices wrap
    for a seam at a looping clip's end)."""
    for d in range(window):
        taper = 0.5 * (1.0 + np.cos(np.pi * d / window))  # 1 at the seam, towards 0 at the edge
        yield (frame - d) % n, 0.5 * taper
        yield (frame + 1 + d) % n, -0.5 * taper
