"""Quadruped motion onto mimic's dog: keypoints -> looping, foot-planted dog clips.

Two sources feed the same path: captured robot keypoints (:func:`from_keypoints`, e.g. the
Laikago clips of :mod:`mimic.kinematics.laikago`) and the gait generator of
:mod:`mimic.kinematics.gait`. Both produce a :class:`PawMotion` (root trajectory, paw sole
targets, stance flags) in the dog's own size, and :func:`solve_dog` turns it into a clip with the
IK of :mod:`mimic.kinematics.retarget`.

Retargeting captured keypoints (:func:`from_keypoints`)
    1. The capture is made to loop in its heading frame (:func:`loop_cycles`): per-frame root
       steps and yaw steps are expressed in the body's heading frame, the yaw steps are evened out
       so one cycle turns exactly ``turn`` (0 for a trot; 2 pi / cycles for a turn on the spot,
       since a DeepMimic loop carries position drift but no rotation drift), the hips, toes and
       body height are eased into frame 0 over the cycle's last quarter (:func:`close_seam`; a
       capture's last frame need not lead smoothly into its first), and ``cycles`` copies are
       laid end to end, plus a closing frame equal to frame 0 one cycle on.
    2. Every length is scaled by the leg-length ratio ``scale`` = dog leg / robot leg (thigh +
       shank + paw to sole for the dog; 1.13 for the Laikago): the root path and heights scale
       about the ground, and each paw target is the dog's own hip plus ``scale`` times the robot's
       toe-minus-hip vector, its height measured from the robot's stance toe height.
    3. Stances are found on the robot's toes (low and slow) and planted: each stance holds one
       ground position, each swing is shifted smoothly from one held position to the next
       (:func:`mimic.kinematics.retarget.plant_contacts`) and lifted by a 4 cm sine arch
       (:data:`SWING_LIFT`) so that it clears the ground.

Solving (:func:`solve_dog`)
    Root position and rotation come from the motion, the spine, neck, head and tail from
    :func:`body_pose` (the dog's rest posture with a small, documented secondary motion); the
    sixteen leg joints are solved warm-started so that each paw's sole point reaches its target
    and the paw lies flat along the heading, with the null-space pull toward :data:`REST_ANGLES`
    keeping elbows behind, knees in front and the carpus and hock natural.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mimic.kinematics import rotations as R
from mimic.kinematics.character import Character
from mimic.kinematics.fk import forward_kinematics
from mimic.kinematics.retarget import IKSolver, detect_contacts, lift_swings, plant_contacts

SIDES = ("left", "right")
FRONT = ("shoulder", "forearm", "hand", "finger")
HIND = ("upper_leg", "leg", "foot", "toe")
# legs in order left front, right front, left hind, right hind: joints hip -> paw
LEG_JOINTS = tuple(tuple(f"{s}_{p}" for p in seg) for seg in (FRONT, HIND) for s in SIDES)
LEG_NAMES = ("left front", "right front", "left hind", "right hind")
# the sole: bottom face centre of the finger / toe collision boxes (characters/dog.urdf)
SOLE = {"finger": np.array([0.012, -0.04, 0.0]), "toe": np.array([0.015, -0.04, 0.0])}

# Rest posture, angles about each joint's z axis (radians; positive swings the segment below
# forward). Front leg: upper arm back from the shoulder so the elbow sits behind it, forearm
# forward to near vertical, pastern sloping slightly forward. Hind leg: thigh forward (knee in
# front of the hip), shank back, metatarsus near vertical (hock behind). Neck raised about 40
# degrees with the head level; tail hanging about 30 degrees down.
REST_ANGLES = {
    "shoulder": -0.45,
    "forearm": 0.55,
    "hand": 0.15,
    "finger": -0.25,
    "upper_leg": 0.55,
    "leg": -1.05,
    "foot": 0.55,
    "toe": -0.05,
    "neck": 0.7,
    "head": 0.55,
    "tail0": 0.55,
    "tail1": 0.25,
}
# the sine arch added to every retargeted swing (m), so that paws the capture shuffles along the
# ground clear it
SWING_LIFT = 0.04
# secondary motion: the head keeps HEAD_STABILISE of the body's pitch away; the tail swings
# TAIL_SWAY radians side to side with the trunk's roll.
HEAD_STABILISE = 0.8
TAIL_SWAY = 1.0


@dataclass
class QuadrupedKeypoints:
    """Per frame, in mimic's y-up world: body position [N, 3] and rotation [N, 4] (xyzw, x
    forward, y up, z right), hip and toe positions [N, 4, 3] (legs in :data:`LEG_NAMES` order)."""

    dt: float
    body_pos: np.ndarray
    body_rot: np.ndarray
    hips: np.ndarray
    toes: np.ndarray


@dataclass
class PawMotion:
    """What the dog's IK needs, in the dog's own size: root position [N, 3] and rotation
    [N, 4], paw sole targets [N, 4, 3] and stance flags [N, 4]; the last frame closes the loop
    (frame 0 one cycle on)."""

    dt: float
    root_pos: np.ndarray
    root_rot: np.ndarray
    paws: np.ndarray
    contacts: np.ndarray


def _z_rot(angle):
    a = np.asarray(angle, dtype=np.float64)
    z = np.zeros_like(a)
    return np.stack([z, z, np.sin(0.5 * a), np.cos(0.5 * a)], axis=-1)


def _yaw_rot(yaw):
    y = np.asarray(yaw, dtype=np.float64)
    z = np.zeros_like(y)
    return np.stack([z, np.sin(0.5 * y), z, np.cos(0.5 * y)], axis=-1)


def dog_leg_lengths(ch: Character) -> np.ndarray:
    """Hip-to-sole length [4] of each of the dog's straight legs (front 0.5425 m and hind
    0.6 m for dog.urdf)."""
    out = []
    for chain in LEG_JOINTS:
        segs = sum(np.linalg.norm(ch.attach[ch.index(j)]) for j in chain[1:])
        out.append(segs + abs(SOLE[chain[-1].split("_", 1)[1]][1]))
    return np.array(out)


def dog_leg_length(ch: Character) -> float:
    """The mean of :func:`dog_leg_lengths` (0.571 m): the dog's side of the leg-length ratio."""
    return float(dog_leg_lengths(ch).mean())


