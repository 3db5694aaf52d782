"""Motion clips in DeepMimic's format: loading, validation, evaluation at any time, and writing.

File format (JSON, usually with a ``.txt`` extension)::

    {"Loop": "wrap" | "none", "Frames": [[dt, root_pos(3), root_rot(w,x,y,z), joints...], ...]}

Joints follow the character's ID order: a ball joint is a local quaternion (w, x, y, z), a hinge
one angle, a fixed joint nothing. Units are metres and radians; the world is y-up.

Semantics follow DeepMimic's C++ (cMotion, cKinTree), not the pybullet port:

* frame f lasts dt_f; the clip length T is the sum of all but the last dt; per-frame dt may vary;
* on load, frame 0's root x, z is subtracted from every frame and quaternions are normalised;
* poses between frames: root position and hinges lerp, root and ball joints slerp;
* reference velocities are forward differences per frame (root: world frame; ball joints: the
  joint's own local frame, from q0^-1 q1) and are *lerped* between frames at run time;
* a looping clip adds, per completed cycle, the root drift of one cycle with its vertical part
  dropped; a non-looping clip holds its last pose with zero velocity past its end.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from mimic.kinematics import rotations as R
from mimic.kinematics.character import REVOLUTE, SPHERICAL, Character


class ClipError(ValueError):
    """A clip file that cannot be used; the message names the file, frame and column."""


# Bounds a usable clip keeps (finite but absurd values would overflow the reference tables or
# the physics): pose values (metres, radians, quaternion components) within +-MAX_ABS, per-frame
# dt (all but the last) in [MIN_DT, MAX_DT] seconds, a clip length up to MAX_DURATION seconds.
MAX_ABS = 1e4
MIN_DT, MAX_DT = 1e-4, 1.0
MAX_DURATION = 600.0


def column_names(character: Character) -> list[str]:
    """Names of a frame's columns, e.g. ['dt', 'root_pos.x', ..., 'chest.w', ...]."""
    cols = ["dt", "root_pos.x", "root_pos.y", "root_pos.z", "root_rot.w", "root_rot.x", "root_rot.y", "root_rot.z"]
    for name, jt in zip(character.joint_names, character.joint_types):
        if jt == SPHERICAL:
            cols += [f"{name}.w", f"{name}.x", f"{name}.y", f"{name}.z"]
        elif jt == REVOLUTE:
            cols.append(f"{name}.angle")
    return cols


