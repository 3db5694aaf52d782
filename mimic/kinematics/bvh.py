"""BVH motion capture files: reading (any channel order, end sites, position channels on any
joint), local rotations and rest pose, unit detection, and writing.

A BVH file is a HIERARCHY of joints (``ROOT`` / ``JOINT`` with an ``OFFSET`` from the parent and
``CHANNELS``, leaves closed by ``End Site`` offsets) followed by ``MOTION``: ``Frames: N``,
``Frame Time: dt`` and N lines of channel values. Rotation channels are Euler angles in degrees,
applied in the order listed (``Zrotation Xrotation Yrotation`` is R = Rz Rx Ry, intrinsic), so a
joint's local transform is translate(offset + position channels) * R. All channels at zero is the
skeleton's rest pose, with every joint frame aligned with the world.

The motion section is parsed in chunks by numpy's C number parser (``np.fromstring``): a
line-by-line Python parse costs ~30x more on a 10-minute capture. Only when a chunk does not hold
the numbers it should is it re-read line by line, to name the bad line. Every error is a
:class:`BVHError` whose message starts ``<file>:<line>:``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mimic.kinematics.rotations import quat_from_euler

ROTATION_CHANNELS = ("Xrotation", "Yrotation", "Zrotation")
POSITION_CHANNELS = ("Xposition", "Yposition", "Zposition")
CHANNELS = ROTATION_CHANNELS + POSITION_CHANNELS
# metres per unit, for the units BVH files are written in
UNITS = {"m": 1.0, "cm": 0.01, "inch": 0.0254, "mm": 0.001}
END_SUFFIX = "_End"  # an End Site is named after its joint: 'LeftFoot_End'
CHUNK_FRAMES = 2000  # frames per parse chunk (and progress-bar step)


class BVHError(ValueError):
    """A BVH file that cannot be read; the message names the file and line."""


@dataclass
class BVH:
    """A parsed BVH file. Joints are in file order (parents first)."""

    path: Path | None
    names: list  # [J] joint names as in the file
    parents: np.ndarray  # [J] parent index, -1 for the root
    offsets: np.ndarray  # [J, 3] offset from the parent, file units
    channels: list  # [J] list of channel names of each joint
    end_sites: list  # (joint index, offset [3]) of every End Site
    frame_time: float
    motion: np.ndarray  # [F, C] channel values, in file order
    channel_start: np.ndarray = field(default=None)  # [J] first column of each joint

    def __post_init__(self):
        if self.channel_start is None:
            sizes = [len(c) for c in self.channels]
            self.channel_start = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(int)

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def frame_rate(self) -> float:
        return 1.0 / self.frame_time

    def index(self, name: str) -> int:
        return self.names.index(name)

    def children(self, j: int) -> list:
        return [c for c, p in enumerate(self.parents) if p == j]

    def with_ancestors(self, joints) -> list:
        """The given joint indices and all their ancestors, sorted (parents first)."""
        out = set()
        for j in joints:
            while j >= 0 and j not in out:
                out.add(j)
                j = self.parents[j]
        return sorted(out)

    def end_site_names(self) -> list:
        return [self.names[j] + END_SUFFIX for j, _ in self.end_sites]

    # ---------------------------------------------------------------------- rest pose
    def rest_positions(self) -> dict:
        """World position (file units) of every joint and end site in the rest pose, by name
        (end sites as ``<joint>_End``), root at its offset."""
        pos = np.zeros((self.num_joints, 3))
        for j, p in enumerate(self.parents):
            pos[j] = self.offsets[j] + (pos[p] if p >= 0 else 0.0)
        out = {n: pos[j] for j, n in enumerate(self.names)}
        for (j, off), name in zip(self.end_sites, self.end_site_names()):
            out.setdefault(name, pos[j] + off)
        return out

    def height(self, up: int = 1) -> float:
        """Extent of the rest skeleton along axis ``up`` (file units)."""
        h = np.array([p[up] for p in self.rest_positions().values()])
        return float(h.max() - h.min())

    # ---------------------------------------------------------------------- motion
    def local_rotations(self, frames=slice(None), joints=None) -> np.ndarray:
        """[F, J, 4] local joint rotations (xyzw) of the frames, from the rotation channels
        (only for ``joints`` if given: the others stay at the identity).

        Joints with the same channel order are converted together (one call each)."""
        data = self.motion[frames]
        out = np.zeros((data.shape[0], self.num_joints, 4))
        out[..., 3] = 1.0
        groups = {}
        for j in range(self.num_joints) if joints is None else joints:
            chans = self.channels[j]
            rot = [(k, c) for k, c in enumerate(chans) if c in ROTATION_CHANNELS]
            if rot:
                order = "".join(c[0] for _, c in rot)
                cols = [self.channel_start[j] + k for k, _ in rot]
                groups.setdefault(order, []).append((j, cols))
        for order, members in groups.items():
            joints = [j for j, _ in members]
            cols = np.array([c for _, c in members])  # [G, len(order)]
            angles = data[:, cols]  # [F, G, len(order)]
            out[:, joints] = quat_from_euler(np.radians(angles), order)
        return out

    def local_translations(self, frames=slice(None)) -> np.ndarray:
        """[F, J, 3] local translations (file units): offset plus any position channels."""
        data = self.motion[frames]
        out = np.broadcast_to(self.offsets, (data.shape[0],) + self.offsets.shape).copy()
        for j, chans in enumerate(self.channels):
            for k, c in enumerate(chans):
                if c in POSITION_CHANNELS:
                    out[:, j, POSITION_CHANNELS.index(c)] += data[:, self.channel_start[j] + k]
        return out


def detect_unit(height: float, expected: float = 1.6) -> str:
    """The unit (a key of UNITS) in which a skeleton ``height`` units tall is closest to
    ``expected`` metres (log scale): 1.7 -> m, 65 -> inch, 170 -> cm, 1700 -> mm."""
    return min(UNITS, key=lambda u: abs(np.log(max(height, 1e-9) * UNITS[u] / expected)))


# ============================================================================= reading
class _Lines:
    """Tokens of the hierarchy, line by line, with line numbers for errors."""

    def __init__(self, path, lines):
        self.path, self.lines, self.i = path, lines, 0

    def error(self, msg, line=None):
        return BVHError(f"{self.path}:{line or self.i}: {msg}")

    def next(self, what="more"):
        while self.i < len(self.lines):
            self.i += 1
            toks = self.lines[self.i - 1].split()
            if toks:
                return toks
        raise self.error(f"file ends early, expected {what}", len(self.lines))


def _floats(lines: _Lines, toks, n, what):
    try:
        vals = [float(t) for t in toks]
    except ValueError:
        raise lines.error(f"{what} must be numbers, got {' '.join(toks)!r}") from None
    if len(vals) != n:
        raise lines.error(f"{what} needs {n} numbers, got {len(vals)}")
    return vals


def _parse_hierarchy(lines: _Lines):
    toks = lines.next("HIERARCHY")
    if toks[0] != "HIERARCHY":
        raise lines.error(f"not a BVH file: expected 'HIERARCHY', got {toks[0]!r}")
    names, parents, offsets, channels, ends = [], [], [], [], []
    stack = []  # open joints; None for an open End Site
    toks = lines.next("ROOT")
    while True:
        key = toks[0]
        if key in ("ROOT", "JOINT"):
            if (key == "ROOT") != (not stack):
                raise lines.error(f"{key} {'outside' if key == 'JOINT' else 'inside'} the root")
            if len(toks) < 2:
                raise lines.error(f"{key} without a name")
            name = " ".join(toks[1:])
            if name in names:
                raise lines.error(f"joint {name!r} appears twice")
            parents.append(stack[-1] if stack else -1)
            names.append(name)
            if lines.next("{")[0] != "{":
                raise lines.error(f"expected '{{' after {key} {name}")
            toks = lines.next("OFFSET")
            if toks[0] != "OFFSET":
                raise lines.error(f"joint {name}: expected OFFSET, got {toks[0]!r}")
            offsets.append(_floats(lines, toks[1:], 3, "OFFSET"))
            toks = lines.next("CHANNELS")
            if toks[0] != "CHANNELS":
                raise lines.error(f"joint {name}: expected CHANNELS, got {toks[0]!r}")
            n = _floats(lines, toks[1:2], 1, "CHANNELS count")[0]
            chans = toks[2:]
            if len(chans) != n or any(c not in CHANNELS for c in chans):
                raise lines.error(
                    f"joint {name}: CHANNELS {' '.join(toks[1:])!r} is not a count "
                    f"followed by that many of {', '.join(CHANNELS)}"
                )
            channels.append(chans)
            stack.append(len(names) - 1)
        elif key == "End":
            if not stack or stack[-1] is None:
                raise lines.error("End Site outside a joint")
            if lines.next("{")[0] != "{":
                raise lines.error("expected '{' after End Site")
            toks = lines.next("OFFSET")
            if toks[0] != "OFFSET":
                raise lines.error(f"End Site: expected OFFSET, got {toks[0]!r}")
            ends.append((stack[-1], np.array(_floats(lines, toks[1:], 3, "OFFSET"))))
            stack.append(None)
        elif key == "}":
            if not stack:
                raise lines.error("unmatched '}'")
            stack.pop()
            if not stack:
                break
        else:
            raise lines.error(f"unexpected {key!r} in the hierarchy")
        toks = lines.next("'}'")
    return names, np.array(parents, dtype=int), np.array(offsets, dtype=float), channels, ends


def _parse_header(lines: _Lines):
    toks = lines.next("MOTION")
    if toks[0] != "MOTION":
        raise lines.error(f"expected 'MOTION' after the hierarchy, got {toks[0]!r}")
    toks = lines.next("Frames:")
    if toks[0] != "Frames:" or len(toks) != 2 or not toks[1].isdigit():
        raise lines.error(f"expected 'Frames: <count>', got {' '.join(toks)!r}")
    n = int(toks[1])
    toks = lines.next("Frame Time:")
    if toks[:2] != ["Frame", "Time:"] or len(toks) != 3:
        raise lines.error(f"expected 'Frame Time: <seconds>', got {' '.join(toks)!r}")
    dt = _floats(lines, toks[2:], 1, "Frame Time")[0]
    if not dt > 0:
        raise lines.error(f"Frame Time must be positive, got {dt}")
    return n, dt


def _parse_motion(path, text: str, first_line: int, frames: int, width: int, progress=None):
    """[frames, width] values of the motion lines ``text`` (starting at file line first_line)."""
    out = np.empty((frames, width))
    pos, done = 0, 0
    while done < frames:
        rows = min(CHUNK_FRAMES, frames - done)
        end = pos
        for _ in range(rows):  # a chunk ends at a line end
            nl = text.find("\n", end)
            end = len(text) if nl < 0 else nl + 1
        chunk = text[pos:end]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a malformed number: fewer values, found below
            try:
                vals = np.fromstring(chunk, sep=" ")
            except ValueError:
                vals = np.zeros(0)
        if vals.size != rows * width or chunk.count("\n") + (not chunk.endswith("\n")) < rows:
            _find_bad_line(path, chunk, first_line + text.count("\n", 0, pos), rows, width, done, frames)
        out[done : done + rows] = vals.reshape(rows, width)
        done += rows
        pos = end
        if progress is not None:
            progress(rows)
    if text[pos:].strip():
        line = first_line + text.count("\n", 0, pos)
        raise BVHError(f"{path}:{line}: more motion data than the {frames} frames announced")
    return out


def _find_bad_line(path, chunk, line0, rows, width, done, frames):
    lines = chunk.split("\n")
    for k in range(rows):
        line = line0 + k
        if k >= len(lines) or not lines[k].strip():
            raise BVHError(
                f"{path}:{line}: file ends (or a blank line) after {done + k} of {frames} frames: truncated motion data"
            )
        toks = lines[k].split()
        try:
            [float(t) for t in toks]
        except ValueError:
            bad = next(t for t in toks if not _is_number(t))
            raise BVHError(f"{path}:{line}: frame {done + k}: {bad!r} is not a number") from None
        if len(toks) != width:
            raise BVHError(
                f"{path}:{line}: frame {done + k} has {len(toks)} values, the hierarchy has {width} channels"
            )
    raise BVHError(f"{path}:{line0}: unreadable motion data")


def _is_number(t):
    try:
        float(t)
        return True
    except ValueError:
        return False


def read_bvh(path, progress=None) -> BVH:
    """Read a BVH file. ``progress``: optional callable(frames_done_now) for a progress bar."""
    path = Path(path)
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        raise BVHError(f"{path}: no such BVH file") from None
    # split off the head (hierarchy + motion header) without splitting the whole motion text
    k = text.find("MOTION")
    if k < 0:
        head_end = len(text)
    else:
        head_end = k
        for _ in range(3):  # MOTION, Frames:, Frame Time: lines
            nl = text.find("\n", head_end)
            head_end = len(text) if nl < 0 else nl + 1
    lines = _Lines(path, text[:head_end].split("\n"))
    names, parents, offsets, channels, ends = _parse_hierarchy(lines)
    frames, dt = _parse_header(lines)
    if frames < 1:
        raise BVHError(f"{path}:{lines.i}: no frames")
    width = sum(len(c) for c in channels)
    first_line = text.count("\n", 0, head_end) + 1
    motion = _parse_motion(path, text[head_end:], first_line, frames, width, progress)
    if not np.isfinite(motion).all():
        f = int(np.argwhere(~np.isfinite(motion))[0, 0])
        raise BVHError(f"{path}:{first_line + f}: frame {f} holds a non-finite value")
    return BVH(
        path=path,
        names=names,
        parents=parents,
        offsets=offsets,
        channels=channels,
        end_sites=ends,
        frame_time=dt,
        motion=motion,
    )


# ============================================================================= writing
def write_bvh(path, bvh: BVH, precision: int = 6):
    """Write ``bvh`` (its hierarchy, frame time and motion) as a BVH file."""
    out = ["HIERARCHY"]
    ends = {}
    for j, off in bvh.end_sites:
        ends.setdefault(j, []).append(off)
    num = f"%.{precision}f"

    def joint(j, depth):
        pad = "\t" * depth
        key = "ROOT" if bvh.parents[j] < 0 else "JOINT"
        out.append(f"{pad}{key} {bvh.names[j]}")
        out.append(f"{pad}{{")
        out.append(f"{pad}\tOFFSET " + " ".join(num % v for v in bvh.offsets[j]))
        out.append(f"{pad}\tCHANNELS {len(bvh.channels[j])} " + " ".join(bvh.channels[j]))
        for c in bvh.children(j):
            joint(c, depth + 1)
        for off in ends.get(j, []):
            out.extend(
                [f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET " + " ".join(num % v for v in off), f"{pad}\t}}"]
            )
        out.append(f"{pad}}}")

    joint(0, 0)
    out += ["MOTION", f"Frames: {bvh.num_frames}", f"Frame Time: {bvh.frame_time:.8f}"]
    # the file lists joints depth first: the motion columns follow that order
    order = [j for line in out if (j := _joint_of(line, bvh.names)) is not None]
    cols = np.concatenate([bvh.channel_start[j] + np.arange(len(bvh.channels[j])) for j in order]).astype(int)
    with open(path, "w") as f:
        f.write("\n".join(out) + "\n")
        np.savetxt(f, bvh.motion[:, cols], fmt=num, delimiter=" ")


def _joint_of(line: str, names: list):
    toks = line.split(None, 1)
    if len(toks) == 2 and toks[0] in ("ROOT", "JOINT"):
        return names.index(toks[1])
    return None
