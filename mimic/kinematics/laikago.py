"""motion-imitation's Laikago clips: reading them and turning them into quadruped keypoints.

The ``motion-imitation`` package on PyPI (0.0.6, Apache-2.0; Peng et al., "Learning Agile Robotic
Locomotion Skills by Imitating Animals", 2020) carries real dog motion capture retargeted onto the
Laikago robot, in its source distribution under ``motion_imitation/data/motions/``: JSON with
``LoopMode``, ``FrameDuration`` (60 Hz) and ``Frames`` rows of root position (3, z-up world),
root quaternion (x, y, z, w, pybullet's) and 12 joint angles (FR, FL, RR, RL legs, each hip
abduction, hip pitch, knee), exactly as pybullet's ``resetJointState`` takes them on
pybullet_data's ``laikago/laikago_toes_limits.urdf`` (how motion-imitation plays them back).

:func:`laikago_keypoints` runs that URDF's forward kinematics (:mod:`mimic.kinematics.urdf_fk`)
and gives, in mimic's y-up world (+x forward, +z right), the body frame (x forward, y up, z right:
the URDF's own base frame is turned by its rest quaternion), the hips (hip-pitch joints) and toes
of each leg, in mimic's leg order: left front, right front, left hind, right hind.
"""

from __future__ import annotations

import io
import json
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimic.kinematics import rotations as R
from mimic.kinematics.quadruped import QuadrupedKeypoints
from mimic.kinematics.urdf_fk import UrdfRobot

SDIST_MOTIONS = "motion_imitation/data/motions"
LAIKAGO_URDF = "laikago/laikago_toes_limits.urdf"  # inside pybullet_data
# motion-imitation's base rotation of the Laikago at rest (robots/laikago.py: the URDF is y-up)
REST_ROT = np.array([0.5, 0.5, 0.5, 0.5])
LEGS = ("FL", "FR", "RL", "RR")  # mimic order: left/right front, hind


@dataclass
class RobotClip:
    name: str
    dt: float
    loop: bool
    rotation_offset: bool  # motion-imitation's EnableCycleOffsetRotation
    frames: np.ndarray  # [N, 19]


def read_motion_imitation(text: str, name: str) -> RobotClip:
    """Parse one motion-imitation clip file's text; errors name the clip and the frame."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"{name}: not valid JSON ({e.msg} at line {e.lineno})") from None
    for key in ("Frames", "FrameDuration"):
        if key not in data:
            raise ValueError(f"{name}: missing key '{key}' (not a motion-imitation clip)")
    rows = data["Frames"]
    for f, row in enumerate(rows):
        if len(row) != 19:
            raise ValueError(
                f"{name}: frame {f} has {len(row)} values; a Laikago frame has 19 "
                f"(root position 3, root quaternion 4, 12 joint angles)"
            )
    return RobotClip(
        name=name,
        dt=float(data["FrameDuration"]),
        loop=str(data.get("LoopMode", "Wrap")).lower() == "wrap",
        rotation_offset=bool(data.get("EnableCycleOffsetRotation", False)),
        frames=np.array(rows, dtype=np.float64),
    )


def read_sdist_clip(source, stem: str) -> RobotClip:
    """A clip by stem (``dog_trot``) from motion-imitation's sdist (.tar.gz) or an unpacked
    folder (the sdist's root or its ``motions`` folder)."""
    source = Path(source)
    if source.is_file():
        with tarfile.open(source) as tar:
            members = [m for m in tar.getmembers() if m.name.endswith(f"{SDIST_MOTIONS}/{stem}.txt")]
            if not members:
                raise FileNotFoundError(
                    f"{source}: no {SDIST_MOTIONS}/{stem}.txt inside (is this the motion-imitation 0.0.6 sdist?)"
                )
            text = io.TextIOWrapper(tar.extractfile(members[0]), encoding="utf-8").read()
        return read_motion_imitation(text, f"{source}:{members[0].name}")
    for cand in (source / f"{stem}.txt", source / SDIST_MOTIONS / f"{stem}.txt"):
        if cand.is_file():
            return read_motion_imitation(cand.read_text(), str(cand))
    raise FileNotFoundError(f"{source}: no {stem}.txt (give the motion-imitation sdist or its {SDIST_MOTIONS} folder)")


def laikago_urdf() -> Path:
    import pybullet_data  # data only: no physics is imported

    return Path(pybullet_data.getDataPath()) / LAIKAGO_URDF


def laikago_keypoints(clip: RobotClip, robot: UrdfRobot | None = None) -> QuadrupedKeypoints:
    robot = robot or UrdfRobot(laikago_urdf())
    fr = clip.frames
    pos, rot = robot.link_frames(fr[:, :3], fr[:, 3:7], fr[:, 7:])
    hips = pos[:, [robot.link_index(f"{leg}_upper_leg") for leg in LEGS]]
    toes = pos[:, [robot.link_index(f"toe{leg}") for leg in LEGS]]
    body = R.quat_mul(fr[:, 3:7], R.quat_conj(REST_ROT))  # x forward, y left, z up
    return QuadrupedKeypoints(
        dt=clip.dt,
        body_pos=R.zup_to_yup_vec(fr[:, :3]),
        body_rot=R.zup_to_yup_quat(body),
        hips=R.zup_to_yup_vec(hips),
        toes=R.zup_to_yup_vec(toes),
    )


def leg_length(robot: UrdfRobot | None = None) -> float:
    """The Laikago's leg length: hip-pitch joint to toe centre (thigh + shank, 0.504 m)."""
    robot = robot or UrdfRobot(laikago_urdf())
    pos, _ = robot.link_frames(np.zeros(3), REST_ROT, np.zeros(len(robot.movable)), base_at_com=False)
    hip, knee, toe = (pos[robot.link_index(n)] for n in ("FL_upper_leg", "FL_lower_leg", "toeFL"))
    return float(np.linalg.norm(knee - hip) + np.linalg.norm(toe - knee))
