"""BVH capture -> a DeepMimic-format clip of a mimic character (rotation transfer).

:func:`import_bvh` runs the whole import; each step is a function of its own:

1. **Read and select.** :func:`mimic.kinematics.bvh.read_bvh`, then the frames between
   ``start`` and ``end`` seconds.
2. **Units and up axis.** The unit (m, cm, inch, mm) is the one that makes the rest skeleton
   about as tall as the character (:func:`~mimic.kinematics.bvh.detect_unit`) unless ``scale``
   (metres per file unit) is given; a z-up file is turned y-up.
3. **Source pose.** Forward kinematics of the source skeleton: world rotations and positions of
   every joint (:func:`source_world`).
4. **Rest alignment.** Per character joint, the rotation that turns the character's rest bones
   onto the mapped source bones in the source's rest pose (``retarget.rest_alignment``): the
   pelvis and chest from three bones each, limbs from one; feet from their horizontal direction
   only, so a foot that is flat in both rest poses stays flat. This absorbs T-pose vs A-pose vs
   arms-down and the facing direction of the file.
5. **Rotation transfer.** Each character joint takes its source joint's world rotation times
   its alignment; hinges (knees, elbows) keep the part about their axis, clamped to their
   limits, and the ball joint below takes the rest (``retarget.transfer_rotations``).
6. **Root path.** The character's pelvis follows the source's hip joints, scaled by the ratio
   of leg lengths (character / source), so steps keep their length relative to the legs.
7. **Ground.** In frames where the source stands on its lowest level (a foot within
   ``GROUND_BAND`` of it), the character is raised or lowered so its lowest collision shape
   touches y = 0; in between (swing, flight) the offset is interpolated, and no frame is left
   below the ground.
8. **Resample and loop.** Resampled to ``fps``; for ``loop='wrap'`` the mismatch between the
   last and the first frame (all but the root's horizontal drift) is spread linearly over the
   clip so the last frame is frame 0 moved by the cycle drift, as the environment expects.
9. **Foot planting** (``plant``, on by default; None: off). Stances are found on the clip
   (each foot low and slow, with hysteresis and a minimum length: the named thresholds of
   ``retarget.StanceParams``), each foot is held still at its stance's mean position
   and eased back onto the capture's path in the swings around it, and the hips, knees and
   ankles are re-solved with the IK of ``retarget.plant_feet`` (hinges inside their limits);
   the root and the upper body are unchanged. Without it, captured feet slide 5-30 cm per
   stance (``bench/results/bvh_import/README.md``).

The world is turned about +y so the source's rest pose faces +x (mimic's forward): a performer
walking the way the rest pose faces walks along +x.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mimic.kinematics import rotations as R
from mimic.kinematics.bvh import BVH, UNITS, detect_unit, read_bvh
from mimic.kinematics.character import REVOLUTE, Character
from mimic.kinematics.clip import pose_frames
from mimic.kinematics.fk import forward_kinematics, shape_bottoms
from mimic.kinematics.joint_map import ResolvedMap, choose_joint_map
from mimic.kinematics.retarget import (
    StanceParams,
    contact_runs,
    hinge_angles,
    plant_feet,
    rest_alignment,
    transfer_rotations,
)

GROUND_BAND = 0.04  # m (character scale): a source foot this close to its lowest level stands


@dataclass
class ImportResult:
    frames: list  # DeepMimic layout rows
    loop: bool
    info: dict = field(default_factory=dict)


# ==================================================================================== source
def select_frames(bvh: BVH, start=None, end=None) -> slice:
    """Frames from ``start`` to ``end`` seconds (both optional, nearest frames); ValueError
    unless 0 <= start < end <= the capture's length."""
    n, dt = bvh.num_frames, bvh.frame_time
    duration = (n - 1) * dt
    t0 = 0.0 if start is None else float(start)
    t1 = duration if end is None else float(end)
    a, b = int(round(t0 / dt)), int(round(t1 / dt))
    if not (0 <= a < b <= n - 1):
        raise ValueError(
            f"{bvh.path}: --start {t0:g} / --end {t1:g} s must satisfy 0 <= start "
            f"< end <= {duration:.3f} s (the capture: {n} frames at "
            f"{1 / dt:.1f} Hz) and span at least one frame"
        )
    return slice(a, b + 1)


