"""Forward kinematics of a robot URDF with revolute, continuous and fixed joints about any axis
(numpy, batched over frames): link frames in the world from a base pose and joint angles.

This reads *other* robots' motion data (the Laikago clips of motion-imitation, whose URDF ships in
pybullet_data), so it keeps the URDF's own conventions: z-up if the robot is, joint angles as
pybullet's ``resetJointState`` takes them, joints in pybullet's order (depth first, children in
file order). mimic's own characters use :mod:`mimic.kinematics.fk`.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from mimic.kinematics import rotations as R


@dataclass
class UrdfJoint:
    name: str
    child: str
    parent: int  # index of the parent link in UrdfRobot.links (0: the base)
    kind: str  # 'revolute' | 'continuous' | 'fixed'
    origin_pos: np.ndarray  # [3] child frame in the parent frame
    origin_rot: np.ndarray  # [4] xyzw
    axis: np.ndarray  # [3] in the child frame


class UrdfRobot:
    """A URDF's joint tree. ``links[0]`` is the base; joint k moves ``links[k + 1]``."""

    def __init__(self, path):
        self._read(Path(path))

    def _read(self, path):
        self.path = path
        root = ET.parse(path).getroot()
        joints = root.findall("joint")
        children = {j.find("child").get("link") for j in joints}
        bases = [lk.get("name") for lk in root.findall("link") if lk.get("name") not in children]
        if len(bases) != 1:
            raise ValueError(f"{path}: expected one base link, found {bases}")
        origin = root.find(f"link[@name='{bases[0]}']/inertial/origin")
        self.base_com = _xyz(origin.get("xyz") if origin is not None else None)
        by_parent = {}
        for j in joints:
            by_parent.setdefault(j.find("parent").get("link"), []).append(j)
        self.links, self.joints = [bases[0]], []

        def visit(link):
            for j in by_parent.get(link, []):
                kind = j.get("type")
                if kind not in ("revolute", "continuous", "fixed"):
                    raise ValueError(
                        f"{path}: joint {j.get('name')} has type {kind}; only "
                        f"revolute, continuous and fixed joints are supported"
                    )
                o = j.find("origin")
                ax = j.find("axis")
                rpy = _xyz(o.get("rpy") if o is not None else None)
                self.joints.append(
                    UrdfJoint(
                        name=j.get("name"),
                        child=j.find("child").get("link"),
                        parent=self.links.index(link),
                        kind=kind,
                        origin_pos=_xyz(o.get("xyz") if o is not None else None),
                        origin_rot=Rotation.from_euler("xyz", rpy).as_quat(),
                        axis=_xyz(ax.get("xyz") if ax is not None else "1 0 0"),
                    )
                )
                self.links.append(j.find("child").get("link"))
                visit(self.links[-1])

        visit(bases[0])
        self.movable = [k for k, j in enumerate(self.joints) if j.kind != "fixed"]

    def link_index(self, name) -> int:
        try:
            return self.links.index(name)
        except ValueError:
            raise KeyError(f"{self.path}: no link '{name}' (has: {', '.join(self.links)})") from None

    def link_frames(self, base_pos, base_rot, angles, base_at_com=True):
        """World positions [..., L, 3] and rotations [..., L, 4] (xyzw) of every link frame.

        base_pos [..., 3], base_rot [..., 4] (xyzw); angles [..., M], one per movable joint in
        pybullet's order. With ``base_at_com`` the base position is that of the base's inertial
        frame, as pybullet's resetBasePositionAndOrientation takes it."""
        base_pos = np.asarray(base_pos, dtype=np.float64)
        base_rot = np.asarray(base_rot, dtype=np.float64)
        angles = np.asarray(angles, dtype=np.float64)
        if angles.shape[-1] != len(self.movable):
            raise ValueError(
                f"{self.path}: {len(self.movable)} joint angles expected per frame, got {angles.shape[-1]}"
            )
        lead = base_pos.shape[:-1]
        L = len(self.links)
        pos = np.zeros(lead + (L, 3))
        rot = np.zeros(lead + (L, 4))
        rot[..., 0, :] = base_rot
        pos[..., 0, :] = base_pos - (R.quat_rotate(base_rot, self.base_com) if base_at_com else 0)
        col = {k: m for m, k in enumerate(self.movable)}
        for k, j in enumerate(self.joints):
            p = j.parent
            q = R.quat_mul(rot[..., p, :], np.broadcast_to(j.origin_rot, lead + (4,)))
            if k in col:
                q = R.quat_mul(q, R.quat_from_axis_angle(np.broadcast_to(j.axis, lead + (3,)), angles[..., col[k]]))
            pos[..., k + 1, :] = pos[..., p, :] + R.quat_rotate(rot[..., p, :], j.origin_pos)
            rot[..., k + 1, :] = q
        return pos, rot


def _xyz(text):
    return np.array([float(v) for v in (text or "0 0 0").split()])
