#!/usr/bin/env python3
"""Generate characters/humanoid.urdf and characters/dog.urdf from DeepMimic's published figures.

The figures (joint tree, attachment offsets, body shapes, sizes, masses, torque and revolute limits)
are those of DeepMimic's humanoid3d and dog3d character files, as tabulated in the project's
specification (shared/docs/deepmimic-spec.md section 2). The URDFs are *made by this script*; no
DeepMimic file is copied. Run it again after changing a table:

    python characters/build_characters.py

Conventions of the generated files (what mimic.kinematics.character and mimic.sim rely on):

* metres, y-up, character facing +x, +z to its right (DeepMimic's frame); load with no scaling;
* a massless-in-practice ``base`` link (1e-4 kg) joined to ``root`` by a fixed joint, so that
  pybullet link index j is DeepMimic joint/body ID j (load with URDF_MAINTAIN_LINK_ORDER);
* every joint origin is the DeepMimic attachment point with no rotation, so a link frame is its
  joint frame; revolute joints turn about local z;
* each link's inertial frame sits at the body centre with no rotation, and carries the inertia
  that Bullet computes from the collision shape (spheres: 0.4 m r^2; boxes: m/12 (b^2 + c^2);
  capsules: the box bounding the capsule, grown by Bullet's 1 mm collision margin on each side)
  -- the figures pybullet itself derives from these shapes and that spec section 2.1 lists as
  matching DeepMimic's C++ (checked link by link in tests/test_character.py);
* joint ``effort`` is DeepMimic's TorqueLim; revolute ``lower``/``upper`` are its limits.
"""

import math
import os
import xml.etree.ElementTree as ET

import numpy as np
from scipy.spatial.transform import Rotation

HERE = os.path.dirname(os.path.abspath(__file__))

# (name, type, parent, attach xyz, torque limit, revolute (lower, upper) or None)
HUMANOID_JOINTS = [
    ("root", "none", None, (0, 0, 0), 0, None),
    ("chest", "spherical", "root", (0, 0.236151, 0), 200, None),
    ("neck", "spherical", "chest", (0, 0.223894, 0), 50, None),
    ("right_hip", "spherical", "root", (0, 0, 0.084887), 200, None),
    ("right_knee", "revolute", "right_hip", (0, -0.421546, 0), 150, (-3.14, 0.0)),
    ("right_ankle", "spherical", "right_knee", (0, -0.40987, 0), 90, None),
    ("right_shoulder", "spherical", "chest", (-0.02405, 0.2435, 0.18311), 100, None),
    ("right_elbow", "revolute", "right_shoulder", (0, -0.274788, 0), 60, (0.0, 3.14)),
    ("right_wrist", "fixed", "right_elbow", (0, -0.258947, 0), 0, None),
    ("left_hip", "spherical", "root", (0, 0, -0.084887), 200, None),
    ("left_knee", "revolute", "left_hip", (0, -0.421546, 0), 150, (-3.14, 0.0)),
    ("left_ankle", "spherical", "left_knee", (0, -0.40987, 0), 90, None),
    ("left_shoulder", "spherical", "chest", (-0.02405, 0.2435, -0.18311), 100, None),
    ("left_elbow", "revolute", "left_shoulder", (0, -0.274788, 0), 60, (0.0, 3.14)),
    ("left_wrist", "fixed", "left_elbow", (0, -0.258947, 0), 0, None),
]
# (shape, size, centre offset from the joint, mass, rotation of the shape about z in rad)
# sphere size = (diameter,); capsule = (diameter, cylinder length along local y); box = extents.
HUMANOID_BODIES = [
    ("sphere", (0.18,), (0, 0.07, 0), 6.0, 0),
    ("sphere", (0.22,), (0, 0.12, 0), 14.0, 0),
    ("sphere", (0.205,), (0, 0.175, 0), 2.0, 0),
    ("capsule", (0.11, 0.30), (0, -0.21, 0), 4.5, 0),
    ("capsule", (0.10, 0.31), (0, -0.20, 0), 3.0, 0),
    ("box", (0.177, 0.055, 0.09), (0.045, -0.0225, 0), 1.0, 0),
    ("capsule", (0.09, 0.18), (0, -0.14, 0), 1.5, 0),
    ("capsule", (0.08, 0.135), (0, -0.12, 0), 1.0, 0),
    ("sphere", (0.08,), (0, 0, 0), 0.5, 0),
    ("capsule", (0.11, 0.30), (0, -0.21, 0), 4.5, 0),
    ("capsule", (0.10, 0.31), (0, -0.20, 0), 3.0, 0),
    ("box", (0.177, 0.055, 0.09), (0.045, -0.0225, 0), 1.0, 0),
    ("capsule", (0.09, 0.18), (0, -0.14, 0), 1.5, 0),
    ("capsule", (0.08, 0.135), (0, -0.12, 0), 1.0, 0),
    ("sphere", (0.08,), (0, 0, 0), 0.5, 0),
]