def source_world(bvh: BVH, frames: slice, up: str = "y", joints=None):
    """World positions [F, J, 3] (file units) and rotations [F, J, 4] of the source joints
    (``joints`` and their ancestors if given, else all; the others stay zero), in y-up axes,
    plus rest positions by name (y-up)."""
    needed = bvh.with_ancestors(range(bvh.num_joints) if joints is None else joints)
    rot = bvh.local_rotations(frames, needed)
    trans = bvh.local_translations(frames)
    F, J = rot.shape[:2]
    wpos, wrot = np.zeros((F, J, 3)), np.zeros((F, J, 4))
    for j in needed:
        p = bvh.parents[j]
        if p < 0:
            wpos[:, j], wrot[:, j] = trans[:, j], rot[:, j]
        else:
            wpos[:, j] = wpos[:, p] + R.quat_rotate(wrot[:, p], trans[:, j])
            wrot[:, j] = R.quat_mul(wrot[:, p], rot[:, j])
    rest = bvh.rest_positions()
    if up == "z":
        wpos, wrot = R.zup_to_yup_vec(wpos), R.zup_to_yup_quat(wrot)
        rest = {k: R.zup_to_yup_vec(v) for k, v in rest.items()}
    elif up != "y":
        raise ValueError(f"up axis must be 'y' or 'z', not {up!r}")
    return wpos, wrot, rest


def character_height(ch: Character) -> float:
    J = ch.num_joints
    rot = np.zeros((J, 4))
    rot[:, 3] = 1.0
    fk = forward_kinematics(ch, np.zeros(3), rot)
    top = max(fk["joint_pos"][:, 1].max(), fk["com_pos"][:, 1].max())
    return float(top - shape_bottoms(ch, fk["joint_pos"], fk["joint_rot"]).min())


# ==================================================================================== skeleton
def _mapped_children(ch: Character, m: ResolvedMap, j: int) -> list:
    return [c for c in range(ch.num_joints) if ch.parents[c] == j and c in m.source]


def bone_vectors(ch: Character, m: ResolvedMap, rest: dict, bvh: BVH):
    """Per character joint, its rest bone vectors and the source's (see rest_alignment)."""
    src = {j: rest[bvh.names[s]] for j, s in m.source.items()}
    char_v, src_v = [], []
    for j in range(ch.num_joints):
        kids = _mapped_children(ch, m, j) if j in m.source else []
        a = [ch.attach[c] for c in kids]
        b = [src[c] - src[j] for c in kids]
        if not kids and j in m.ends:
            a, b = [ch.com_offset[j]], [rest[m.ends[j]] - src[j]]
        if j in ch.feet:  # a foot: its heading only (flat in both rest poses)
            a = [v * [1, 0, 1] for v in a]
            b = [v * [1, 0, 1] for v in b]
        char_v.append(np.array(a).reshape(-1, 3))
        src_v.append(np.array(b).reshape(-1, 3))
    return char_v, src_v


def leg_roots(ch: Character) -> list:
    """The root's children on the way to the feet (the humanoid's hips)."""
    out = []
    for f in ch.feet:
        j = f
        while ch.parents[j] > 0:
            j = ch.parents[j]
        if ch.parents[j] == 0 and j not in out:
            out.append(j)
    return out


def leg_length_ratio(ch: Character, m: ResolvedMap, rest: dict, bvh: BVH, unit: float) -> float:
    """Mean over feet of (character leg length) / (source leg length in metres), a leg being
    the chain from below the leg root (hip) to the foot joint."""
    ratios = []
    for f in ch.feet:
        chain, j = [], f
        while ch.parents[j] > 0:
            chain.append(j)
            j = ch.parents[j]
        lc = sum(np.linalg.norm(ch.attach[c]) for c in chain)
        ls = sum(np.linalg.norm(rest[bvh.names[m.source[c]]] - rest[bvh.names[m.source[ch.parents[c]]]]) for c in chain)
        if ls > 0:
            ratios.append(lc / (ls * unit))
    if not ratios:
        raise ValueError(f"{ch.name}: no feet with mapped legs to scale the root path by")
    return float(np.mean(ratios))