@dataclass
class MotionClip:
    """A validated clip, in mimic's internal layout (quaternions x, y, z, w)."""

    name: str
    path: Path | None
    character: Character
    loop: bool
    dts: np.ndarray  # [N] dt of each frame (the last is unused)
    frame_times: np.ndarray  # [N] start time of each frame
    root_pos: np.ndarray  # [N, 3] world, frame-0 x/z removed
    local_rot: np.ndarray  # [N, J, 4] root: world rotation; ball: local; hinge: about z; fixed: 1
    hinge_angle: np.ndarray  # [N, J] hinge angles (0 elsewhere)
    root_lin_vel: np.ndarray  # [N, 3] forward differences (world)
    local_ang_vel: np.ndarray  # [N, J, 3] root: world; ball: local (q0^-1 q1); hinge: (0, 0, w)

    @property
    def num_frames(self) -> int:
        return len(self.dts)

    @property
    def duration(self) -> float:
        return float(self.frame_times[-1])

    @property
    def cycle_delta(self) -> np.ndarray:
        """Root drift over one cycle with the vertical part dropped (C++ CalcCycleRootDelta)."""
        d = self.root_pos[-1] - self.root_pos[0]
        d[1] = 0.0
        return d

    # ------------------------------------------------------------------ time -> frame, blend
    def cycles(self, t):
        """Completed cycles at time t (0 for non-looping clips)."""
        t = np.asarray(t, dtype=np.float64)
        if not self.loop:
            return np.zeros_like(t)
        return np.floor(t / self.duration)

    def phase(self, t):
        t = np.asarray(t, dtype=np.float64)
        if self.loop:
            return np.mod(t / self.duration, 1.0)
        return np.clip(t / self.duration, 0.0, 1.0)

    def index_blend(self, t):
        """(frame index i, blend b in [0, 1]) with the pose between frames i and i+1."""
        t = np.asarray(t, dtype=np.float64)
        T = self.duration
        tc = t - self.cycles(t) * T if self.loop else np.clip(t, 0.0, T)
        i = np.searchsorted(self.frame_times, tc, side="right") - 1
        i = np.clip(i, 0, self.num_frames - 2)
        b = np.clip((tc - self.frame_times[i]) / self.dts[i], 0.0, 1.0)
        return i, b

    # ------------------------------------------------------------------ evaluation
    def pose_at(self, t):
        """(root_pos [..., 3], local_rot [..., J, 4]) at time(s) t, root drift included."""
        i, b = self.index_blend(t)
        root = (1 - b)[..., None] * self.root_pos[i] + b[..., None] * self.root_pos[i + 1]
        root = root + np.asarray(self.cycles(t))[..., None] * self.cycle_delta
        rot = R.quat_slerp(self.local_rot[i], self.local_rot[i + 1], np.asarray(b)[..., None])
        # hinges interpolate their angle (not the shortest arc), as DeepMimic's LerpPoses does
        ang = (1 - b)[..., None] * self.hinge_angle[i] + b[..., None] * self.hinge_angle[i + 1]
        hinge = self.character.joint_types == REVOLUTE
        if hinge.any():
            rot[..., hinge, :] = _hinge_quat(ang[..., hinge])
        return root, rot

    def hinge_angles_at(self, t):
        i, b = self.index_blend(t)
        return (1 - b)[..., None] * self.hinge_angle[i] + b[..., None] * self.hinge_angle[i + 1]

    def velocity_at(self, t):
        """(root_lin_vel [..., 3], local_ang_vel [..., J, 3]): lerp of the per-frame rows."""
        t = np.asarray(t, dtype=np.float64)
        i, b = self.index_blend(t)
        lin = (1 - b)[..., None] * self.root_lin_vel[i] + b[..., None] * self.root_lin_vel[i + 1]
        ang = (1 - b)[..., None, None] * self.local_ang_vel[i] + b[..., None, None] * self.local_ang_vel[i + 1]
        if not self.loop:
            past = t >= self.duration
            lin = np.where(past[..., None], 0.0, lin)
            ang = np.where(past[..., None, None], 0.0, ang)
        return lin, ang

    # ------------------------------------------------------------------ output
    def to_frames(self) -> list[list[float]]:
        """Frames in DeepMimic's layout (w, x, y, z quaternions)."""
        return pose_frames(self.character, self.dts, self.root_pos, self.local_rot, self.hinge_angle)

    def save(self, path):
        write_clip(path, self.to_frames(), self.loop)


def pose_frames(character: Character, dts, root_pos, local_rot, hinge_angle=None) -> list:
    """Frames in DeepMimic's layout from mimic's arrays: dts [N] (or one dt for all), root_pos
    [N, 3], local_rot [N, J, 4] (xyzw; the root's world rotation, ball joints' local ones) and
    hinge angles [N, J] (only the hinge columns are read; default: the angles of the hinges'
    rotations about z in local_rot)."""
    n = len(root_pos)
    dts = np.broadcast_to(np.asarray(dts, np.float64), (n,))
    cols = [dts[:, None], np.asarray(root_pos, np.float64), R.xyzw_to_wxyz(local_rot[:, 0])]
    for j, jt in enumerate(character.joint_types):
        if jt == SPHERICAL:
            cols.append(R.xyzw_to_wxyz(local_rot[:, j]))
        elif jt == REVOLUTE:
            if hinge_angle is None:
                q = local_rot[:, j]
                cols.append((2.0 * np.arctan2(q[:, 2], q[:, 3]))[:, None])
            else:
                cols.append(np.asarray(hinge_angle, np.float64)[:, j : j + 1])
    return np.concatenate(cols, axis=1).tolist()


def write_clip(path, frames, loop: bool):
    """Write frames (DeepMimic layout) as a DeepMimic clip file, one frame per line."""
    lines = ["{", f'"Loop": "{"wrap" if loop else "none"}",', '"Frames":', "["]
    rows = ["[" + ", ".join("%.10f" % v for v in fr) + "]" for fr in frames]
    lines.append(",\n".join(rows))
    lines += ["]", "}"]
    Path(path).write_text("\n".join(lines) + "\n")


