"""A character's skeleton and control metadata, read from its URDF and YAML (no pybullet here).

``characters/<name>.urdf`` gives the joint tree, attachment offsets, body centres, masses, torque
limits and revolute limits; ``characters/<name>.yaml`` gives PD gains, DiffWeights, ball-joint
limits (used for action bounds), end effectors, feet (the bodies that stand on the ground, for
clip checks), fall-contact bodies and per-clip exceptions.
Joint j, body j and pybullet link j are the same thing: DeepMimic's ID j.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from mimic.paths import resolve_character

ROOT, SPHERICAL, REVOLUTE, FIXED = 0, 1, 2, 3
_TYPE_NAMES = {ROOT: "root", SPHERICAL: "spherical", REVOLUTE: "revolute", FIXED: "fixed"}
POSE_SIZE = {ROOT: 7, SPHERICAL: 4, REVOLUTE: 1, FIXED: 0}  # entries in a clip frame's pose
VEL_SIZE = {ROOT: 6, SPHERICAL: 3, REVOLUTE: 1, FIXED: 0}


@dataclass
class Character:
    name: str
    urdf_path: Path
    joint_names: list
    joint_types: np.ndarray  # [J] ROOT / SPHERICAL / REVOLUTE / FIXED
    parents: np.ndarray  # [J] parent joint index, -1 for the root
    attach: np.ndarray  # [J, 3] joint origin in the parent's frame
    com_offset: np.ndarray  # [J, 3] body centre in the joint's frame
    masses: np.ndarray  # [J]
    torque_limits: np.ndarray  # [J]
    kp: np.ndarray  # [J]
    kd: np.ndarray  # [J]
    diff_weights: np.ndarray  # [J] normalised to sum 1 (root included)
    joint_limits: list  # [J] list of (low[3], high[3]) or (low, high) or None
    end_effectors: np.ndarray  # [E] joint indices
    fall_contact: np.ndarray  # [J] bool
    feet: np.ndarray = None  # [F] joint indices of the bodies that carry the weight
    clip_overrides: dict = field(default_factory=dict)
    spawn_height: float = 1.0
    # collision shapes, one row per shape: link index, centre in the link frame [3], rotation of
    # the shape in the link frame [3, 3], radius (sphere/capsule, else 0) and half extents [3]
    # along the shape's axes (box: half sizes; capsule: half cylinder length on z; sphere: 0)
    shape_link: np.ndarray = None
    shape_origin: np.ndarray = None
    shape_rot: np.ndarray = None
    shape_radius: np.ndarray = None
    shape_half: np.ndarray = None

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def total_mass(self) -> float:
        return float(self.masses.sum())

    @property
    def pose_size(self) -> int:
        """Length of a clip frame without its dt (humanoid: 43)."""
        return int(sum(POSE_SIZE[t] for t in self.joint_types))

    def pose_offsets(self) -> np.ndarray:
        """Start of each joint's entries in the pose vector (root: 0 = pos(3) + quat(4))."""
        sizes = np.array([POSE_SIZE[t] for t in self.joint_types])
        return np.concatenate([[0], np.cumsum(sizes)[:-1]])

    def joints_of_type(self, jtype) -> np.ndarray:
        return np.flatnonzero(self.joint_types == jtype)

    @property
    def actuated(self) -> np.ndarray:
        """Joints driven by PD control, in ID order (ball and hinge joints)."""
        return np.flatnonzero((self.joint_types == SPHERICAL) | (self.joint_types == REVOLUTE))

    def index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(
                f"character '{self.name}' has no joint/body '{name}' (has: {', '.join(self.joint_names)})"
            ) from None

    def fall_contact_for_clip(self, clip_stem: str) -> np.ndarray:
        """Fall-contact mask with the clip's exception applied (e.g. cartwheel allows hands)."""
        override = self.clip_overrides.get(clip_stem, {}).get("fall_contact_bodies")
        if override is None:
            return self.fall_contact.copy()
        mask = np.zeros(self.num_joints, dtype=bool)
        mask[[self.index(n) for n in override]] = True
        return mask


def _vec(text, default="0 0 0"):
    return np.array([float(x) for x in (text or default).split()])


def character_paths(character) -> tuple[Path, Path]:
    """(urdf, yaml) for a character name in characters/ or a path to its YAML
    (mimic.paths.resolve_character)."""
    meta = resolve_character(character)
    p = Path(character)
    with open(meta) as f:
        urdf_name = (yaml.safe_load(f) or {}).get("urdf", p.stem + ".urdf")
    return meta.parent / urdf_name, meta