# ==================================================================================== motion
def ground(ch: Character, root_pos, local_rot, foot_heights):
    """Root positions moved vertically so the character stands on y = 0 (module step 7).
    ``foot_heights`` [N]: the source's lowest foot point per frame (character scale)."""
    fk = forward_kinematics(ch, root_pos, local_rot)
    low = shape_bottoms(ch, fk["joint_pos"], fk["joint_rot"]).min(axis=-1)
    base = np.percentile(foot_heights, 5)
    standing = np.flatnonzero(foot_heights < base + GROUND_BAND)
    n = len(low)
    offset = np.interp(np.arange(n), standing, -low[standing]) if len(standing) else np.full(n, -low.min())
    offset = np.maximum(offset, -low)
    out = np.array(root_pos)
    out[:, 1] += offset
    return out


def resample(root_pos, local_rot, dt_src: float, fps: float):
    """Poses at a uniform rate close to ``fps`` spanning the same time; returns (root_pos,
    local_rot, dt). The last frame stays at the last source time."""
    n = len(root_pos)
    T = (n - 1) * dt_src
    m = max(1, int(round(T * fps)))
    t = np.linspace(0.0, T, m + 1) / dt_src
    i = np.minimum(np.floor(t).astype(int), n - 2)
    b = t - i
    root = (1 - b)[:, None] * root_pos[i] + b[:, None] * root_pos[i + 1]
    rot = R.quat_slerp(local_rot[i], local_rot[i + 1], b[:, None])
    return root, rot, T / m


def close_loop(ch: Character, root_pos, local_rot):
    """Spread the last-vs-first mismatch (rotations, root height) linearly over the clip so the
    last frame is frame 0 moved by the horizontal drift."""
    n = len(root_pos)
    s = np.linspace(0.0, 1.0, n)
    root = np.array(root_pos)
    root[:, 1] += s * (root[0, 1] - root[-1, 1])
    rot = np.array(local_rot)
    d_root = R.quat_mul(rot[0, 0], R.quat_conj(rot[-1, 0]))  # world frame
    d_joint = R.quat_mul(R.quat_conj(rot[-1, 1:]), rot[0, 1:])  # local frames
    ident = np.array([0.0, 0.0, 0.0, 1.0])
    rot[:, 0] = R.quat_mul(R.quat_slerp(ident, d_root, s), rot[:, 0])
    part = R.quat_slerp(np.broadcast_to(ident, d_joint.shape), d_joint, s[:, None])
    rot[:, 1:] = R.quat_mul(rot[:, 1:], part)
    return root, rot


def lift_out_of_ground(ch: Character, root_pos, local_rot):
    fk = forward_kinematics(ch, root_pos, local_rot)
    low = shape_bottoms(ch, fk["joint_pos"], fk["joint_rot"]).min(axis=-1)
    out = np.array(root_pos)
    out[:, 1] += np.maximum(0.0, -low)
    return out