_SH_L, _SH_R = (0.304074, -0.109983, -0.106071), (0.304074, -0.109983, 0.106071)
_UL_L, _UL_R = (-0.074803, -0.095825, -0.05986), (-0.074803, -0.095825, 0.05986)
DOG_JOINTS = [
    ("root", "none", None, (0, 0, 0), 0, None),
    ("spine0", "spherical", "root", (0, 0, 0), 200, None),
    ("spine1", "spherical", "spine0", (0.2375, 0, 0), 200, None),
    ("neck", "spherical", "spine1", (0.28135, 0, 0), 80, None),
    ("head", "spherical", "neck", (0.175, 0, 0), 50, None),
    ("left_shoulder", "spherical", "spine1", _SH_L, 150, None),
    ("left_forearm", "revolute", "left_shoulder", (0, -0.19, 0), 100, (0.0, 3.14)),
    ("left_hand", "spherical", "left_forearm", (0, -0.2225, 0), 80, None),
    ("left_finger", "spherical", "left_hand", (0, -0.09, 0), 50, None),
    ("right_shoulder", "spherical", "spine1", _SH_R, 150, None),
    ("right_forearm", "revolute", "right_shoulder", (0, -0.19, 0), 100, (0.0, 3.14)),
    ("right_hand", "spherical", "right_forearm", (0, -0.2225, 0), 80, None),
    ("right_finger", "spherical", "right_hand", (0, -0.09, 0), 50, None),
    ("left_upper_leg", "spherical", "root", _UL_L, 200, None),
    ("left_leg", "revolute", "left_upper_leg", (0, -0.2, 0), 150, (-3.14, 0.0)),
    ("left_foot", "spherical", "left_leg", (0, -0.225, 0), 100, None),
    ("left_toe", "spherical", "left_foot", (0, -0.135, 0), 50, None),
    ("right_upper_leg", "spherical", "root", _UL_R, 200, None),
    ("right_leg", "revolute", "right_upper_leg", (0, -0.2, 0), 150, (-3.14, 0.0)),
    ("right_foot", "spherical", "right_leg", (0, -0.225, 0), 100, None),
    ("right_toe", "spherical", "right_foot", (0, -0.135, 0), 50, None),
    ("tail0", "spherical", "root", (-0.086, 0, 0), 50, None),
    ("tail1", "spherical", "tail0", (-0.2, 0, 0), 25, None),
]
_LIMB_F = [
    ("capsule", (0.08, 0.12), (0, -0.05, 0), 1.5, 0),
    ("capsule", (0.06, 0.21), (0, -0.08, 0), 1.0, 0),
    ("box", (0.04, 0.08, 0.05), (0, -0.04, 0), 0.5, 0),
    ("box", (0.08, 0.04, 0.05), (0.012, -0.02, 0), 0.5, 0),
]
_LIMB_H = [
    ("capsule", (0.09, 0.2), (0, -0.055, 0), 1.5, 0),
    ("capsule", (0.06, 0.11), (0, -0.1, 0), 1.0, 0),
    ("box", (0.05, 0.2, 0.05), (0, -0.03, 0), 0.5, 0),
    ("box", (0.09, 0.04, 0.05), (0.015, -0.02, 0), 0.5, 0),
]
DOG_BODIES = (
    [
        ("sphere", (0.12,), (0, -0.02, 0), 2.0, 0),
        ("sphere", (0.16,), (0.17, -0.025, 0), 3.0, 0),
        ("sphere", (0.22,), (0.17, -0.04, 0), 7.0, 0),
        ("capsule", (0.07, 0.08), (0.075, 0, 0), 1.0, -math.pi / 2),
        ("box", (0.12, 0.19, 0.10), (0.08, -0.04, 0), 1.5, 0),
    ]
    + _LIMB_F
    + _LIMB_F
    + _LIMB_H
    + _LIMB_H
    + [
        ("capsule", (0.05, 0.14), (-0.1, 0, 0), 0.5, math.pi / 2),
        ("capsule", (0.04, 0.17), (-0.11, 0, 0), 0.25, math.pi / 2),
    ]
)

COLOR = "0.4706 0.549 0.6863 1"
MARGIN = 0.001  # Bullet's collision margin for URDF shapes, in metres
FRICTION = 0.9  # DeepMimic cSimCharacter / cGround


def bullet_inertia(shape, size, mass, rot_z):
    """Principal inertia Bullet computes for the shape, expressed in the (unrotated) link frame."""
    if shape == "sphere":
        r = size[0] / 2
        d = np.full(3, 0.4 * mass * r * r)
    else:
        if shape == "box":
            ext = np.array(size, dtype=float)
        else:  # capsule along y: Bullet uses the box that bounds it, plus its collision margin
            ext = np.array([size[0], size[1] + size[0], size[0]], dtype=float) + 2 * MARGIN
        ext2 = ext**2
        d = mass / 12.0 * np.array([ext2[1] + ext2[2], ext2[0] + ext2[2], ext2[0] + ext2[1]])
    rot = Rotation.from_euler("z", rot_z).as_matrix()
    return rot @ np.diag(d) @ rot.T