def _check_bounds(arr: np.ndarray, cols: list[str], where: str) -> None:
    """Pose magnitudes, per-frame dt and the clip length within the module's bounds."""
    big = np.abs(arr[:, 1:]) > MAX_ABS
    if big.any():
        f, c = np.argwhere(big)[0]
        raise ClipError(
            f"{where}: frame {f}, column {c + 1} ({cols[c + 1]}) is {arr[f, c + 1]:g}, "
            f"beyond +-{MAX_ABS:g} (metres / radians)"
        )
    dts = arr[:-1, 0]
    nonpos = np.flatnonzero(dts <= 0)
    if len(nonpos):
        f = nonpos[0]
        raise ClipError(f"{where}: frame {f}, column 0 (dt) must be positive, got {dts[f]}")
    out = np.flatnonzero((dts < MIN_DT) | (dts > MAX_DT))
    if len(out):
        f = out[0]
        raise ClipError(f"{where}: frame {f}, column 0 (dt) is {dts[f]:g} s, outside [{MIN_DT:g}, {MAX_DT:g}] s")
    if dts.sum() > MAX_DURATION:
        raise ClipError(f"{where}: {dts.sum():g} s long, more than {MAX_DURATION:g} s")


def _hinge_quat(angle):
    half = 0.5 * np.asarray(angle)
    z = np.zeros_like(half)
    return np.stack([z, z, np.sin(half), np.cos(half)], axis=-1)