def rest_pose(ch: Character) -> np.ndarray:
    """local_rot [J, 4] of the rest posture (:data:`REST_ANGLES`), root identity."""
    rot = np.zeros((ch.num_joints, 4))
    rot[:, 3] = 1.0
    for j, name in enumerate(ch.joint_names):
        key = name.split("_", 1)[1] if name.startswith(SIDES) else name
        if key in REST_ANGLES:
            rot[j] = _z_rot(REST_ANGLES[key])
    return rot


def body_pose(ch: Character, root_rot) -> np.ndarray:
    """local_rot [N, J, 4]: the rest posture, with the head countering HEAD_STABILISE of the
    body's pitch and the tail swinging sideways with the trunk's roll (the secondary motion)."""
    n = len(root_rot)
    rot = np.broadcast_to(rest_pose(ch), (n, ch.num_joints, 4)).copy()
    up = R.quat_rotate(R.quat_mul(R.heading_removal_quat(root_rot), root_rot), np.array([1.0, 0.0, 0.0]))
    pitch = np.arctan2(up[:, 1], up[:, 0])
    side = R.quat_rotate(root_rot, np.array([0.0, 0.0, 1.0]))
    roll = np.arcsin(np.clip(side[:, 1], -1, 1))
    rot[:, ch.index("head")] = _z_rot(REST_ANGLES["head"] - HEAD_STABILISE * pitch)
    sway = R.quat_from_axis_angle(np.array([0.0, 1.0, 0.0]), TAIL_SWAY * roll)
    t0 = ch.index("tail0")
    rot[:, t0] = R.quat_mul(sway, rot[:, t0])
    return rot


def loop_cycles(kp: QuadrupedKeypoints, cycles: int = 1, turn: float = 0.0) -> QuadrupedKeypoints:
    """``cycles`` copies of a captured cycle laid end to end in its heading frame, each turning
    exactly ``turn`` radians, plus the closing frame (see the module docstring)."""
    n = len(kp.body_pos)
    yaw = R.heading_angle(kp.body_rot)
    heading = _yaw_rot(yaw)
    inv = R.quat_conj(heading)
    tilt = R.quat_mul(inv, kp.body_rot)
    # per-frame steps in the heading frame; the seam step (last -> first) repeats the last one
    step = R.quat_rotate(inv[:-1], kp.body_pos[1:] - kp.body_pos[:-1])
    step = np.concatenate([step, step[-1:]])
    dyaw = np.angle(np.exp(1j * np.diff(yaw)))
    dyaw = np.concatenate([dyaw, dyaw[-1:]])
    dyaw += (turn - dyaw.sum()) / n
    local = {
        k: close_seam(R.quat_rotate(inv[:, None], getattr(kp, k) - kp.body_pos[:, None])) for k in ("hips", "toes")
    }
    height = close_seam(kp.body_pos[:, 1])
    m = cycles * n + 1
    src = np.arange(m) % n
    new_yaw = yaw[0] + np.concatenate([[0.0], np.cumsum(dyaw[src[:-1]])])
    new_heading = _yaw_rot(new_yaw)
    moves = R.quat_rotate(new_heading[:-1], step[src[:-1]])
    pos = kp.body_pos[0] + np.concatenate([np.zeros((1, 3)), np.cumsum(moves, axis=0)])
    pos[:, 1] = height[src]
    out = {k: pos[:, None] + R.quat_rotate(new_heading[:, None], v[src]) for k, v in local.items()}
    return QuadrupedKeypoints(
        dt=kp.dt, body_pos=pos, body_rot=R.quat_mul(new_heading, tilt[src]), hips=out["hips"], toes=out["toes"]
    )


