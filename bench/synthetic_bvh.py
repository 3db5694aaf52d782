"""A synthetic motion capture: a humanoid clip written as a CMU-style BVH of another skeleton.

    python bench/synthetic_bvh.py --motion humanoid3d_walk --out walk_cmu.bvh [--minutes 10
        --rate 120] [--scale 1.15] [--up y|z]

The skeleton is CMU-named (Hips, Spine, Spine1, Neck, Head, LeftShoulder = collarbone, LeftArm,
LeftForeArm, LeftHand, LeftUpLeg, LeftLeg, LeftFoot, LeftToeBase, ...), in centimetres,
``scale`` times the humanoid's proportions, in a **T-pose** (arms out sideways), facing +z with
the left side at +x, y-up (or z-up), with joints the humanoid lacks (Spine, the collarbones,
the toes) and a Hips joint 5 cm above the hip joints. Each mapped joint's world rotation is the
humanoid's times the inverse of the rotation that turns the humanoid's rest bone onto the T-pose
bone (written out here by hand: 90 degrees about the forward axis for the arms, none elsewhere),
so every bone of the capture points where the humanoid's bone points. Importing the file must
give back the clip's joint rotations; the benchmark uses a long one (the clip repeated).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mimic.kinematics.bvh import BVH, write_bvh  # noqa: E402
from mimic.kinematics.character import load_character  # noqa: E402
from mimic.kinematics.clip import load_clip  # noqa: E402
from mimic.paths import resolve_motion  # noqa: E402

HIP_DROP = 0.05  # m: the hip joints sit this far below the Hips joint
# (name, parent, humanoid joint it takes its rotation from or None, rest offset in the humanoid's
# frame: y up, +x forward, +z right; 'T' marks the T-pose arm bones)
_T = np.array([0.0, 0.0, 1.0])


def skeleton(ch):
    a = {n: ch.attach[ch.index(n)] for n in ch.joint_names}
    sh_r, sh_l = a["right_shoulder"], a["left_shoulder"]
    return [
        ("Hips", None, "root", np.zeros(3)),
        ("Spine", "Hips", None, np.array([0.0, 0.09, 0.0])),
        ("Spine1", "Spine", "chest", np.array([0.0, a["chest"][1] - HIP_DROP - 0.09, 0.0])),
        ("Neck", "Spine1", "neck", a["neck"]),
        ("Head", "Neck", None, np.array([0.0, 0.12, 0.0])),
        ("RightShoulder", "Spine1", None, np.array([0.0, sh_r[1] - 0.03, 0.03])),
        ("RightArm", "RightShoulder", "right_shoulder", sh_r - [0.0, sh_r[1] - 0.03, 0.03]),
        ("RightForeArm", "RightArm", "right_elbow", np.linalg.norm(a["right_elbow"]) * _T),
        ("RightHand", "RightForeArm", "right_wrist", np.linalg.norm(a["right_wrist"]) * _T),
        ("LeftShoulder", "Spine1", None, np.array([0.0, sh_l[1] - 0.03, -0.03])),
        ("LeftArm", "LeftShoulder", "left_shoulder", sh_l - [0.0, sh_l[1] - 0.03, -0.03]),
        ("LeftForeArm", "LeftArm", "left_elbow", -np.linalg.norm(a["left_elbow"]) * _T),
        ("LeftHand", "LeftForeArm", "left_wrist", -np.linalg.norm(a["left_wrist"]) * _T),
        ("RightUpLeg", "Hips", "right_hip", a["right_hip"] - [0.0, HIP_DROP, 0.0]),
        ("RightLeg", "RightUpLeg", "right_knee", a["right_knee"]),
        ("RightFoot", "RightLeg", "right_ankle", a["right_ankle"]),
        ("RightToeBase", "RightFoot", None, np.array([0.14, -0.06, 0.0])),
        ("LeftUpLeg", "Hips", "left_hip", a["left_hip"] - [0.0, HIP_DROP, 0.0]),
        ("LeftLeg", "LeftUpLeg", "left_knee", a["left_knee"]),
        ("LeftFoot", "LeftLeg", "left_ankle", a["left_ankle"]),
        ("LeftToeBase", "LeftFoot", None, np.array([0.14, -0.06, 0.0])),
    ]


def rest_turn(joint):
    """Rotation turning the humanoid's rest bone of ``joint`` onto the T-pose bone (humanoid
    frame): the arms point down in the humanoid and sideways in the T-pose."""
    if joint in ("right_shoulder", "right_elbow", "right_wrist"):
        return Rotation.from_rotvec([-np.pi / 2, 0, 0])  # down (-y) -> right (+z)
    if joint in ("left_shoulder", "left_elbow", "left_wrist"):
        return Rotation.from_rotvec([np.pi / 2, 0, 0])  # down (-y) -> left (-z)
    return Rotation.identity()


def synthetic_capture(motion="humanoid3d_walk", scale=1.15, repeats=1, rate=None, up="y"):
    """A BVH (CMU T-pose skeleton, cm) of ``repeats`` cycles of a humanoid clip at ``rate``."""
    ch = load_character("humanoid")
    clip = load_clip(resolve_motion(motion), ch)
    rate = rate or 1.0 / float(np.mean(clip.dts[:-1]))
    t = np.arange(int(round(repeats * clip.duration * rate)) + 1) / rate
    root_pos, local_rot = clip.pose_at(t)
    from mimic.kinematics.fk import forward_kinematics

    world = forward_kinematics(ch, root_pos, local_rot)["joint_rot"]  # [F, J, 4]
    joints = skeleton(ch)
    names = [j[0] for j in joints]
    # humanoid frame -> file frame: facing +z, left at +x (a turn of -90 degrees about y),
    # then z-up if asked (y -> z)
    to_file = Rotation.from_rotvec([0, -np.pi / 2, 0])
    if up == "z":
        to_file = Rotation.from_rotvec([np.pi / 2, 0, 0]) * to_file
    F = len(t)
    wrot = []
    for _name, parent, src, _ in joints:
        if src is None:  # follows its parent: local identity
            wrot.append(wrot[names.index(parent)])
        else:
            g = Rotation.from_quat(world[:, ch.index(src)]) * rest_turn(src).inv()
            wrot.append(to_file * g * to_file.inv())
    motion_cols = []
    hips = (root_pos + Rotation.from_quat(local_rot[:, 0]).apply([0.0, HIP_DROP, 0.0])) * scale
    motion_cols.append(to_file.apply(hips) * 100.0)
    for k, (_name, parent, _, _) in enumerate(joints):
        local = wrot[k] if parent is None else wrot[names.index(parent)].inv() * wrot[k]
        motion_cols.append(local.as_euler("ZXY", degrees=True))
    offsets = np.array([to_file.apply(o) * scale * 100.0 for *_, o in joints])
    parents = np.array([names.index(p) if p else -1 for _, p, _, _ in joints])
    channels = [
        ["Xposition", "Yposition", "Zposition"] * (p is None) + ["Zrotation", "Xrotation", "Yrotation"]
        for _, p, _, _ in joints
    ]
    ends = [
        (names.index(n), to_file.apply(v) * scale * 100.0)
        for n, v in (
            ("Head", [0, 0.1, 0]),
            ("RightHand", 0.1 * _T),
            ("LeftHand", -0.1 * _T),
            ("RightToeBase", [0.05, 0, 0]),
            ("LeftToeBase", [0.05, 0, 0]),
        )
    ]
    return BVH(
        path=None,
        names=names,
        parents=parents,
        offsets=offsets,
        channels=channels,
        end_sites=ends,
        frame_time=1.0 / rate,
        motion=np.concatenate(motion_cols, axis=1).reshape(F, -1),
    )


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--motion", default="humanoid3d_walk")
    p.add_argument("--out", required=True)
    p.add_argument("--minutes", type=float, default=None, help="repeat the clip this long")
    p.add_argument("--rate", type=float, default=None, help="frame rate (default: the clip's)")
    p.add_argument("--scale", type=float, default=1.15)
    p.add_argument("--up", choices=("y", "z"), default="y")
    a = p.parse_args(argv)
    ch = load_character("humanoid")
    duration = load_clip(resolve_motion(a.motion), ch).duration
    repeats = max(1, int(round(a.minutes * 60 / duration))) if a.minutes else 1
    bvh = synthetic_capture(a.motion, a.scale, repeats, a.rate, a.up)
    write_bvh(a.out, bvh)
    print(f"{a.out}: {bvh.num_joints} joints, {bvh.num_frames} frames at {1 / bvh.frame_time:.0f} Hz")


if __name__ == "__main__":
    main()