def shape_origin_rpy(shape, rot_z):
    """URDF capsules/cylinders run along local z; DeepMimic's run along local y."""
    r = Rotation.from_euler("z", rot_z)
    if shape == "capsule":
        r = r * Rotation.from_euler("x", math.pi / 2)
    return r.as_euler("xyz")


def fmt(v):
    return " ".join("%.9g" % (0.0 if abs(x) < 1e-15 else x) for x in v)


def geometry(parent, shape, size):
    g = ET.SubElement(parent, "geometry")
    if shape == "sphere":
        ET.SubElement(g, "sphere", radius="%.9g" % (size[0] / 2))
    elif shape == "box":
        ET.SubElement(g, "box", size=fmt(size))
    else:
        ET.SubElement(g, "capsule", radius="%.9g" % (size[0] / 2), length="%.9g" % size[1])


def build_urdf(name, joints, bodies):
    robot = ET.Element("robot", name=name)
    ET.SubElement(robot, "material", name="body").append(ET.Element("color", rgba=COLOR))
    base = ET.SubElement(robot, "link", name="base")
    inertial = ET.SubElement(base, "inertial")
    ET.SubElement(inertial, "origin", xyz="0 0 0", rpy="0 0 0")
    ET.SubElement(inertial, "mass", value="0.0001")
    ET.SubElement(inertial, "inertia", ixx="1e-8", ixy="0", ixz="0", iyy="1e-8", iyz="0", izz="1e-8")
    for (jname, jtype, parent, attach, tlim, lim), (shape, size, off, mass, rot_z) in zip(joints, bodies):
        link = ET.SubElement(robot, "link", name=jname)
        contact = ET.SubElement(link, "contact")
        ET.SubElement(contact, "lateral_friction", value="%g" % FRICTION)
        inertial = ET.SubElement(link, "inertial")
        ET.SubElement(inertial, "origin", xyz=fmt(off), rpy="0 0 0")
        ET.SubElement(inertial, "mass", value="%g" % mass)
        i = bullet_inertia(shape, size, mass, rot_z)
        ET.SubElement(
            inertial,
            "inertia",
            ixx="%.9g" % i[0, 0],
            ixy="%.9g" % i[0, 1],
            ixz="%.9g" % i[0, 2],
            iyy="%.9g" % i[1, 1],
            iyz="%.9g" % i[1, 2],
            izz="%.9g" % i[2, 2],
        )
        rpy = fmt(shape_origin_rpy(shape, rot_z))
        for tag in ("visual", "collision"):
            el = ET.SubElement(link, tag)
            ET.SubElement(el, "origin", xyz=fmt(off), rpy=rpy)
            geometry(el, shape, size)
            if tag == "visual":
                ET.SubElement(el, "material", name="body")
        if jtype == "none":  # the free root hangs off the dummy base by a fixed joint
            j = ET.SubElement(robot, "joint", name=jname, type="fixed")
            ET.SubElement(j, "parent", link="base")
        else:
            j = ET.SubElement(robot, "joint", name=jname, type=jtype)
            ET.SubElement(j, "parent", link=parent)
        ET.SubElement(j, "child", link=jname)
        ET.SubElement(j, "origin", xyz=fmt(attach), rpy="0 0 0")
        if jtype == "revolute":
            ET.SubElement(j, "axis", xyz="0 0 1")
            ET.SubElement(j, "limit", lower="%g" % lim[0], upper="%g" % lim[1], effort="%g" % tlim, velocity="100")
        elif jtype == "spherical":  # the axis is unused; stated to keep urdfdom quiet
            ET.SubElement(j, "axis", xyz="0 0 1")
            ET.SubElement(j, "limit", effort="%g" % tlim, velocity="100")
    ET.indent(robot)
    header = (
        '<?xml version="1.0"?>\n<!-- Generated by characters/build_characters.py from '
        "DeepMimic's published %s figures\n     (metres, y-up, +x forward). Do not edit by "
        "hand: change the tables and re-run. -->\n" % name
    )
    return header + ET.tostring(robot, encoding="unicode") + "\n"


def main():
    for fname, name, joints, bodies in (
        ("humanoid.urdf", "humanoid3d", HUMANOID_JOINTS, HUMANOID_BODIES),
        ("dog.urdf", "dog3d", DOG_JOINTS, DOG_BODIES),
    ):
        assert len(joints) == len(bodies)
        path = os.path.join(HERE, fname)
        with open(path, "w") as f:
            f.write(build_urdf(name, joints, bodies))
        print("wrote", path, "total mass %.2f kg" % sum(b[3] for b in bodies))


if __name__ == "__main__":
    main()