def load_clip(path, character: Character, name: str | None = None) -> MotionClip:
    """Read and validate a DeepMimic clip for ``character``; errors name file, frame and column."""
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ClipError(f"{path}: no such clip file") from None
    except IsADirectoryError:
        raise ClipError(f"{path}: a folder, not a clip file") from None
    except UnicodeDecodeError:
        raise ClipError(f"{path}: not a text file (a DeepMimic clip is JSON text)") from None
    except OSError as e:
        raise ClipError(f"{path}: cannot be read ({e.strerror or e})") from None
    except json.JSONDecodeError as e:
        raise ClipError(f"{path}: not valid JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    return clip_from_dict(data, character, name=name or path.stem, path=path)


def clip_from_dict(data, character: Character, name="clip", path=None) -> MotionClip:
    """A MotionClip from a DeepMimic clip's JSON contents ``{"Loop": ..., "Frames": [...]}``."""
    arr, loop = _checked_frames(data, character, str(path) if path is not None else name)
    dts = arr[:, 0].copy()
    root_pos = arr[:, 1:4].copy()
    root_pos[:, [0, 2]] -= root_pos[0, [0, 2]]
    local_rot, hinge = _frame_rotations(arr, character, character.pose_offsets() + 1)  # +1: dt
    frame_times = np.concatenate([[0.0], np.cumsum(dts[:-1])])
    # forward differences f -> f+1 (cKinTree::CalcVel); the last row copies the one before
    dt = dts[:-1, None]
    lin = (root_pos[1:] - root_pos[:-1]) / dt
    ang = rotation_steps(character, local_rot[:-1], local_rot[1:], hinge[:-1], hinge[1:]) / dt[..., None]
    lin = np.concatenate([lin, lin[-1:]])
    ang = np.concatenate([ang, ang[-1:]])
    return MotionClip(
        name=name,
        path=Path(path) if path is not None else None,
        character=character,
        loop=loop,
        dts=dts,
        frame_times=frame_times,
        root_pos=root_pos,
        local_rot=local_rot,
        hinge_angle=hinge,
        root_lin_vel=lin,
        local_ang_vel=ang,
    )


def rotation_steps(character: Character, rot0, rot1, hinge0, hinge1) -> np.ndarray:
    """[..., J, 3]: each joint's rotation from pose 0 to pose 1 as a rotation vector (root: world
    frame, q1 q0^-1; ball joints: local, q0^-1 q1; hinges: (0, 0, angle1 - angle0); fixed: 0),
    for rotations [..., J, 4] (xyzw) and hinge angles [..., J]."""
    steps = np.zeros(np.shape(rot0)[:-1] + (3,))
    steps[..., 0, :] = R.quat_to_rotvec(R.quat_mul(rot1[..., 0, :], R.quat_conj(rot0[..., 0, :])))
    ball = character.joint_types == SPHERICAL
    steps[..., ball, :] = R.quat_to_rotvec(R.quat_mul(R.quat_conj(rot0[..., ball, :]), rot1[..., ball, :]))
    hinge = character.joint_types == REVOLUTE
    steps[..., hinge, 2] = hinge1[..., hinge] - hinge0[..., hinge]
    return steps


def _checked_frames(data, character: Character, where: str) -> tuple[np.ndarray, bool]:
    """The clip's frames as an array [frames, 1 + pose], and whether it loops; every way the
    file can be wrong is a ClipError naming the frame, column and value."""
    if not isinstance(data, dict) or "Frames" not in data:
        raise ClipError(
            f'{where}: missing key \'Frames\' (a DeepMimic clip is {{"Loop": ..., "Frames": [[dt, pose...], ...]}})'
        )
    loop_s = data.get("Loop", "wrap")
    if loop_s not in ("wrap", "none"):
        raise ClipError(f'{where}: key \'Loop\' must be "wrap" or "none", not {loop_s!r}')
    frames = data["Frames"]
    if not isinstance(frames, list) or len(frames) < 2:
        raise ClipError(f"{where}: key 'Frames' must be a list of at least 2 frames")
    cols = column_names(character)
    width = len(cols)
    for f, fr in enumerate(frames):
        if not isinstance(fr, list):
            raise ClipError(f"{where}: frame {f} is not a list of numbers")
        if len(fr) != width:
            raise ClipError(
                f"{where}: frame {f} has {len(fr)} values, but character "
                f"'{character.name}' needs {width} (dt + {width - 1} pose values: "
                f"{', '.join(cols[:8])}, ...); is this a clip for another character?"
            )
        for c, v in enumerate(fr):
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise ClipError(f"{where}: frame {f}, column {c} ({cols[c]}) is not a number: {v!r}")
    arr = np.array(frames, dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        f, c = np.argwhere(bad)[0]
        raise ClipError(f"{where}: frame {f}, column {c} ({cols[c]}) is not finite ({arr[f, c]})")
    _check_bounds(arr, cols, where)
    # quaternion blocks: root (cols 4..7) and every ball joint
    offsets = character.pose_offsets() + 1  # +1 for dt
    qblocks = [(4, "root_rot")] + [(offsets[j], character.joint_names[j]) for j in character.joints_of_type(SPHERICAL)]
    for start, qname in qblocks:
        norms = np.linalg.norm(arr[:, start : start + 4], axis=1)
        zero = np.flatnonzero(norms < 1e-8)
        if len(zero):
            raise ClipError(f"{where}: frame {zero[0]}, columns {start}-{start + 3} ({qname} quaternion) is zero")
    return arr, loop_s == "wrap"


def _frame_rotations(arr: np.ndarray, character: Character, offsets) -> tuple[np.ndarray, np.ndarray]:
    """(local rotations [n, J, 4] xyzw, hinge angles [n, J]) of the frames, consecutive
    quaternions kept on the same hemisphere."""
    J = character.num_joints
    n = len(arr)
    local_rot = np.zeros((n, J, 4))
    local_rot[..., 3] = 1.0
    hinge = np.zeros((n, J))
    local_rot[:, 0] = R.quat_normalize(R.wxyz_to_xyzw(arr[:, 4:8]))
    for j, jt in enumerate(character.joint_types):
        o = offsets[j]
        if jt == SPHERICAL:
            local_rot[:, j] = R.quat_normalize(R.wxyz_to_xyzw(arr[:, o : o + 4]))
        elif jt == REVOLUTE:
            hinge[:, j] = arr[:, o]
            local_rot[:, j] = _hinge_quat(arr[:, o])
    # keep consecutive quaternions on the same hemisphere (no effect on rotations; makes blends
    # and differences take the short way)
    for f in range(1, n):
        flip = np.sum(local_rot[f] * local_rot[f - 1], axis=-1) < 0
        local_rot[f, flip] *= -1
    return local_rot, hinge
