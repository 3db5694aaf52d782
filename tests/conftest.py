"""Shared fixtures for the kinematics / environment tests (issue #2).

Expectations in these tests are derived independently of mimic's own maths: scipy's Rotation and
Slerp, finite differences, pybullet itself, the raw clip JSON and the published figures of
../shared/docs/deepmimic-spec.md. DeepMimic's own files in ../shared/reference/deepmimic are read
in place (never copied); tests that need them skip when that folder is absent.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

REPO = Path(__file__).resolve().parent.parent
MOTIONS = REPO / "motions"
DM_REF = REPO.parent / "shared" / "reference" / "deepmimic"

HUMANOID_CLIPS = sorted(p.stem for p in MOTIONS.glob("humanoid3d_*.txt"))
DOG_CLIPS = ("dog3d_canter", "dog3d_pace", "dog3d_trot")


def dm_ref(*parts) -> Path:
    """A file of DeepMimic's reference data; skips the calling test when it is not there."""
    p = DM_REF.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"DeepMimic reference data not available ({p})")
    return p


def raw_frames(stem: str, folder: Path = MOTIONS):
    """(loop string, frames [N, W] float array) straight from a clip's JSON."""
    data = json.loads((folder / f"{stem}.txt").read_text())
    return data["Loop"], np.array(data["Frames"], dtype=np.float64)


@pytest.fixture(scope="session")
def humanoid():
    from mimic.kinematics.character import load_character

    return load_character("humanoid")


@pytest.fixture(scope="session")
def dog():
    from mimic.kinematics.character import load_character

    return load_character("dog")


@pytest.fixture(scope="session")
def clips(humanoid):
    """Lazily loaded humanoid clips by stem: clips('humanoid3d_walk')."""
    from mimic.kinematics.clip import load_clip

    cache = {}

    def get(stem):
        if stem not in cache:
            cache[stem] = load_clip(MOTIONS / f"{stem}.txt", humanoid)
        return cache[stem]

    return get


def quat_err(a, b) -> float:
    """Largest rotation angle (rad) between corresponding quaternions of a and b (xyzw, [..., 4]),
    sign-invariant and accurate near zero (4 atan2(|a - b|, |a + b|) on the nearer sign)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    b = np.where(np.sum(a * b, axis=-1, keepdims=True) < 0, -b, b)
    ang = 4.0 * np.arctan2(np.linalg.norm(a - b, axis=-1), np.linalg.norm(a + b, axis=-1))
    return float(ang.max())


def ref_action(env, t):
    """The action whose PD targets are the clip's pose at time t: per ball joint
    [angle, axis x, y, z] of the local rotation (scipy rotvec), per hinge its angle."""
    from mimic.kinematics.character import SPHERICAL

    u = env.unwrapped
    ch = u.character
    _, rot = u.clip.pose_at(t)
    hinge = u.clip.hinge_angles_at(t)
    a = []
    for j in ch.actuated:
        if ch.joint_types[j] == SPHERICAL:
            rv = Rotation.from_quat(rot[j]).as_rotvec()
            ang = float(np.linalg.norm(rv))
            a += [ang] + (list(rv / ang) if ang > 1e-9 else [0.0, 0.0, 1.0])
        else:
            a.append(hinge[j])
    return np.array(a, dtype=np.float32)


def pybullet_file(*parts) -> Path:
    """A file shipped in the pybullet wheel (pybullet_data / pybullet_envs), located without
    importing it; skips the calling test when it is not installed."""
    import importlib.util

    spec = importlib.util.find_spec(parts[0])
    if spec is None or not spec.submodule_search_locations:
        pytest.skip(f"{parts[0]} not installed")
    p = Path(list(spec.submodule_search_locations)[0]).joinpath(*parts[1:])
    if not p.exists():
        pytest.skip(f"{p} not found")
    return p


def exact_lowest(urdf_path, link_pos, link_rot):
    """Lowest y of the URDF's collision shapes (parsed here) for link frames from pybullet."""
    tree = ET.parse(urdf_path).getroot()
    names = [j.find("child").get("link") for j in tree.findall("joint")]
    low = np.inf
    for link in tree.findall("link"):
        if link.get("name") not in names:
            continue
        k = names.index(link.get("name"))
        Rl = Rotation.from_quat(link_rot[k])
        for col in link.findall("collision"):
            o = col.find("origin")
            xyz = np.array([float(v) for v in o.get("xyz", "0 0 0").split()])
            rpy = np.array([float(v) for v in o.get("rpy", "0 0 0").split()])
            Rs = Rl * Rotation.from_euler("xyz", rpy)
            c = link_pos[k] + Rl.apply(xyz)
            g = col.find("geometry")[0]
            if g.tag == "sphere":
                ext = float(g.get("radius"))
            elif g.tag == "capsule":
                axis = Rs.apply([0.0, 0.0, 1.0])
                ext = float(g.get("radius")) + 0.5 * float(g.get("length")) * abs(axis[1])
            else:
                half = 0.5 * np.array([float(v) for v in g.get("size").split()])
                ext = np.abs(Rs.as_matrix()[1]) @ half
            low = min(low, c[1] - ext)
    return low