def close_seam(x, frames=None):
    """A captured cycle x [N, ...] eased over its last ``frames`` (default N/4) so that it runs
    on into its own frame 0: the gap between frame 0 and the value one frame past the end
    (extrapolated) is taken up gradually, smoothstep-weighted, instead of as one jump at the
    loop's wrap."""
    x = np.array(x, dtype=np.float64)
    n = len(x)
    k = max(2, n // 4) if frames is None else int(frames)
    gap = x[0] - (2.0 * x[-1] - x[-2])
    s = np.arange(1, k + 1) / (k + 1)
    w = (s * s * (3 - 2 * s)).reshape((k,) + (1,) * (x.ndim - 1))
    x[n - k :] += w * gap
    return x


def hip_positions(ch: Character, root_pos, local_rot) -> np.ndarray:
    """World positions [N, 4, 3] of the dog's shoulder and hip joints."""
    fk = forward_kinematics(ch, root_pos, local_rot)
    return fk["joint_pos"][:, [ch.index(chain[0]) for chain in LEG_JOINTS]]


def from_keypoints(
    ch: Character, kp: QuadrupedKeypoints, robot_leg: float, stance_height=0.02, stance_speed=0.8
) -> PawMotion:
    """Captured, looped keypoints (last frame closes the loop) -> the dog's PawMotion."""
    s = dog_leg_length(ch) / robot_leg
    n = len(kp.body_pos) - 1  # frames of the loop, closing frame excluded
    toes = kp.toes[:n]
    ground = np.array([np.quantile(toes[:, i, 1], 0.1) for i in range(4)])
    contacts = detect_contacts(
        toes - np.array([0, 1, 0]) * ground[None, :, None], kp.dt, height=stance_height, speed=stance_speed, loop=True
    )
    # the dog's root: its hip centre at the scaled robot hip centre
    rest = body_pose(ch, kp.body_rot)
    rest[:, 0] = kp.body_rot
    zero_root = np.zeros_like(kp.body_pos)
    dog_hips_rel = hip_positions(ch, zero_root, rest)
    root = s * kp.hips.mean(axis=1) - dog_hips_rel.mean(axis=1)
    root[:, 1] = s * (kp.hips[..., 1].mean(axis=1) - ground.mean()) - dog_hips_rel[..., 1].mean(1)
    hips = root[:, None] + dog_hips_rel
    paws = hips + s * (kp.toes - kp.hips)
    paws[..., 1] = np.maximum(s * (kp.toes[..., 1] - ground), 0.0)
    offset = root[-1] - root[0]
    offset[1] = 0.0
    planted = plant_contacts(paws[:n], contacts, loop=True, cycle_offset=offset)
    planted = lift_swings(planted, contacts, SWING_LIFT, loop=True)
    paws = np.concatenate([planted, planted[:1] + offset])
    contacts = np.concatenate([contacts, contacts[:1]])
    return PawMotion(dt=kp.dt, root_pos=root, root_rot=kp.body_rot, paws=paws, contacts=contacts)


def paw_solver(ch: Character) -> IKSolver:
    """The 16 leg joints driving the 4 paw soles (position) and paws (orientation)."""
    paws = [chain[-1] for chain in LEG_JOINTS]
    points = [(p, SOLE[p.split("_", 1)[1]]) for p in paws]
    return IKSolver(
        ch, [j for chain in LEG_JOINTS for j in chain], points, orient=paws, orient_weights=0.05, posture_weight=0.3
    )


def solve_dog(ch: Character, motion: PawMotion, solver: IKSolver | None = None):
    """(root_pos [N, 3], local_rot [N, J, 4], IKResult) of the dog following ``motion``."""
    solver = solver or paw_solver(ch)
    rot = body_pose(ch, motion.root_rot)
    rot[:, 0] = motion.root_rot
    flat = _yaw_rot(R.heading_angle(motion.root_rot))
    paw_rot = np.broadcast_to(flat[:, None], (len(flat), 4, 4))
    res = solver.solve_sequence(motion.root_pos, rot, motion.paws, paw_rot, rest_rot=rot.copy())
    return res.root_pos, res.local_rot, res
