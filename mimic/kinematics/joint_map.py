"""Joint maps: which joint of a BVH skeleton drives which joint of a mimic character.

A map is a YAML file (``characters/joint_maps/<character>_<convention>.yaml`` for the shipped
ones)::

    character: humanoid
    detect: [Spine2]            # optional: names that must exist for auto-detection to pick it
    joints:                     # character joint: source joint whose rotation it takes
      root: Hips
      right_knee: RightLeg
      ...
    ends:                       # optional: where the bone of a joint without a mapped child
      right_ankle: RightToeBase #   points in the source (a joint, or an End Site: <joint>_End)

Source names are matched without a namespace prefix (``mixamorig:Hips`` matches ``Hips``). Every
non-fixed character joint must be mapped; fixed ones (the humanoid's wrists) may be.
:func:`choose_joint_map` uses the map given, or the first shipped map of the character whose
names all exist in the file (maps with ``detect`` names first); when none fits, the
:class:`JointMapError` lists the file's joints and the character joints the closest map leaves
unmapped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mimic.kinematics.bvh import BVH
from mimic.kinematics.character import FIXED, Character
from mimic.paths import CHARACTERS_DIR

JOINT_MAPS_DIR = CHARACTERS_DIR / "joint_maps"


class JointMapError(ValueError):
    """A joint map that cannot be read or does not fit the skeleton (one-line message)."""


@dataclass
class JointMap:
    name: str
    path: Path | None
    character: str
    joints: dict  # character joint -> source joint name (without namespace)
    ends: dict  # character joint -> source joint or <joint>_End
    detect: list


@dataclass
class ResolvedMap:
    """A map applied to one file: source joint indices and the rest-pose names of the ends."""

    map: JointMap
    source: dict  # character joint index -> BVH joint index
    ends: dict  # character joint index -> key of BVH.rest_positions()


def bare(name: str) -> str:
    """A joint name without its namespace prefix: 'mixamorig:Hips' -> 'Hips'."""
    return name.rsplit(":", 1)[-1]


def load_joint_map(path) -> JointMap:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise JointMapError(f"{path}: no such joint map") from None
    except yaml.YAMLError as e:
        raise JointMapError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not isinstance(data.get("joints"), dict):
        raise JointMapError(f"{path}: a joint map needs a 'joints:' mapping of character joint -> source joint")
    for key in ("joints", "ends"):
        for k, v in (data.get(key) or {}).items():
            if not isinstance(v, str):
                raise JointMapError(f"{path}: {key}.{k} must be a joint name, not {v!r}")
    return JointMap(
        name=path.stem,
        path=path,
        character=str(data.get("character", "")),
        joints=dict(data["joints"]),
        ends=dict(data.get("ends") or {}),
        detect=list(data.get("detect") or []),
    )


def shipped_joint_maps(character: str) -> list:
    return [load_joint_map(p) for p in sorted(JOINT_MAPS_DIR.glob(f"{character}_*.yaml"))]


def resolve(jmap: JointMap, bvh: BVH, character: Character):
    """(ResolvedMap or None, list of problems) for ``jmap`` applied to ``bvh``."""
    names = {bare(n): j for j, n in enumerate(bvh.names)}
    rest = {bare(k): k for k in bvh.rest_positions()}
    problems, source, ends = [], {}, {}
    for cj, sj in jmap.joints.items():
        if cj not in character.joint_names:
            problems.append(f"'{cj}' is not a joint of the {character.name}")
        elif bare(sj) not in names:
            problems.append(f"{cj} ({sj} not in the file)")
        else:
            source[character.index(cj)] = names[bare(sj)]
    for j, jt in enumerate(character.joint_types):
        if jt != FIXED and character.joint_names[j] not in jmap.joints:
            problems.append(f"{character.joint_names[j]} (not in the map)")
    for cj, target in jmap.ends.items():
        if bare(target) not in rest:
            problems.append(f"{cj} end ({target} not in the file)")
        elif cj in character.joint_names:
            ends[character.index(cj)] = rest[bare(target)]
    missing_detect = [n for n in jmap.detect if n not in names]
    if problems or missing_detect:
        return None, problems + [f"{n} (needed to detect this convention)" for n in missing_detect]
    return ResolvedMap(jmap, source, ends), []


def choose_joint_map(bvh: BVH, character: Character, path=None) -> ResolvedMap:
    """The map of ``path``, or the shipped map that fits ``bvh``; JointMapError otherwise."""
    if path is not None:
        jmap = load_joint_map(path)
        resolved, problems = resolve(jmap, bvh, character)
        if resolved is None:
            raise JointMapError(f"{path} does not fit {bvh.path}: unmapped character joints: {', '.join(problems)}")
        return resolved
    maps = shipped_joint_maps(character.name)
    maps.sort(key=lambda m: -len(m.detect))
    tried = []
    for jmap in maps:
        resolved, problems = resolve(jmap, bvh, character)
        if resolved is not None:
            return resolved
        tried.append((len(problems), jmap.name, problems))
    if not tried:
        raise JointMapError(f"no joint maps for the {character.name} in {JOINT_MAPS_DIR}; pass --joint_map FILE")
    _, best, problems = min(tried)
    raise JointMapError(
        f"{bvh.path}: unknown skeleton (no joint map in {JOINT_MAPS_DIR} fits); pass "
        f"--joint_map FILE. Source joints: {', '.join(bvh.names)}. The {character.name} joints "
        f"still unmapped by the closest map ({best}): {', '.join(problems)}"
    )