def load_character(character="humanoid") -> Character:
    """Read a character from characters/<name>.urdf + .yaml (or a YAML path)."""
    urdf_path, meta_path = character_paths(character)
    with open(meta_path) as f:
        meta = yaml.safe_load(f)
    meta_joints = meta.get("joints") or {}
    j = _read_joints(ET.parse(urdf_path).getroot(), meta_joints, urdf_path, meta_path)
    names = j["names"]
    unknown = set(meta_joints) - set(names)
    if unknown:
        raise ValueError(f"{meta_path}: joints {sorted(unknown)} are not in {urdf_path}")
    if not j["types"] or j["types"][0] != ROOT:
        raise ValueError(f"{urdf_path}: the first joint must join base to the root")

    def per_joint(key, default=0.0):
        return np.array([float((meta_joints.get(n) or {}).get(key, default)) for n in names])

    dw = per_joint("diff_weight")
    if dw.sum() <= 0:
        raise ValueError(f"{meta_path}: diff_weight must be positive somewhere")

    def index_list(key, lst):
        out = []
        for n in lst:
            if n not in names:
                raise ValueError(f"{meta_path}: {key} names unknown body '{n}'")
            out.append(names.index(n))
        return np.array(out, dtype=int)

    ee = index_list("end_effectors", meta.get("end_effectors", []))
    feet = index_list("feet", meta.get("feet", []))
    fall = np.zeros(len(names), dtype=bool)
    fall[index_list("fall_contact_bodies", meta.get("fall_contact_bodies", []))] = True
    clips = meta.get("clips") or {}
    for stem, ov in clips.items():
        index_list(f"clips.{stem}.fall_contact_bodies", (ov or {}).get("fall_contact_bodies") or [])

    shapes = j["shapes"]
    return Character(
        name=meta_path.stem,
        urdf_path=urdf_path,
        joint_names=names,
        joint_types=np.array(j["types"]),
        parents=np.array(j["parents"]),
        attach=np.array(j["attach"]),
        com_offset=np.array(j["com"]),
        masses=np.array(j["masses"]),
        torque_limits=np.array(j["tlim"]),
        kp=per_joint("kp"),
        kd=per_joint("kd"),
        diff_weights=dw / dw.sum(),
        joint_limits=j["limits"],
        end_effectors=ee,
        fall_contact=fall,
        feet=feet,
        clip_overrides=clips,
        spawn_height=float(meta.get("spawn_height", 1.0)),
        shape_link=np.array([s[0] for s in shapes], dtype=int),
        shape_origin=np.array([s[1] for s in shapes]).reshape(-1, 3),
        shape_rot=np.array([s[2] for s in shapes]).reshape(-1, 3, 3),
        shape_radius=np.array([s[3] for s in shapes]),
        shape_half=np.array([s[4] for s in shapes]).reshape(-1, 3),
    )


def _read_joints(tree, meta_joints: dict, urdf_path, meta_path) -> dict:
    """The URDF's joints, parent-first, as per-joint lists: names, types, parents, attach, com,
    masses, tlim (torque limits), limits; and the collision shapes of every link."""
    links = {l.get("name"): l for l in tree.findall("link")}
    out = {k: [] for k in ("names", "types", "parents", "attach", "com", "masses", "tlim", "limits", "shapes")}
    names = out["names"]
    for j in tree.findall("joint"):
        name, jt = j.get("name"), j.get("type")
        parent_link = j.find("parent").get("link")
        child = j.find("child").get("link")
        if child != name:
            raise ValueError(f"{urdf_path}: joint {name} must be named after its child link ({child})")
        if parent_link == "base":
            jtype, parent = ROOT, -1
        else:
            jtype = {"spherical": SPHERICAL, "revolute": REVOLUTE, "continuous": REVOLUTE, "fixed": FIXED}.get(jt)
            if jtype is None:
                raise ValueError(f"{urdf_path}: joint {name} has unsupported type {jt}")
            if parent_link not in names:
                raise ValueError(
                    f"{urdf_path}: joint {name} comes before its parent {parent_link}; list joints parent-first"
                )
            parent = names.index(parent_link)
        origin = j.find("origin")
        names.append(name)
        out["types"].append(jtype)
        out["parents"].append(parent)
        out["attach"].append(_vec(origin.get("xyz") if origin is not None else None))
        inertial = links[name].find("inertial")
        out["com"].append(_vec(inertial.find("origin").get("xyz")))
        out["masses"].append(float(inertial.find("mass").get("value")))
        for col in links[name].findall("collision"):
            out["shapes"].append(_collision_shape(len(names) - 1, col, urdf_path, name))
        lim = j.find("limit")
        out["tlim"].append(float(lim.get("effort", 0)) if lim is not None else 0.0)
        out["limits"].append(_joint_limit(jtype, lim, meta_joints.get(name, {}) or {}, meta_path, name))
    return out


def _joint_limit(jtype, lim, mj: dict, meta_path, name):
    """A hinge's (lower, upper) from the URDF; a ball joint's 3 x [low, high] from the YAML."""
    if jtype == REVOLUTE:
        return (float(lim.get("lower", -np.pi)), float(lim.get("upper", np.pi))) if lim is not None else None
    if jtype == SPHERICAL and "limits" in mj:
        arr = np.array(mj["limits"], dtype=float)
        if arr.shape != (3, 2):
            raise ValueError(f"{meta_path}: joints.{name}.limits must be 3 [low, high] pairs")
        return arr[:, 0], arr[:, 1]
    return None


def _collision_shape(link, col, urdf_path, name):
    from scipy.spatial.transform import Rotation

    origin = col.find("origin")
    xyz = _vec(origin.get("xyz") if origin is not None else None)
    rpy = _vec(origin.get("rpy") if origin is not None else None)
    rot = Rotation.from_euler("xyz", rpy).as_matrix()
    g = col.find("geometry")
    if g.find("sphere") is not None:
        return link, xyz, rot, float(g.find("sphere").get("radius")), np.zeros(3)
    if g.find("capsule") is not None:
        c = g.find("capsule")
        return (link, xyz, rot, float(c.get("radius")), np.array([0.0, 0.0, 0.5 * float(c.get("length"))]))
    if g.find("box") is not None:
        return link, xyz, rot, 0.0, 0.5 * _vec(g.find("box").get("size"))
    if g.find("cylinder") is not None:  # bounded like a box of radius x radius x length
        c = g.find("cylinder")
        r = float(c.get("radius"))
        return link, xyz, rot, 0.0, np.array([r, r, 0.5 * float(c.get("length"))])
    raise ValueError(
        f"{urdf_path}: link {name} has a collision geometry mimic cannot bound (use sphere, capsule, box or cylinder)"
    )