# ==================================================================================== import
def retarget_bvh(bvh: BVH, ch: Character, m: ResolvedMap, frames: slice, up="y", scale=None):
    """(root_pos [F, 3], local_rot [F, J, 4], info) of the character following the capture at
    the file's frame rate (module steps 2-7)."""
    ends = [bvh.names.index(e) for e in m.ends.values() if e in bvh.names]
    wpos, wrot, rest = source_world(bvh, frames, up, list(m.source.values()) + ends)
    height = float(np.ptp(np.array(list(rest.values()))[:, 1]))
    unit_name = "given" if scale else detect_unit(height, character_height(ch))
    unit = float(scale) if scale else UNITS[unit_name]
    # turn the source about +y so its rest pelvis faces the character's way (+x): limb
    # alignments are then near the identity and hinge axes line up
    char_v, src_v = bone_vectors(ch, m, rest, bvh)
    yaw = R.heading_removal_quat(rest_alignment(char_v[:1], src_v[:1])[0])
    wpos, rest = R.quat_rotate(yaw, wpos), {k: R.quat_rotate(yaw, v) for k, v in rest.items()}
    wrot = R.quat_mul(R.quat_mul(np.broadcast_to(yaw, wrot.shape), wrot), R.quat_conj(yaw))
    char_v, src_v = bone_vectors(ch, m, rest, bvh)
    align = rest_alignment(char_v, src_v)
    target = np.zeros((len(wrot), ch.num_joints, 4))
    target[..., 3] = 1.0
    for j, s in m.source.items():
        target[:, j] = R.quat_mul(wrot[:, s], align[j])
    local, raw = transfer_rotations(ch, target)
    ratio = leg_length_ratio(ch, m, rest, bvh, unit)
    legs = leg_roots(ch)
    hips = np.mean([wpos[:, m.source[j]] for j in legs], axis=0) * unit * ratio
    attach = np.mean([ch.attach[j] for j in legs], axis=0)
    root = hips - R.quat_rotate(local[:, 0], attach)
    feet = [m.source[f] for f in ch.feet] + [bvh.names.index(e) for f in ch.feet if (e := m.ends.get(f)) in bvh.names]
    foot_h = wpos[:, feet, 1].min(axis=1) * unit * ratio
    root = ground(ch, root, local, foot_h)
    over = [
        max(0.0, float(np.max(np.maximum(lim[0] - raw[:, j], raw[:, j] - lim[1]))))
        for j, lim in enumerate(ch.joint_limits)
        if ch.joint_types[j] == REVOLUTE and lim
    ]
    info = dict(
        unit=unit_name,
        metres_per_unit=unit,
        source_height_m=height * unit,
        leg_ratio=ratio,
        hinge_clamped_rad=max(over, default=0.0),
    )
    return root, local, info


DEFAULT_PLANT = StanceParams()  # import_bvh's default planting (a frozen value, shared)


def import_bvh(
    path,
    character: Character,
    start=None,
    end=None,
    fps=30.0,
    loop="wrap",
    scale=None,
    up="y",
    joint_map=None,
    progress=None,
    plant: StanceParams | None = DEFAULT_PLANT,
) -> ImportResult:
    """Read a BVH file and retarget it onto ``character`` (the module's steps). Raises
    BVHError, JointMapError or ValueError with a one-line message, before any output."""
    if loop not in ("wrap", "none"):
        raise ValueError(f"loop must be 'wrap' or 'none', not {loop!r}")
    if not fps > 0 or (scale is not None and not scale > 0):
        raise ValueError("--fps and --scale must be positive")
    bvh = read_bvh(path, progress=progress)
    m = choose_joint_map(bvh, character, joint_map)
    frames = select_frames(bvh, start, end)
    root, local, info = retarget_bvh(bvh, character, m, frames, up, scale)
    root, local, dt = resample(root, local, bvh.frame_time, fps)
    if loop == "wrap":
        root, local = close_loop(character, root, local)
    if plant is not None:
        planted = plant_feet(character, root, local, dt, loop == "wrap", plant)
        local = planted.local_rot
        period = planted.contacts[:-1] if loop == "wrap" else planted.contacts
        info.update(
            planted_stances=sum(len(contact_runs(c, loop=loop == "wrap")) for c in period.T),
            plant_error=planted.stance_error,
        )
    root = lift_out_of_ground(character, root, local)
    dts = np.full(len(root), dt)
    frames_out = pose_frames(character, dts, root, local, hinge_angles(local, character))
    info.update(
        joint_map=m.map.name,
        source_frames=frames.stop - frames.start,
        source_fps=bvh.frame_rate,
        frames=len(frames_out),
        fps=1.0 / dt,
    )
    return ImportResult(frames_out, loop == "wrap", info)
